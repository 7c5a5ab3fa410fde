"""Names: source model and engine names made valid modelenv names, and
clashes between them resolved deterministically."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..names import is_model_name
from .result import CLASH, Finding


def normalise_name(raw: str) -> str:
    """``raw`` as a valid model or engine name: lowercase, every inner run of other
    characters as one '-', no leading punctuation, no '..'; "" when nothing is left.
    A valid name is its own normal form."""
    name = re.sub(r"^[^a-z0-9._-]+|[^a-z0-9._-]+$", "", raw.strip().lower())
    name = re.sub(r"[^a-z0-9._-]+", "-", name)
    name = re.sub(r"\.{2,}", ".", name).lstrip("._-")
    return name[:128]


def _engine_key(name: str) -> str:
    # "llama.cpp", "llama_cpp" and "Llama-CPP" are the same engine.
    return re.sub(r"[._-]+", "_", name)


class EngineNames:
    """Engine names as written in the source -> normalised names; the first
    spelling seen of an engine decides its name."""

    def __init__(self, defaults: Iterable[str]) -> None:
        self._by_key: dict[str, str] = {}
        self.order: list[str] = []
        for raw in defaults:
            self.normalise(raw)
        self.with_defaults = set(self._by_key)

    def normalise(self, raw: str) -> str | None:
        name = normalise_name(raw)
        if not is_model_name(name):
            return None
        key = _engine_key(name)
        if key not in self._by_key:
            self._by_key[key] = name
            self.order.append(name)
        return self._by_key[key]

    def peek(self, raw: str) -> str | None:
        """What ``normalise`` would answer, without registering a new engine."""
        name = normalise_name(raw)
        if not is_model_name(name):
            return None
        return self._by_key.get(_engine_key(name), name)

    def has_defaults(self, raw: str) -> bool:
        return _engine_key(normalise_name(raw)) in self.with_defaults


def assign_names(originals: list[str]) -> tuple[dict[str, str], list[Finding]]:
    """Distinct source names -> distinct spec names, and a finding per rename.

    A name that is already valid keeps it; then, in source order, a normalised
    name not yet taken is used as is; the rest get the first free ``-2``, ``-3``...
    """
    base = {o: normalise_name(o) or "model" for o in originals}
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for pass_valid in (True, False):
        for o in originals:
            if o in out or (pass_valid and o != base[o]) or base[o] in taken:
                continue
            out[o] = taken[base[o]] = base[o]
    findings = []
    for o in originals:
        if o in out:
            continue
        n = 2
        while True:
            suffix = f"-{n}"
            candidate = base[o][: 128 - len(suffix)] + suffix
            if candidate not in taken:
                break
            n += 1
        out[o] = taken[candidate] = candidate
        findings.append(
            Finding(
                candidate,
                o,
                f"renamed: {o!r} normalises to {base[o]!r}, which {taken[base[o]]!r} has",
                CLASH,
            )
        )
    return out, findings
