"""Capturing a target from a live interpreter, and writing it as TOML.

``modelenv target capture NAME`` probes the interpreter (its packages, marker
values, platform and CUDA, see :func:`compiler.host.host_facts`), applies the
``--fact`` overrides and index settings given, and writes the result to
``specs/_targets/NAME.toml``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from . import __version__
from .errors import ModelenvError, UsageError
from .host import HostFacts
from .markers import FACTS
from .names import did_you_mean
from .spec.fast import build_target as build_plain_target
from .spec.types import IndexSection, Target, as_dict
from .tomlfmt import toml_key, toml_string

__all__ = ["build_target", "invalid_versions", "package_changes", "parse_fact", "render_target"]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_fact(text: str) -> tuple[str, bool | str | None]:
    """``KEY=VALUE`` from ``--fact``: a known fact and its typed value."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise UsageError(f"--fact {text!r}: expected KEY=VALUE, for example has_cuda=true")
    kind = FACTS.get(key)
    if kind is None:
        raise UsageError(
            f"--fact {text!r}: unknown fact {key!r}{did_you_mean(key, FACTS)};"
            f" facts: {', '.join(FACTS)}"
        )
    if kind == "bool":
        if raw.lower() in _TRUE:
            return key, True
        if raw.lower() in _FALSE:
            return key, False
        raise UsageError(f"--fact {text!r}: {key} is true or false")
    if raw.lower() in ("", "none"):
        return key, None
    from packaging.version import InvalidVersion, Version

    try:
        Version(raw)
    except InvalidVersion:
        raise UsageError(f"--fact {text!r}: {raw!r} is not a version, such as 12.8") from None
    return key, raw


def _facts(probed: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    facts = {**probed, **given}
    # A CUDA version implies CUDA; "no CUDA" drops a probed version.
    if given.get("cuda_version") and "has_cuda" not in given:
        facts["has_cuda"] = True
    if given.get("has_cuda") is False and "cuda_version" not in given:
        facts["cuda_version"] = None
    if facts.get("cuda_version") and not facts.get("has_cuda"):
        raise UsageError("--fact has_cuda=false contradicts --fact cuda_version; give one")
    return facts


def build_target(
    host: HostFacts,
    *,
    facts: Sequence[str] = (),
    index: IndexSection | None = None,
    description: str | None = None,
    now: dt.datetime | None = None,
) -> Target:
    """The target describing ``host``, with ``--fact`` values applied.
    Distributions whose version is not PEP 440 are left out (uv could not take
    them as preferences either): :func:`invalid_versions` names them."""
    given = dict(parse_fact(f) for f in facts)
    bad = invalid_versions(host)
    data: dict[str, Any] = {
        "description": description,
        "python": {"version": host.python, "platform": host.platform},
        "facts": {k: v for k, v in _facts(host.facts, given).items() if v is not None},
        "markers": dict(host.markers),
        "packages": {k: v for k, v in sorted(host.packages.items()) if k not in bad},
        "capture": {
            "at": (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0),
            "interpreter": host.source,
            "modelenv": __version__,
            "cuda_from": host.cuda_source or None,
            "facts_given": sorted(given),
        },
    }
    if index is not None:
        data["index"] = index.given_values()
    target = build_plain_target(data)
    if target is not None:
        return target
    from .spec.schema import check_target  # the reference words the problems

    target, found = check_target(data, host.source, {})
    if target is not None:
        return target
    raise ModelenvError(
        "cannot describe this interpreter as a target: "
        + "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in found),
        hint="targets are for platforms uv resolves for (docs/targets.md)",
    )


def invalid_versions(host: HostFacts) -> dict[str, str]:
    """Installed distributions whose version is not PEP 440 (name -> version)."""
    from packaging.version import InvalidVersion, Version

    bad = {}
    for name, version in host.packages.items():
        try:
            Version(version)
        except InvalidVersion:
            bad[name] = version
    return bad


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return toml_string(str(value))


def _table(name: str, values: Mapping[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    lines += [f"{toml_key(k)} = {_value(v)}" for k, v in values.items() if v is not None]
    return [*lines, ""]


def render_target(name: str, target: Target) -> str:
    """The TOML text of ``target``: stable order, one package a line."""
    lines = [
        f"# Target {name}: a host that environments are layered on.",
        "# Written by 'modelenv target capture'; recapture rather than edit (docs/targets.md).",
    ]
    if target.description:
        lines.append(f"description = {toml_string(target.description)}")
    lines.append("")
    lines += _table("python", as_dict(target.python))
    lines += _table("facts", as_dict(target.facts))
    if target.index is not None:
        lines += _table("index", target.index.given_values())
    lines += _table("markers", dict(sorted(target.markers.items())))
    lines += _table("capture", as_dict(target.capture))
    lines += _table("packages", target.packages)
    return "\n".join(lines).rstrip("\n") + "\n"


def package_changes(old: Target, new: Target) -> list[str]:
    """What recapturing changed, one item per package ("torch 2.12.0 -> 2.13.0")."""
    out = []
    for key in sorted(set(old.packages) | set(new.packages)):
        a, b = old.packages.get(key), new.packages.get(key)
        if a != b:
            out.append(f"{key} {a or 'absent'} -> {b or 'absent'}")
    for part in ("python", "facts", "markers", "index"):
        if old.content()[part] != new.content()[part]:
            out.append(f"{part} changed")
    return out
