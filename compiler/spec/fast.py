"""The fast validator: builds the runtime types (:mod:`.types`) straight from
TOML data that is plainly valid, without importing pydantic (about 80 ms of a
cold start). Anything unusual (a wrong type, an unknown or missing key, a value
a check rejects) gives None: the pydantic reference schema (:mod:`.schema`)
then decides and words the problems. Values are judged by the same functions
(:mod:`.values`) on both paths; tests/test_spec_fast.py checks over the
bundled specs, the Xinference corpus and mutations of both that this never
accepts what the reference rejects, and builds the same thing when it accepts.

Also takes the reference's normalised output (``model_dump(by_alias=True,
exclude_unset=True)``: tuples, explicit Nones), so that one builder makes
every instance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import values as v
from .types import (
    CaptureSection,
    DefaultVariant,
    EngineDefaults,
    EngineVariant,
    EnvSection,
    FactsSection,
    IndexSection,
    ModelSection,
    Overrides,
    OverrideSection,
    PythonSection,
    Spec,
    Target,
)

__all__ = ["build_engines", "build_overrides", "build_spec", "build_target"]

T = TypeVar("T")
_Table = Mapping[str, Any]


class _Unusual(Exception):
    """Not plainly valid: the reference schema decides."""


def _plain(build: Callable[[Any], T], data: Any) -> T | None:
    try:
        return build(data)
    except (_Unusual, ValueError):
        return None


def build_spec(data: Any) -> Spec | None:
    return _plain(_spec, data)


def build_engines(data: Any) -> dict[str, EngineDefaults] | None:
    """``_engines.toml``: a table of engine tables."""
    return _plain(_engines, data)


def build_overrides(data: Any) -> Overrides | None:
    return _plain(_overrides, data)


def build_target(data: Any) -> Target | None:
    return _plain(_target, data)


# --- shapes


def _table(value: Any, keys: frozenset[str] | None, required: tuple[str, ...] = ()) -> _Table:
    if type(value) is not dict or (keys is not None and not keys.issuperset(value)):
        raise _Unusual
    for key in required:
        if key not in value:
            raise _Unusual
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Unusual
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Unusual
    return value


def _strs(value: Any, check: Callable[[str], str] | None = None) -> tuple[str, ...]:
    if type(value) is not list and type(value) is not tuple:
        raise _Unusual
    if check is None:
        return tuple(_str(item) for item in value)
    return tuple(check(_str(item)) for item in value)


def _opt_strs(value: Any) -> tuple[str, ...] | None:
    return None if value is None else _strs(value)


def _str_map(value: Any) -> dict[str, str]:
    table = _table(value, None)
    for item in table.values():
        _str(item)
    return dict(table)


def _opt(value: Any, build: Callable[[Any], T]) -> T | None:
    return None if value is None else build(value)


# --- specs and engines

_SPEC = frozenset(("model", "env", "default", "engines"))
_MODEL = frozenset(("name", "description"))
_ENV = frozenset(
    (
        "python",
        "packages",
        "constraints",
        "system_site_packages",
        "exclude_newer",
        "index",
        "targets",
    )
)
_INDEX = frozenset(("url", "extra_urls", "find_links", "strategy", "no_build_isolation"))
_DEFAULT = frozenset(("enabled", "packages", "constraints"))
_ENGINE = frozenset(("defaults", "packages", "constraints", "targets"))
_ENGINE_DEFAULTS = frozenset(("description", "packages", "constraints"))


def _spec(data: Any) -> Spec:
    d = _table(data, _SPEC, ("model",))
    model = _table(d["model"], _MODEL, ("name",))
    return Spec(
        model=ModelSection(_str(model["name"]), _opt_str(model.get("description"))),
        env=_env(d["env"]) if "env" in d else EnvSection(),
        default=_opt(d.get("default"), _default),
        engines={name: _engine(t) for name, t in _table(d.get("engines", {}), None).items()},
    )


def _env(data: Any) -> EnvSection:
    d = _table(data, _ENV)
    return EnvSection(
        python=tuple(v.check_python(p) for p in _strs(d.get("python", ()))),
        packages=_strs(d.get("packages", ()), v.check_entry),
        constraints=_strs(d.get("constraints", ()), v.check_constraint),
        system_site_packages=_bool(d.get("system_site_packages", True)),
        exclude_newer=_opt(d.get("exclude_newer"), v.check_date),
        index=_opt(d.get("index"), _index),
        targets=_opt_strs(d.get("targets")),
    )


def _index(data: Any) -> IndexSection:
    d = _table(data, _INDEX)
    strategy = _opt_str(d.get("strategy"))
    if strategy is not None and strategy not in v.INDEX_STRATEGIES:
        raise _Unusual
    return IndexSection(
        url=_opt_str(d.get("url")),
        extra_urls=_strs(d.get("extra_urls", ())),
        find_links=_strs(d.get("find_links", ())),
        strategy=strategy,
        no_build_isolation=_bool(d.get("no_build_isolation", False)),
        given_fields=frozenset(d),
    )


def _default(data: Any) -> DefaultVariant:
    d = _table(data, _DEFAULT)
    return DefaultVariant(
        enabled=_bool(d.get("enabled", True)),
        packages=_strs(d.get("packages", ()), v.check_entry),
        constraints=_strs(d.get("constraints", ()), v.check_constraint),
    )


def _engine(data: Any) -> EngineVariant:
    d = _table(data, _ENGINE)
    return EngineVariant(
        defaults=_bool(d.get("defaults", True)),
        packages=_strs(d.get("packages", ()), v.check_entry),
        constraints=_strs(d.get("constraints", ()), v.check_constraint),
        targets=_opt_strs(d.get("targets")),
    )


def _engines(data: Any) -> dict[str, EngineDefaults]:
    return {name: _engine_defaults(t) for name, t in _table(data, None).items()}


def _engine_defaults(data: Any) -> EngineDefaults:
    d = _table(data, _ENGINE_DEFAULTS)
    return EngineDefaults(
        description=_opt_str(d.get("description")),
        packages=_strs(d.get("packages", ()), v.check_entry),
        constraints=_strs(d.get("constraints", ()), v.check_constraint),
    )


# --- overrides

_OVERRIDES = frozenset(("global", "models"))
_OVERRIDE = frozenset(("packages", "constraints", "python", "base_python"))


def _overrides(data: Any) -> Overrides:
    d = _table(data, _OVERRIDES)
    return Overrides(
        global_=_override(d["global"]) if "global" in d else OverrideSection(),
        models={name: _override(t) for name, t in _table(d.get("models", {}), None).items()},
    )


def _override(data: Any) -> OverrideSection:
    d = _table(data, _OVERRIDE)
    return OverrideSection(
        packages=_strs(d.get("packages", ()), v.check_override_entry),
        constraints=_strs(d.get("constraints", ()), v.check_override_entry),
        python=_opt(d.get("python"), v.check_python),
        base_python=_opt(d.get("base_python"), lambda p: v.check_base_python(_str(p))),
    )


# --- targets

_TARGET = frozenset(("description", "python", "facts", "markers", "index", "packages", "capture"))
_PYTHON = frozenset(("version", "platform"))
_FACTS = frozenset(("has_cuda", "cuda_version", "has_npu"))
_CAPTURE = frozenset(("at", "interpreter", "modelenv", "cuda_from", "facts_given"))


def _target(data: Any) -> Target:
    d = _table(data, _TARGET, ("python",))
    python = _table(d["python"], _PYTHON, ("version", "platform"))
    return Target(
        description=_opt_str(d.get("description")),
        python=PythonSection(
            v.check_full_version(_str(python["version"])),
            v.check_platform(_str(python["platform"])),
        ),
        facts=_facts(d["facts"]) if "facts" in d else FactsSection(),
        markers=v.check_markers(_str_map(d.get("markers", {}))),
        index=_opt(d.get("index"), _index),
        packages=v.check_packages(_str_map(d.get("packages", {}))),
        capture=_capture(d["capture"]) if "capture" in d else CaptureSection(),
    )


def _facts(data: Any) -> FactsSection:
    d = _table(data, _FACTS)
    facts = FactsSection(
        has_cuda=_bool(d.get("has_cuda", False)),
        cuda_version=_opt(d.get("cuda_version"), lambda c: v.check_version(_str(c))),
        has_npu=_bool(d.get("has_npu", False)),
    )
    v.check_facts(facts.has_cuda, facts.cuda_version)
    return facts


def _capture(data: Any) -> CaptureSection:
    d = _table(data, _CAPTURE)
    at = d.get("at")
    if at is not None and type(at) is not dt.datetime:
        raise _Unusual
    return CaptureSection(
        at=at,
        interpreter=_opt_str(d.get("interpreter")),
        modelenv=_opt_str(d.get("modelenv")),
        cuda_from=_opt_str(d.get("cuda_from")),
        facts_given=_strs(d.get("facts_given", ())),
    )
