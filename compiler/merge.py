"""The merge: layers of requirements in, effective requirements with provenance out.

A pure function. Requirements are keyed by canonical distribution name; a later
layer's entry replaces an earlier one with the same key in place (keeping its
position), a new key is appended, and ``!NAME`` removes the key.

One layer may list a package more than once when every one of those entries
has a marker and the markers differ (``deepdoc-lib[gpu] ; has_cuda`` and
``deepdoc-lib ; not has_cuda``): they are kept together, and a later layer's
entry for that package replaces them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ModelenvError
from .requirements import Entry, EntryError, Kind, marker_of, parse_entry

__all__ = ["Layer", "Merged", "Provenance", "Requirement", "merge"]


@dataclass(frozen=True)
class Provenance:
    """Where an entry came from: a file (or "command line") and the layer in it."""

    source: str
    layer: str

    def __str__(self) -> str:
        return f"{self.source} [{self.layer}]" if self.layer else self.source


@dataclass(frozen=True)
class Layer:
    source: str
    layer: str
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    allow_remove: bool = False

    @property
    def provenance(self) -> Provenance:
        return Provenance(self.source, self.layer)


@dataclass(frozen=True)
class Requirement:
    """One effective requirement and how it got there."""

    entry: Entry
    origin: Provenance
    replaced: tuple[tuple[Entry, Provenance], ...] = ()

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def text(self) -> str:
        return self.entry.text


@dataclass(frozen=True)
class Merged:
    requirements: tuple[Requirement, ...]
    constraints: tuple[Requirement, ...]
    removed: tuple[tuple[Entry, Provenance], ...] = field(default=())
    unmatched: tuple[tuple[Entry, Provenance], ...] = field(default=())  # removed nothing


def merge(layers: Sequence[Layer]) -> Merged:
    """Merge ``layers``, first to last; raise :class:`ModelenvError` on a bad entry."""
    reqs: dict[str, list[Requirement]] = {}
    cons: dict[str, list[Requirement]] = {}
    removed: list[tuple[Entry, Provenance]] = []
    unmatched: list[tuple[Entry, Provenance]] = []
    for layer in layers:
        origin = layer.provenance  # one per layer, not one per entry
        for kind, items, table in (
            ("packages", layer.packages, reqs),
            ("constraints", layer.constraints, cons),
        ):
            set_here: set[str] = set()  # keys this layer has already set
            for i, text in enumerate(items):
                entry = _parse(text, layer, kind, i)
                if kind == "constraints" and entry.kind is Kind.SYSTEM:
                    raise ModelenvError(
                        f"{layer.provenance}: {kind}[{i}]: {text!r}: placeholders are"
                        " only allowed in packages"
                    )
                if entry.kind is Kind.REMOVE and entry.key not in table:
                    unmatched.append((entry, origin))
                _apply(table, entry, origin, removed, entry.key in set_here)
                set_here.add(entry.key)
    return Merged(_flat(reqs), _flat(cons), tuple(removed), tuple(unmatched))


def _flat(table: dict[str, list[Requirement]]) -> tuple[Requirement, ...]:
    return tuple(r for group in table.values() for r in group)


def _parse(text: str, layer: Layer, kind: str, index: int) -> Entry:
    try:
        return parse_entry(text, allow_remove=layer.allow_remove)
    except EntryError as exc:
        where = (
            f"{layer.provenance}: {kind}[{index}]"
            if layer.source != "command line"
            else ("command line: -p")
        )
        raise ModelenvError(f"{where}: {exc}") from None


def _apply(
    table: dict[str, list[Requirement]],
    entry: Entry,
    origin: Provenance,
    removed: list[tuple[Entry, Provenance]],
    same_layer: bool,
) -> None:
    group = table.get(entry.key)
    if entry.kind is Kind.REMOVE:
        if group is not None:
            del table[entry.key]
        removed.append((entry, origin))
        return
    if group is not None and same_layer and _marker_variant(entry, group):
        group.append(Requirement(entry, origin))
        return
    history: tuple[tuple[Entry, Provenance], ...] = ()
    if group is not None:
        history = (*group[0].replaced, *((r.entry, r.origin) for r in group))
    # Assigning to an existing key keeps its position in a dict: "in place".
    table[entry.key] = [Requirement(entry, origin, history)]


def _marker_variant(entry: Entry, group: list[Requirement]) -> bool:
    """True when ``entry`` and every entry of ``group`` have markers, all different."""
    marker = marker_of(entry)
    others = [marker_of(r.entry) for r in group]
    return marker is not None and None not in others and marker not in others
