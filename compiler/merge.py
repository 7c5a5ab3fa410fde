"""The merge: layers of requirements in, effective requirements with provenance out.

A pure function. Requirements are keyed by canonical distribution name; a later
layer's entry replaces an earlier one with the same key in place (keeping its
position), a new key is appended, and ``!NAME`` removes the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ModelenvError
from .requirements import Entry, EntryError, Kind, parse_entry

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
    reqs: dict[str, Requirement] = {}
    cons: dict[str, Requirement] = {}
    removed: list[tuple[Entry, Provenance]] = []
    unmatched: list[tuple[Entry, Provenance]] = []
    for layer in layers:
        for kind, items, table in (
            ("packages", layer.packages, reqs),
            ("constraints", layer.constraints, cons),
        ):
            for i, text in enumerate(items):
                entry = _parse(text, layer, kind, i)
                if kind == "constraints" and entry.kind is Kind.SYSTEM:
                    raise ModelenvError(
                        f"{layer.provenance}: {kind}[{i}]: {text!r}: placeholders are"
                        " only allowed in packages"
                    )
                if entry.kind is Kind.REMOVE and entry.key not in table:
                    unmatched.append((entry, layer.provenance))
                _apply(table, entry, layer.provenance, removed)
    return Merged(tuple(reqs.values()), tuple(cons.values()), tuple(removed), tuple(unmatched))


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
    table: dict[str, Requirement],
    entry: Entry,
    origin: Provenance,
    removed: list[tuple[Entry, Provenance]],
) -> None:
    previous = table.get(entry.key)
    if entry.kind is Kind.REMOVE:
        if previous is not None:
            del table[entry.key]
        removed.append((entry, origin))
        return
    history = () if previous is None else (*previous.replaced, (previous.entry, previous.origin))
    # Assigning to an existing key keeps its position in a dict: "in place".
    table[entry.key] = Requirement(entry, origin, history)
