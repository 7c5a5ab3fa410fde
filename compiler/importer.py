"""Importing another tool's model registry as modelenv specs.

Pure functions: decoded JSON in, spec and ``_engines.toml`` texts plus a list of
findings out; nothing here reads or writes a file (``modelenv import`` does).
Only Xinference's ``virtualenv`` declarations are understood so far; the mapping
rules, and what cannot be expressed and why, are in docs/import.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .names import is_model_name
from .paths import ENGINES_FILE
from .requirements import EntryError, parse_entry
from .tomlfmt import toml_key, toml_string

__all__ = [
    "ACCELERATOR_MARKERS",
    "EngineNames",
    "Finding",
    "ImportFormatError",
    "ImportResult",
    "ImportedSpec",
    "assign_names",
    "import_xinference",
    "map_entry",
    "normalise_name",
]

# Xinference's marker variables beyond PEP 508: facts about the host's accelerator.
ACCELERATOR_MARKERS = ("cuda_version", "has_cuda", "has_npu", "cuda_arch")

# Finding kinds. Only UNEXPRESSIBLE means something was left out of what is written.
UNEXPRESSIBLE = "not expressible"
CLASH = "name clash"
SUSPICIOUS = "suspicious"
MERGED = "merged"
DUPLICATE = "duplicate"
SKIPPED = "skipped"

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
class _Table:
    packages: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    left_out: list[Finding] = field(default_factory=list)

    def add(self, text: str) -> str | None:
        """Append ``text``: None when added, "" when this very entry is already
        there, else why not (its package is listed differently)."""
        key = parse_entry(text).key
        if key not in self.keys:
            self.keys[key] = text
            self.packages.append(text)
            return None
        if self.keys[key] == text:
            return ""
        return (
            f"{key!r} is already listed as {self.keys[key]!r} in the same table;"
            " modelenv lists a package once per table"
        )


@dataclass
class ImportedSpec:
    name: str
    source_name: str
    kinds: list[str]
    env: _Table = field(default_factory=_Table)
    engines: dict[str, _Table] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    records: int = 0

    def table(self, engine: str | None) -> _Table:
        if engine is None:
            return self.env
        return self.engines.setdefault(engine, _Table())

    @property
    def is_empty(self) -> bool:
        return not self.env.packages and not self.engines

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
        for engine, table in sorted(self.engines.items()):
            lines += ["", f"[engines.{toml_key(engine)}]", *_array("packages", table.packages)]
            lines += _left_out_comment(table.left_out)
        return "\n".join(lines) + "\n"


@dataclass
class ImportResult:
    source: str | None
    specs: list[ImportedSpec]
    engines: dict[str, _Table]  # the engine defaults, in _engines.toml order
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


# --- names


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


# --- entries


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
    accel = _accelerator_variables(rest or "")
    if accel:
        names = ", ".join(repr(v) for v in accel)
        reasons.append(f"host-accelerator marker {names}: modelenv markers are PEP 508 only")
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
        if not rest or "#engine#" in rest or re.search(r"\bor\b", _mask(rest)):
            return unsupported
        return match.group("engine"), rest
    return unsupported


def _mask(marker: str) -> str:
    """``marker`` with quoted strings and parenthesised parts blanked out."""
    out = []
    depth = 0
    quote = ""
    for ch in marker:
        if quote:
            if ch == quote:
                quote = ""
            out.append(" ")
        elif ch in "\"'":
            quote = ch
            out.append(" ")
        elif ch == "(":
            depth += 1
            out.append(" ")
        elif ch == ")":
            depth = max(depth - 1, 0)
            out.append(" ")
        else:
            out.append(" " if depth else ch)
    return "".join(out)


def _accelerator_variables(marker: str) -> list[str]:
    unquoted = re.sub(r"\"[^\"]*\"|'[^']*'", " ", marker)
    return [v for v in ACCELERATOR_MARKERS if re.search(rf"\b{v}\b", unquoted)]


# --- the registry


def import_xinference(data: Any) -> ImportResult:
    """Map Xinference's registry (``models`` and ``engine_packages``) to specs."""
    if not isinstance(data, Mapping):
        raise ImportFormatError(f"expected a JSON object, got {_json_type(data)}")
    models = data.get("models")
    if not isinstance(models, list):
        raise ImportFormatError("'models': expected a list of models")
    defaults = data.get("engine_packages", {})
    if not isinstance(defaults, Mapping):
        raise ImportFormatError("'engine_packages': expected an object of engine -> packages")
    for engine, packages in defaults.items():
        if not isinstance(packages, list):
            raise ImportFormatError(f"'engine_packages.{engine}': expected a list of packages")
    groups: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for i, model in enumerate(models):
        where = f"'models[{i}]'"
        if not isinstance(model, Mapping):
            raise ImportFormatError(f"{where}: expected an object, got {_json_type(model)}")
        name = model.get("model_name")
        if not isinstance(name, str) or not name.strip():
            raise ImportFormatError(f"{where}.model_name: expected a non-empty string")
        venv = model.get("virtualenv")
        if not isinstance(venv, Mapping) or not isinstance(venv.get("packages"), list):
            raise ImportFormatError(f"{where}.virtualenv: expected an object with a packages list")
        kind = model.get("kind")
        groups.setdefault(name, []).append((kind if isinstance(kind, str) else "", venv))

    findings: list[Finding] = []
    engines = EngineNames(str(e) for e in defaults)
    engine_tables: dict[str, _Table] = {}
    for raw_engine, packages in defaults.items():
        name = engines.normalise(str(raw_engine))
        if name is None:
            raise ImportFormatError(f"'engine_packages': engine {raw_engine!r} has no usable name")
        table = engine_tables.setdefault(name, _Table())
        where = f"_engines.{name}"
        for raw in packages:
            mapped = map_entry(raw, engines)
            why = mapped.why
            if why is None and (mapped.engine is not None or mapped.text is None):
                why = "engine defaults cannot use '#engine#' markers or engine placeholders"
            _place(findings, where, str(raw), why, mapped, [table])

    names, clash_findings = assign_names(list(groups))
    findings += clash_findings
    specs = []
    for original, records in groups.items():
        spec = _build_spec(names[original], original, records, engines, findings)
        if spec.is_empty:
            findings.append(
                Finding(spec.name, original, "nothing expressible: no spec written", SKIPPED)
            )
        else:
            specs.append(spec)

    without = [e for e in engines.order if e not in engine_tables]
    for engine in without:
        engine_tables[engine] = _Table()
    source = data.get("source")
    return ImportResult(
        source if isinstance(source, str) else None, specs, engine_tables, without, findings
    )


def _build_spec(
    name: str,
    original: str,
    records: list[tuple[str, Mapping[str, Any]]],
    engines: EngineNames,
    findings: list[Finding],
) -> ImportedSpec:
    """One spec from every record of a model. The first record's engine-less
    entries go to [env]; a later record is a variant (e.g. the MLX build): its
    engine-less entries go to the tables of the engines it names, or to [env]
    when it names none."""
    spec = ImportedSpec(name, original, list(dict.fromkeys(k for k, _ in records if k)))
    spec.records = len(records)
    if len(records) > 1:
        findings.append(
            Finding(
                name,
                original,
                f"{len(records)} records merged: the first one's engine-less entries"
                " go to [env], a later one's to the engines it names",
                MERGED,
            )
        )
    for i, (_, venv) in enumerate(records):
        mapped = [(raw, map_entry(raw, engines)) for raw in venv["packages"]]
        named = list(dict.fromkeys(m.engine for _, m in mapped if m.engine))
        for raw, m in mapped:
            if m.engine is not None:
                targets: list[str | None] = [m.engine]
            elif i == 0 or not named:
                targets = [None]
            else:
                targets = list(named)
            _place(findings, name, str(raw), m.why, m, [spec.table(t) for t in targets])
        _map_index(spec, venv, findings)
    return spec


def _place(
    findings: list[Finding],
    where: str,
    raw: str,
    why: str | None,
    mapped: Mapped,
    tables: list[_Table],
) -> None:
    if mapped.suspicious:
        findings.append(Finding(where, raw, mapped.suspicious, SUSPICIOUS))
    if why is not None:
        finding = Finding(where, raw, why)
        findings.append(finding)
        tables[0].left_out.append(finding)
        return
    if mapped.text is None:
        return
    for table in tables:
        problem = table.add(mapped.text)
        if problem == "":
            findings.append(Finding(where, raw, "listed twice; kept once", DUPLICATE))
        elif problem:
            finding = Finding(where, raw, problem)
            findings.append(finding)
            table.left_out.append(finding)


def _map_index(spec: ImportedSpec, venv: Mapping[str, Any], findings: list[Finding]) -> None:
    from .spec import INDEX_STRATEGIES

    index = spec.index

    def left_out(key: str, value: Any, why: str) -> None:
        finding = Finding(spec.name, f"{key} = {json.dumps(value)}", why)
        findings.append(finding)
        spec.env.left_out.append(finding)

    def single(key: str, target: str, value: Any, allowed: tuple[str, ...] = ()) -> None:
        if not isinstance(value, str) or (allowed and value not in allowed):
            expected = " or ".join(repr(a) for a in allowed) if allowed else "a string"
            left_out(key, value, f"expected {expected}")
        elif index.get(target, value) != value:
            left_out(key, value, f"conflicts with {index[target]!r} from an earlier record")
        else:
            index[target] = value

    def several(key: str, target: str, value: Any) -> None:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            left_out(key, value, "expected a string or a list of strings")
            return
        merged = index.setdefault(target, [])
        merged += [v for v in values if v not in merged]

    for key, value in venv.items():
        if key == "packages":
            continue
        if key == "no_build_isolation":
            if not isinstance(value, bool):
                left_out(key, value, "expected true or false")
            elif value:
                index["no_build_isolation"] = True
        elif key == "index_strategy":
            single(key, "strategy", value, INDEX_STRATEGIES)
        elif key == "index_url":
            single(key, "url", value)
        elif key == "extra_index_url":
            several(key, "extra_urls", value)
        elif key == "find_links":
            several(key, "find_links", value)
        else:
            left_out(key, value, f"unknown setting {key!r}")


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


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )
