"""Parsing one entry of a ``packages`` or ``constraints`` list.

An entry is a PEP 508 requirement, a ``#system_NAME#`` placeholder (optionally
followed by ``; marker``), or, in overrides and ``-p``, a ``!NAME`` removal.
Every entry has a key: the canonical distribution name it is about.

Markers may also test host facts (``has_cuda``, ``cuda_version >= "12.8"``,
see :mod:`.markers`): such an entry keeps its marker apart, and
:meth:`Entry.resolve` evaluates the facts for one host.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName

from . import markers
from .names import canonical

__all__ = ["Entry", "EntryError", "Kind", "marker_of", "parse_entry"]

_DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^#(?P<inner>[^#]*)#\s*(?:;(?P<marker>.*))?$")


class EntryError(ValueError):
    """An entry that is not a valid requirement, placeholder or removal."""


class Kind(str, Enum):
    REQUIREMENT = "requirement"
    SYSTEM = "system"
    REMOVE = "remove"


@dataclass(frozen=True)
class Entry:
    text: str
    kind: Kind
    key: NormalizedName
    name: str
    marker: str | None = None  # a placeholder's marker, or a marker with host facts
    requirement: str | None = None  # with host facts: the requirement without its marker

    @property
    def has_facts(self) -> bool:
        """True when the marker tests host facts, which uv cannot evaluate."""
        return self.marker is not None and markers.uses_facts(self.marker)

    def expand(self, host_version: str | None) -> str:
        """The requirement uv sees: a system entry pinned to ``host_version``."""
        if self.kind is not Kind.SYSTEM:
            return self.text
        req = self.name if host_version is None else f"{self.name}=={host_version}"
        return f"{req} ; {self.marker}" if self.marker else req

    def resolve(
        self, host_version: str | None, facts: Mapping[str, markers.FactValue]
    ) -> str | None:
        """The requirement uv sees on a host with ``facts``: host-fact tests
        evaluated, None when they exclude the entry there."""
        if not self.has_facts:
            return self.expand(host_version)
        assert self.marker is not None
        rest = markers.reduce(self.marker, facts)
        if rest is False:
            return None
        if self.kind is Kind.SYSTEM:
            base = self.name if host_version is None else f"{self.name}=={host_version}"
        else:
            base = self.requirement or self.name
        return base if rest is True else f"{base} ; {rest}"


def parse_entry(text: str, *, allow_remove: bool = False) -> Entry:
    """Parse one entry; raise :class:`EntryError` with a message fit for a user."""
    if not isinstance(text, str):
        raise EntryError(f"expected a string, got {type(text).__name__}")
    return _parse_entry(text, allow_remove)


# Validation, merging and the plan each ask for the same entry; an Entry is
# frozen, so one parse serves them all (lock --check loads every spec).
@functools.lru_cache(maxsize=16384)
def _parse_entry(text: str, allow_remove: bool) -> Entry:
    stripped = text.strip()
    if not stripped:
        raise EntryError("empty requirement")
    if stripped.startswith("!"):
        return _parse_removal(stripped, allow_remove)
    if stripped.startswith("#"):
        return _parse_placeholder(stripped)
    if "#engine#" in stripped or ("#" in stripped and "@" not in stripped):
        raise EntryError(
            f"invalid requirement {text!r}: '#' may only start a #system_NAME# placeholder;"
            " engine-specific entries belong in an [engines.NAME] table"
        )
    head, marker = _split_facts(stripped, text)
    try:
        req = Requirement(head)
    except InvalidRequirement as exc:
        raise EntryError(f"invalid requirement {text!r}: {_first_line(exc)}") from None
    if marker is not None:
        if req.marker is not None:
            raise EntryError(f"invalid requirement {text!r}: more than one ';'")
        return Entry(stripped, Kind.REQUIREMENT, canonical(req.name), req.name, marker, head)
    return Entry(stripped, Kind.REQUIREMENT, canonical(req.name), req.name)


def _split_facts(stripped: str, text: str) -> tuple[str, str | None]:
    """(the requirement, its marker) when the marker tests host facts, else
    (the entry, None): packaging parses those itself."""
    if not markers.uses_facts(stripped):
        return stripped, None
    # A URL requirement needs a space before its ';' (PEP 508).
    head, sep, marker = stripped.partition(" ;" if " @ " in stripped else ";")
    if not sep or not markers.uses_facts(marker):
        return stripped, None
    try:
        markers.validate(marker.strip())
    except markers.MarkerError as exc:
        raise EntryError(f"invalid requirement {text!r}: {exc}") from None
    return head.strip(), marker.strip()


def _parse_removal(text: str, allow_remove: bool) -> Entry:
    name = text[1:].strip()
    if not allow_remove:
        raise EntryError(
            f"{text!r} removes a package, which only overrides and -p may do;"
            " delete the entry instead"
        )
    if not _DIST_NAME.match(name):
        raise EntryError(f"invalid removal {text!r}: expected '!NAME' with a distribution name")
    return Entry(text, Kind.REMOVE, canonical(name), name)


def _parse_placeholder(text: str) -> Entry:
    match = _PLACEHOLDER.match(text)
    if match is None:
        raise EntryError(
            f"malformed placeholder {text!r}: expected '#system_NAME#',"
            " optionally followed by '; marker'"
        )
    inner = match.group("inner")
    if not inner.startswith("system_"):
        raise EntryError(
            f"unknown placeholder '#{inner}#': the only placeholder is #system_NAME#"
            " (pin NAME to the host's version)"
        )
    name = inner[len("system_") :]
    if not _DIST_NAME.match(name):
        raise EntryError(
            f"malformed placeholder '#{inner}#': {name!r} is not a valid distribution name"
        )
    marker_text = match.group("marker")
    marker: str | None = None
    if marker_text is not None and markers.uses_facts(marker_text):
        try:
            markers.validate(marker_text.strip())
        except markers.MarkerError as exc:
            raise EntryError(f"invalid marker in {text!r}: {exc}") from None
        marker = marker_text.strip()
    elif marker_text is not None:
        try:
            marker = str(Marker(marker_text.strip()))
        except InvalidMarker as exc:
            raise EntryError(f"invalid marker in {text!r}: {_first_line(exc)}") from None
    return Entry(text, Kind.SYSTEM, canonical(name), name, marker)


def _first_line(exc: Exception) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return msg[:1].lower() + msg[1:]


@functools.lru_cache(maxsize=16384)
def marker_of(entry: Entry) -> str | None:
    """The marker of ``entry`` (PEP 508, possibly with host facts), or None."""
    if entry.marker is not None or entry.kind is not Kind.REQUIREMENT:
        return entry.marker
    marker = Requirement(entry.text).marker
    return None if marker is None else str(marker)
