"""What an import produces: findings, the imported specs and engine defaults,
and their TOML text. Plain data; the mapping is in :mod:`.entries` and
:mod:`.xinference`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..paths import ENGINES_FILE
from ..requirements import marker_of, parse_entry
from ..tomlfmt import toml_key, toml_string

# Finding kinds. Only UNEXPRESSIBLE means something was left out of what is written.
UNEXPRESSIBLE = "not expressible"
CLASH = "name clash"
SUSPICIOUS = "suspicious"
MERGED = "merged"
DUPLICATE = "duplicate"
SKIPPED = "skipped"


class ImportFormatError(ValueError):
    """The input is not a registry of the expected shape; the message names where."""


@dataclass(frozen=True)
class Finding:
    """Something the import could not carry over as written, or chose for the user."""

    model: str  # the spec name, or "_engines.NAME" for an engine default
    entry: str  # the entry or setting as the source wrote it
    why: str
    kind: str = UNEXPRESSIBLE

    def __str__(self) -> str:
        return f"{self.model}: {self.entry}: {self.why}"


@dataclass(frozen=True)
class Mapped:
    """Where one source entry goes: ``engine`` None is ``[env]``; ``text`` None with
    ``why`` None is an engine placeholder (it only makes the engine's table)."""

    engine: str | None
    text: str | None = None
    why: str | None = None
    suspicious: str | None = None


@dataclass
class Table:
    packages: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    left_out: list[Finding] = field(default_factory=list)
    defaults: bool = False  # an engine variant: the source asked for its defaults

    def add(self, text: str) -> str | None:
        """Add ``text``: None when added, "" when this very entry is already
        there, "combined as 'X'" when it was joined to the entry for the same
        package, else why not (the two cannot be joined). Marker variants of a
        package (each with its own marker) are listed side by side."""
        entry = parse_entry(text)
        key = entry.key
        if key not in self.keys:
            self.keys[key] = text
            self.packages.append(text)
            return None
        earlier = self.keys[key]
        if earlier == text or text in self.packages:
            return ""
        variants = [p for p in self.packages if parse_entry(p).key == key]
        marker = marker_of(entry)
        others = [marker_of(parse_entry(p)) for p in variants]
        if marker is not None and None not in others and marker not in others:
            self.packages.append(text)
            return None
        joined = combine(earlier, text) if len(variants) == 1 else None
        if joined is not None:
            self.packages[self.packages.index(earlier)] = self.keys[key] = joined
            return f"combined with {earlier!r} as {joined!r}"
        return (
            f"{key!r} is already listed as {earlier!r} in the same table;"
            " modelenv lists a package once per table, or once per marker"
        )


def combine(first: str, second: str) -> str | None:
    """One requirement asking for what both ask for (extras joined, specifiers
    intersected), as installing both would; None unless both are plain PEP 508
    requirements of one package with the same marker and no URL."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        a, b = Requirement(first), Requirement(second)
    except InvalidRequirement:
        return None  # a placeholder: pinned to the host, nothing to join
    if a.url or b.url or str(a.marker) != str(b.marker):
        return None
    a.extras |= b.extras
    a.specifier &= b.specifier
    return str(a).replace("; ", " ; ", 1)


@dataclass
class ImportedSpec:
    """One model. ``env`` holds what every variant shares, ``default`` what only
    the engine-less variant has, ``engines`` each engine variant's own entries."""

    name: str
    source_name: str
    kinds: list[str]
    env: Table = field(default_factory=Table)
    default: Table = field(default_factory=Table)
    engines: dict[str, Table] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    has_default: bool = True  # a record serves the engine-less variant

    def table(self, engine: str | None) -> Table:
        if engine is None:
            return self.env
        return self.engines.setdefault(engine, Table())

    @property
    def is_empty(self) -> bool:
        return not self.env.packages and not self.default.packages and not self.engines

    def description(self, kinds: str) -> str:
        if not self.kinds:
            return f"{self.source_name}: Xinference model"
        return f"{self.source_name}: Xinference {kinds} model"

    def toml(self, source: str | None) -> str:
        kinds = "/".join(self.kinds) or "model"
        lines = [
            f"# Imported from Xinference{f': {_oneline(source)}' if source else ''}",
            "# by 'modelenv import xinference'; docs/import.md describes the mapping.",
            f"# Xinference name: {toml_string(self.source_name)} ({_oneline(kinds)})"
            + (f", {self.records} records merged." if self.records > 1 else "."),
            "",
            "[model]",
            f"name = {toml_string(self.name)}",
            f"description = {toml_string(self.description(kinds))}",
        ]
        if self.env.packages or self.env.left_out:
            lines += ["", "[env]"]
            if self.env.packages:
                lines += _array("packages", self.env.packages)
            lines += _left_out_comment(self.env.left_out)
        if self.index:
            lines += ["", "[env.index]"]
            for key in ("url", "extra_urls", "find_links", "strategy", "no_build_isolation"):
                if key not in self.index:
                    continue
                value = self.index[key]
                if isinstance(value, bool):
                    lines.append(f"{key} = {'true' if value else 'false'}")
                elif isinstance(value, list):
                    lines += _array(key, value)
                else:
                    lines.append(f"{key} = {toml_string(value)}")
        lines += self._default_lines()
        for engine, table in sorted(self.engines.items()):
            lines += ["", f"[engines.{toml_key(engine)}]"]
            if not table.defaults:
                lines += [
                    f"# No '#{engine}_dependencies#' in the source: no {engine} defaults.",
                    "defaults = false",
                ]
            lines += _array("packages", table.packages)
            lines += _left_out_comment(table.left_out)
        return "\n".join(lines) + "\n"

    def _default_lines(self) -> list[str]:
        if not self.has_default:
            if not self.env.packages:
                return []  # no default variant anyway
            return [
                "",
                "[default]",
                "# Every record names an engine: Xinference runs this model only on one.",
                "enabled = false",
            ]
        if not self.default.packages and not self.default.left_out:
            return []
        lines = ["", "[default]", *_array("packages", self.default.packages)]
        return lines + _left_out_comment(self.default.left_out)


@dataclass
class ImportResult:
    source: str | None
    specs: list[ImportedSpec]
    engines: dict[str, Table]  # the engine defaults, in _engines.toml order
    engines_without_defaults: list[str]
    findings: list[Finding]

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def unexpressible(self) -> list[Finding]:
        return self.of_kind(UNEXPRESSIBLE)

    @property
    def clashes(self) -> list[Finding]:
        return self.of_kind(CLASH)

    @property
    def skipped(self) -> list[Finding]:
        return self.of_kind(SKIPPED)

    def engines_toml(self) -> str:
        lines = [
            "# Engine defaults imported from Xinference's engine_packages"
            + (f": {_oneline(self.source)}" if self.source else ""),
            "# by 'modelenv import xinference'; docs/import.md describes the mapping.",
        ]
        for engine, table in self.engines.items():
            lines += ["", f"[{toml_key(engine)}]"]
            if engine in self.engines_without_defaults:
                lines.append(
                    "# No defaults in the source: models name this engine in"
                    f" '#engine# == {toml_string(engine)}' markers."
                )
            lines += _array("packages", table.packages)
            lines += _left_out_comment(table.left_out)
        return "\n".join(lines) + "\n"

    def files(self) -> dict[str, str]:
        """File name -> text: ``_engines.toml`` first, then one spec per model."""
        out = {ENGINES_FILE: self.engines_toml()}
        for spec in self.specs:
            out[f"{spec.name}.toml"] = spec.toml(self.source)
        return out


# --- TOML text


def _oneline(text: str) -> str:
    """``text`` fit for a TOML comment: no control characters."""
    return re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", "?", text)


def _array(key: str, items: list[str]) -> list[str]:
    if not items:
        return [f"{key} = []"]
    return [f"{key} = [", *(f"    {toml_string(i)}," for i in items), "]"]


def _left_out_comment(findings: list[Finding]) -> list[str]:
    if not findings:
        return []
    lines = ["# Left out: modelenv cannot express these yet (docs/import.md)."]
    for f in findings:
        lines.append(f"#   {toml_string(f.entry)}: {_oneline(f.why)}")
    return lines
