"""Xinference's registry (``models`` and ``engine_packages``) as specs: the
records of each model grouped into one spec, their index settings merged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .entries import map_entry
from .names import EngineNames, assign_names
from .result import (
    DUPLICATE,
    MERGED,
    SKIPPED,
    SUSPICIOUS,
    Finding,
    ImportedSpec,
    ImportFormatError,
    ImportResult,
    Mapped,
    Table,
)


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
    engine_tables: dict[str, Table] = {}
    for raw_engine, packages in defaults.items():
        name = engines.normalise(str(raw_engine))
        if name is None:
            raise ImportFormatError(f"'engine_packages': engine {raw_engine!r} has no usable name")
        table = engine_tables.setdefault(name, Table())
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
        engine_tables[engine] = Table()
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
    """One spec from every record of a model, each record scoped to the variants
    it serves: the engines its markers name, or the engine-less default variant
    when it names none. A record's engine-less entries go to ``[env]`` when it
    serves every variant of the spec, else to each variant it serves
    (``[default]``, ``[engines.X]``); an entry with an engine marker goes to
    that engine. An engine takes its ``_engines.toml`` defaults only where a
    record asks for ``#ENGINE_dependencies#``."""
    spec = ImportedSpec(name, original, list(dict.fromkeys(k for k, _ in records if k)))
    spec.records = len(records)
    mapped = [[(raw, map_entry(raw, engines)) for raw in venv["packages"]] for _, venv in records]
    serves = [_served(entries) for entries in mapped]
    every = set().union(*serves)
    spec.has_default = None in every
    if len(records) > 1:
        findings.append(
            Finding(
                name,
                original,
                f"{len(records)} records merged: each record's entries go to the variants"
                " it serves (the engines it names, or the default variant if none)",
                MERGED,
            )
        )
    for entries, served, (_, venv) in zip(mapped, serves, records, strict=True):
        shared = [spec.env] if set(served) == every else None
        for raw, m in entries:
            if m.engine is not None:
                tables = [spec.table(m.engine)]
                if m.text is None and m.why is None:
                    tables[0].defaults = True  # "#ENGINE_dependencies#"
            else:
                tables = shared or [spec.default if t is None else spec.table(t) for t in served]
            _place(findings, name, str(raw), m.why, m, tables)
        _map_index(spec, venv, findings)
    return spec


def _served(entries: list[tuple[Any, Mapped]]) -> tuple[str | None, ...]:
    named = tuple(dict.fromkeys(m.engine for _, m in entries if m.engine is not None))
    return named or (None,)


def _place(
    findings: list[Finding],
    where: str,
    raw: str,
    why: str | None,
    mapped: Mapped,
    tables: list[Table],
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
        elif problem and problem.startswith("combined "):
            findings.append(Finding(where, raw, problem, DUPLICATE))
        elif problem:
            finding = Finding(where, raw, problem)
            findings.append(finding)
            table.left_out.append(finding)


def _map_index(spec: ImportedSpec, venv: Mapping[str, Any], findings: list[Finding]) -> None:
    from ..spec import INDEX_STRATEGIES

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


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )
