"""Loading and checking specs and ``_engines.toml``: schema errors and the
checks across fields (names, duplicates, known engines) reported together, so
that one run names every problem."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..names import check_model_name, did_you_mean
from ..paths import ENGINES_FILE, display
from ..requirements import EntryError, marker_of, parse_entry
from . import fast
from .problems import Problem, SpecError, field_path, parse_toml, read_toml
from .targets import TARGETS_DIR, check_target_file, target_files
from .types import Engines, Spec

__all__ = [
    "check_engines_file",
    "check_spec_file",
    "check_spec_text",
    "load_engines",
    "load_spec",
]


@dataclass(frozen=True)
class _View:
    """What the cross-field checks look at, read from a valid Spec or, leniently,
    from raw TOML that failed validation (so that one run reports every problem)."""

    name: object
    python: object
    packages: object
    constraints: object
    engines: object  # {name: (packages, constraints)} when a table
    validated: bool  # False: read leniently from data that failed validation
    targets: object = None
    default: object = None  # (enabled, packages, constraints) when [default] is a table
    has_default: bool = False
    engine_targets: object = None  # {engine: its targets key} when [engines] is a table


def _view_of(spec: Spec) -> _View:
    engines = {n: (v.packages, v.constraints) for n, v in spec.engines.items()}
    env = spec.env
    d = spec.default
    return _View(
        spec.model.name,
        env.python,
        env.packages,
        env.constraints,
        engines,
        True,
        env.targets,
        default=None if d is None else (d.enabled, d.packages, d.constraints),
        has_default=spec.has_default,
        engine_targets={n: v.targets for n, v in spec.engines.items()},
    )


def _raw_view(data: dict[str, Any]) -> _View:
    def table(value: object) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    env = table(data.get("env"))
    raw_engines = data.get("engines", {})
    engines: object = None
    engine_targets: object = None
    if isinstance(raw_engines, dict):
        engines = {
            n: (table(v).get("packages", ()), table(v).get("constraints", ()))
            for n, v in raw_engines.items()
        }
        engine_targets = {n: table(v).get("targets") for n, v in raw_engines.items()}
    raw_default = data.get("default")
    default = None
    if isinstance(raw_default, dict):
        default = (
            raw_default.get("enabled", True),
            raw_default.get("packages", ()),
            raw_default.get("constraints", ()),
        )
    return _View(
        table(data.get("model")).get("name"),
        env.get("python", ()),
        env.get("packages", ()),
        env.get("constraints", ()),
        engines,
        False,
        env.get("targets"),
        default,
        engine_targets=engine_targets,
    )


def _targets_problems(
    shown: str, path: Path, targets: object, python: object, field: str = "env.targets"
) -> list[Problem]:
    """``env.targets`` (or an engine's ``targets``) names captured targets, each
    once, each of a Python version that ``env.python`` lists."""
    if not isinstance(targets, (list, tuple)):
        return []
    known = [p.stem for p in target_files(path.parent)]
    problems = _duplicates(shown, field, targets, lambda v: v)
    listed = [p for p in python if isinstance(p, str)] if isinstance(python, (list, tuple)) else []
    for i, name in enumerate(targets):
        if isinstance(name, str) and name in known and listed:
            xy = _target_xy(path.parent / TARGETS_DIR / f"{name}.toml")
            if xy is not None and xy not in listed:
                problems.append(
                    Problem(
                        shown,
                        f"{field}[{i}]",
                        f"target {name!r} is Python {xy}, which env.python does not list"
                        f" ({', '.join(listed)}); add {xy!r} to env.python or drop the target",
                    )
                )
        if isinstance(name, str) and name not in known:
            problems.append(
                Problem(
                    shown,
                    f"{field}[{i}]",
                    f"unknown target {name!r}{did_you_mean(name, known)}; targets in"
                    f" {display(path.parent / TARGETS_DIR)}: {', '.join(known) or 'none'}"
                    " (capture one with 'modelenv target capture NAME')",
                )
            )
    return problems


def _target_xy(path: Path) -> str | None:
    """The Python X.Y of the target file at ``path``; None when it is invalid
    (its own problems are reported on it)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _target_xy_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _target_xy_cached(path: Path, _mtime: int, _size: int) -> str | None:
    target = check_target_file(path)[0]
    return None if target is None else target.xy


def _semantic_problems(
    view: _View, path: Path, shown: str, engines: Engines | None
) -> list[Problem]:
    problems: list[Problem] = []
    name = view.name
    why = check_model_name(name) if isinstance(name, str) else None
    if why:
        problems.append(Problem(shown, "model.name", why))
    elif isinstance(name, str) and name != path.stem:
        problems.append(
            Problem(
                shown,
                "model.name",
                f"{name!r} differs from the file name {path.name!r};"
                f" rename the file to '{name}.toml' or set name = {path.stem!r}",
            )
        )
    problems += _duplicates(shown, "env.python", view.python, lambda v: v)
    problems += _targets_problems(shown, path, view.targets, view.python)
    problems += _duplicates(shown, "env.packages", view.packages, _key)
    problems += _duplicates(shown, "env.constraints", view.constraints, _key)
    problems += _default_problems(view, shown)
    variants = view.engines if isinstance(view.engines, dict) else {}
    for engine, (packages, constraints) in sorted(variants.items()):
        base = field_path(("engines", engine))
        why = check_model_name(engine, "engine name")
        if why:
            problems.append(Problem(shown, base, why))
        elif engines is not None and engine not in engines.defaults:
            known = ", ".join(engines.names) or "none"
            problems.append(
                Problem(
                    shown,
                    base,
                    f"unknown engine {engine!r}{did_you_mean(engine, engines.names)};"
                    f" engines defined in {display(engines.path)}: {known}",
                )
            )
        problems += _duplicates(shown, f"{base}.packages", packages, _key)
        problems += _duplicates(shown, f"{base}.constraints", constraints, _key)
        own = view.engine_targets.get(engine) if isinstance(view.engine_targets, dict) else None
        problems += _targets_problems(shown, path, own, view.python, f"{base}.targets")
    # Not judged from raw data: a misspelled table name would show up as
    # "no packages" on top of the unknown key that explains it.
    if view.validated and not view.has_default and not view.engines:
        disabled = isinstance(view.default, tuple) and view.default[0] is False
        problems.append(
            Problem(
                shown,
                "default.enabled" if disabled else "env.packages",
                "the default variant is disabled and the spec has no [engines.NAME]"
                " table; add one, or remove enabled = false"
                if disabled
                else "the spec declares no packages; list requirements in env.packages"
                " or add an [engines.NAME] table",
            )
        )
    return problems


def _default_problems(view: _View, shown: str) -> list[Problem]:
    if not isinstance(view.default, tuple):
        return []
    enabled, packages, constraints = view.default
    problems = _duplicates(shown, "default.packages", packages, _key)
    problems += _duplicates(shown, "default.constraints", constraints, _key)
    if enabled is False and (packages or constraints):
        problems.append(
            Problem(
                shown,
                "default.enabled",
                "the default variant is disabled, yet [default] lists packages or"
                " constraints; remove them, or remove enabled = false",
            )
        )
    return problems


def _key(entry: str) -> tuple[str, str | None]:
    """An entry's package and marker: a package may be listed more than once
    only as marker variants (each with a marker, all different), as merging
    keeps them (compiler/merge.py)."""
    parsed = parse_entry(entry)
    return parsed.key, marker_of(parsed)


def _duplicates(shown: str, field: str, items: object, key: Any) -> list[Problem]:
    """The same entry twice in a list; items that are not valid strings are
    reported elsewhere and skipped here."""
    if not isinstance(items, (list, tuple)):
        return []
    seen: dict[Any, int] = {}
    markers: dict[Any, list[str | None]] = {}
    problems = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            continue
        try:
            k = key(item)
        except EntryError:
            continue
        if isinstance(k, tuple):  # (package, marker): marker variants are allowed
            k, marker = k
            variants = markers.setdefault(k, [])
            distinct = marker is not None and None not in variants and marker not in variants
            variants.append(marker)
            if k in seen and distinct:
                continue
        if k in seen:
            problems.append(
                Problem(
                    shown,
                    f"{field}[{i}]",
                    f"{k!r} is listed twice (also at {field}[{seen[k]}]); keep one entry",
                )
            )
        else:
            seen[k] = i
    return problems


def check_spec_file(path: Path, engines: Engines | None) -> tuple[Spec | None, list[Problem]]:
    """Validate one spec file: the spec when valid, and every problem found."""
    data, problems = read_toml(path, path.parent)
    if data is None:
        return None, problems
    return _check_spec_data(data, path, engines)


def check_spec_text(text: str, path: Path, engines: Engines | None) -> list[Problem]:
    """The problems of ``text`` if it were the spec file at ``path``."""
    data, problems = parse_toml(text, display(path))
    if data is None:
        return problems
    return _check_spec_data(data, path, engines)[1]


def _check_spec_data(
    data: dict[str, Any], path: Path, engines: Engines | None
) -> tuple[Spec | None, list[Problem]]:
    shown = display(path)
    spec = fast.build_spec(data)
    if spec is None:  # not plainly valid: the reference schema decides
        from .schema import check_spec

        spec, problems = check_spec(data, shown)
        if spec is None:
            return None, problems + _semantic_problems(_raw_view(data), path, shown, engines)
    problems = _semantic_problems(_view_of(spec), path, shown, engines)
    return (None if problems else spec), problems


def load_spec(path: Path, engines: Engines | None) -> Spec:
    spec, problems = check_spec_file(path, engines)
    if spec is None:
        raise SpecError(problems)
    return spec


def check_engines_file(path: Path) -> tuple[Engines | None, list[Problem]]:
    shown = display(path)
    data, problems = read_toml(path, path.parent)
    if data is None:
        return None, problems
    defaults_of = fast.build_engines(data)
    if defaults_of is None:  # not plainly valid: the reference schema decides
        from .schema import check_engines

        defaults_of, problems = check_engines(data, shown)
        if defaults_of is None:
            return None, problems
    problems = []
    for name, defaults in sorted(defaults_of.items()):
        field = field_path((name,))
        why = check_model_name(name, "engine name")
        if why:
            problems.append(Problem(shown, field, why))
        problems += _duplicates(shown, f"{field}.packages", defaults.packages, _key)
        problems += _duplicates(shown, f"{field}.constraints", defaults.constraints, _key)
    if problems:
        return None, problems
    return Engines(path, defaults_of), []


def load_engines(specs_dir: Path) -> Engines:
    """The engine defaults of ``specs_dir``; an empty set when it has no ``_engines.toml``."""
    path = specs_dir / ENGINES_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return _no_engines(path)
    return _load_engines_cached(path, st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=16)
def _no_engines(path: Path) -> Engines:
    # One object per folder: specs are cached by (file, engines), and Engines
    # compares by identity, so a fresh one per call would defeat that cache.
    return Engines(path, {})


@functools.lru_cache(maxsize=16)
def _load_engines_cached(path: Path, _mtime: int, _size: int, _ino: int) -> Engines:
    # Keyed by the file's stat: one parse per run however many specs use it,
    # and a fresh one when the file changes.
    engines, problems = check_engines_file(path)
    if engines is None:
        raise SpecError(problems)
    return engines
