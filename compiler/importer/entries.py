"""One Xinference ``packages`` entry in modelenv terms: which table it goes
to, as what text, or why it cannot be expressed."""

from __future__ import annotations

import re
from typing import Any

from ..markers import FACTS, fact_names, mask
from ..requirements import EntryError, parse_entry
from .names import EngineNames
from .result import Mapped

# Xinference's marker variables beyond PEP 508: facts about the host's accelerator.
ACCELERATOR_MARKERS = ("cuda_version", "has_cuda", "has_npu", "cuda_arch")

_ENGINE_TERM = r"#engine#\s*==\s*(?P<q>[\"'])(?P<engine>[^\"']*)(?P=q)"
_LEADING_ENGINE = re.compile(rf"\s*{_ENGINE_TERM}\s*(?:\band\b(?P<rest>.*))?", re.DOTALL)
_TRAILING_ENGINE = re.compile(rf"(?P<rest>.*?)\band\s+{_ENGINE_TERM}\s*", re.DOTALL)
_DEPS_PLACEHOLDER = re.compile(r"#(?P<engine>[^#]+)_dependencies#")
_BARE_DEPS = re.compile(r"(?P<engine>[A-Za-z0-9._-]+)_dependencies")
_URL = re.compile(r"(?:^|@)\s*(?:[A-Za-z][A-Za-z0-9+.-]*://|file:)")
_VCS = re.compile(r"^\s*(?:[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*@\s*)?(?:git|hg|svn|bzr)\+")
_WHEEL_URL = re.compile(r"^\s*(?P<url>\S+/(?P<name>[A-Za-z0-9_.]+)-[^/\s]*\.whl)\s*$")


def _named_url(req: str) -> str | None:
    """``NAME @ URL`` for a direct URL: as written when it names its package, or
    with the name taken from a wheel's file name; None when neither."""
    if "@" in req.split("://", 1)[0]:
        return req  # already "name @ url" (PEP 508)
    match = _WHEEL_URL.match(req)
    return None if match is None else f"{match.group('name')} @ {match.group('url')}"


def map_entry(raw: Any, engines: EngineNames) -> Mapped:
    """Where one Xinference ``packages`` entry goes, in modelenv terms."""
    if not isinstance(raw, str):
        return Mapped(None, why=f"expected a string, got {type(raw).__name__}")
    requirement, sep, marker_text = raw.strip().partition(";")
    req = requirement.strip()
    marker = marker_text.strip() if sep else None
    if sep and not marker:
        return Mapped(None, why="empty marker after ';'")

    engine: str | None = None
    rest = marker
    if marker is not None and "#engine#" in marker:
        split = _split_engine_marker(marker)
        if isinstance(split, str):
            return Mapped(None, why=split)
        engine_raw, rest = split
        engine = engines.normalise(engine_raw)
        if engine is None:
            return Mapped(None, why=f"engine name {engine_raw!r} cannot be made a valid name")

    # #ENGINE_dependencies#: the engine's defaults, i.e. "this engine variant exists".
    placeholder = _DEPS_PLACEHOLDER.fullmatch(req)
    bare = _BARE_DEPS.fullmatch(req)
    suspicious = None
    deps_raw = None
    if placeholder:
        deps_raw = placeholder.group("engine")
    elif bare and (
        engines.has_defaults(bare.group("engine"))
        or (engine is not None and engines.peek(bare.group("engine")) == engine)
    ):
        deps_raw = bare.group("engine")
        suspicious = f"read as the placeholder '#{req}#' (the '#' are missing in the source)"
    if deps_raw is not None:
        deps = engines.peek(deps_raw)
        shown = f"'#{deps_raw}_dependencies#'"
        if engine is None:
            why = f"{shown} outside a '#engine# == ...' marker: engine defaults belong to a variant"
        elif deps != engine:
            why = f"{shown} under engine {engine!r}: a variant gets only its own engine's defaults"
        elif rest:
            why = f"{shown} with the marker {rest!r}: an engine's defaults cannot be conditional"
        else:
            return Mapped(engine, suspicious=suspicious)
        return Mapped(engine, why=why, suspicious=suspicious)

    reasons = []
    if _VCS.match(req):
        reasons.append(
            "VCS URL: it has no hash, and environments are installed with hashes required"
        )
    elif _URL.search(req):
        named = _named_url(req)
        if named is None:
            reasons.append("direct URL without 'NAME @' that is not a wheel: name unknown")
        elif named != req:
            # A direct URL to a file locks with its hash: expressible once named.
            raw = raw.replace(req, named, 1)
            req = named
    unknown = [v for v in _accelerator_variables(rest or "") if v not in FACTS]
    if unknown:
        names = ", ".join(repr(v) for v in unknown)
        known = ", ".join(FACTS)
        reasons.append(f"host-accelerator marker {names}: modelenv's host facts are {known}")
    if reasons:
        return Mapped(engine, why="; ".join(reasons))

    text = raw.strip() if engine is None else (f"{req} ; {rest}" if rest else req)
    try:
        parse_entry(text)
    except EntryError as exc:
        return Mapped(engine, why=str(exc))
    return Mapped(engine, text=text)


def _split_engine_marker(marker: str) -> tuple[str, str | None] | str:
    """(engine, the PEP 508 rest or None), or why the marker cannot be split."""
    unsupported = (
        f"engine marker {marker!r}: only '#engine# == \"NAME\"', alone or joined"
        " to PEP 508 markers with 'and', can become an [engines.NAME] table"
    )
    for pattern in (_LEADING_ENGINE, _TRAILING_ENGINE):
        match = pattern.fullmatch(marker)
        if match is None:
            continue
        rest = match.group("rest")
        if rest is None:
            return match.group("engine"), None
        rest = rest.strip()
        # "#engine# == 'x' and a or b" is "(engine and a) or b": not one engine's entry.
        if not rest or "#engine#" in rest or re.search(r"\bor\b", mask(rest)):
            return unsupported
        return match.group("engine"), rest
    return unsupported


def _accelerator_variables(marker: str) -> list[str]:
    return fact_names(marker, ACCELERATOR_MARKERS)
