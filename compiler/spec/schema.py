"""The reference schema of modelenv's TOML files as frozen pydantic models:
specs (``specs/<model>.toml``), engine defaults (``specs/_engines.toml``), the
user's overrides file and targets (``specs/_targets/NAME.toml``).

Imported only on the slow path: when the fast builder (:mod:`.fast`) finds a
file not plainly valid, these models decide, and their errors become located
problems (:func:`.problems.problems_from`, with "did you mean"). What they
accept is normalised and built into the runtime types (:mod:`.types`) by the
fast builder, so both paths give the same objects. Single values are judged by
:mod:`.values` on both paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from . import fast, types
from . import values as v
from .problems import Problem, problems_from

__all__ = [
    "CaptureSection",
    "DefaultVariant",
    "EngineDefaults",
    "EngineVariant",
    "EnvSection",
    "FactsSection",
    "IndexSection",
    "ModelSection",
    "OverrideSection",
    "Overrides",
    "PythonSection",
    "Spec",
    "Target",
    "check_engines",
    "check_overrides",
    "check_spec",
    "check_target",
]

IndexStrategy = Literal["first-index", "unsafe-first-match", "unsafe-best-match"]
assert get_args(IndexStrategy) == v.INDEX_STRATEGIES

PackageEntry = Annotated[str, AfterValidator(v.check_entry)]
ConstraintEntry = Annotated[str, AfterValidator(v.check_constraint)]
OverrideEntry = Annotated[str, AfterValidator(v.check_override_entry)]
PythonVersion = Annotated[str, BeforeValidator(v.check_python)]
DateText = Annotated[str, BeforeValidator(v.check_date)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ModelSection(_Frozen):
    name: str
    description: str | None = None


class IndexSection(_Frozen):
    url: str | None = None
    extra_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    strategy: IndexStrategy | None = None
    no_build_isolation: StrictBool = False


class EnvSection(_Frozen):
    python: tuple[PythonVersion, ...] = ()
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()
    system_site_packages: StrictBool = True
    exclude_newer: DateText | None = None
    index: IndexSection | None = None
    targets: tuple[str, ...] | None = None


class DefaultVariant(_Frozen):
    enabled: StrictBool = True
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()


class EngineVariant(_Frozen):
    defaults: StrictBool = True
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()
    targets: tuple[str, ...] | None = None


class Spec(_Frozen):
    model: ModelSection
    env: EnvSection = Field(default_factory=EnvSection)
    default: DefaultVariant | None = None
    engines: dict[str, EngineVariant] = Field(default_factory=dict)


class EngineDefaults(_Frozen):
    description: str | None = None
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()


class _EnginesRoot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    engines: dict[str, EngineDefaults]


class OverrideSection(_Frozen):
    packages: tuple[OverrideEntry, ...] = ()
    constraints: tuple[OverrideEntry, ...] = ()
    python: PythonVersion | None = None
    base_python: Annotated[str, AfterValidator(v.check_base_python)] | None = None


class Overrides(_Frozen):
    global_: OverrideSection = Field(default_factory=OverrideSection, alias="global")
    models: dict[str, OverrideSection] = Field(default_factory=dict)


class PythonSection(_Frozen):
    version: Annotated[str, AfterValidator(v.check_full_version)]
    platform: Annotated[str, AfterValidator(v.check_platform)]


class FactsSection(_Frozen):
    has_cuda: StrictBool = False
    cuda_version: Annotated[str, AfterValidator(v.check_version)] | None = None
    has_npu: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> FactsSection:
        v.check_facts(self.has_cuda, self.cuda_version)
        return self


class CaptureSection(_Frozen):
    at: dt.datetime | None = None
    interpreter: str | None = None
    modelenv: str | None = None
    cuda_from: str | None = None
    facts_given: tuple[str, ...] = ()


class Target(_Frozen):
    description: str | None = None
    python: PythonSection
    facts: FactsSection = Field(default_factory=FactsSection)
    markers: Annotated[dict[str, str], AfterValidator(v.check_markers)] = Field(
        default_factory=dict
    )
    index: IndexSection | None = None
    packages: Annotated[dict[str, str], AfterValidator(v.check_packages)] = Field(
        default_factory=dict
    )
    capture: CaptureSection = Field(default_factory=CaptureSection)


# Field names per table, for "did you mean" on unknown keys.
SPEC_FIELDS: dict[str, Iterable[str]] = {
    "": Spec.model_fields,
    "model": ModelSection.model_fields,
    "env": EnvSection.model_fields,
    "env.index": IndexSection.model_fields,
    "default": DefaultVariant.model_fields,
    "engines.*": EngineVariant.model_fields,
}
ENGINE_FIELDS: dict[str, Iterable[str]] = {"engines.*": EngineDefaults.model_fields}
OVERRIDE_FIELDS: dict[str, Iterable[str]] = {
    "": ("global", "models"),
    "global": OverrideSection.model_fields,
    "models.*": OverrideSection.model_fields,
}
TARGET_FIELDS: dict[str, Iterable[str]] = {
    "": Target.model_fields,
    "python": PythonSection.model_fields,
    "facts": FactsSection.model_fields,
    "index": IndexSection.model_fields,
    "capture": CaptureSection.model_fields,
}

T = TypeVar("T")


def _check(
    model: type[BaseModel],
    data: Any,
    build: Callable[[Any], T | None],
    shown: str,
    fields: dict[str, Iterable[str]],
    drop_root: bool = False,
) -> tuple[T | None, list[Problem]]:
    """Validate ``data`` with ``model``: the runtime object built from its
    normalised output, or the located problems of its errors."""
    try:
        valid = model.model_validate(data)
    except ValidationError as exc:
        return None, problems_from(exc, shown, fields, drop_root=drop_root)
    normalised = valid.model_dump(by_alias=True, exclude_unset=True)
    if drop_root:
        normalised = normalised["engines"]
    built = build(normalised)
    if built is None:  # never: tests/test_spec_fast.py
        raise AssertionError(f"{shown}: the fast builder refused the reference's output")
    return built, []


def check_spec(data: Any, shown: str) -> tuple[types.Spec | None, list[Problem]]:
    return _check(Spec, data, fast.build_spec, shown, SPEC_FIELDS)


def check_engines(
    data: Any, shown: str
) -> tuple[dict[str, types.EngineDefaults] | None, list[Problem]]:
    return _check(
        _EnginesRoot, {"engines": data}, fast.build_engines, shown, ENGINE_FIELDS, drop_root=True
    )


def check_overrides(data: Any, shown: str) -> tuple[types.Overrides | None, list[Problem]]:
    return _check(Overrides, data, fast.build_overrides, shown, OVERRIDE_FIELDS)


def check_target(
    data: Any, shown: str, fields: dict[str, Iterable[str]] | None = None
) -> tuple[types.Target | None, list[Problem]]:
    return _check(
        Target, data, fast.build_target, shown, TARGET_FIELDS if fields is None else fields
    )
