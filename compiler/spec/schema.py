"""The schema of modelenv's TOML files as frozen pydantic models: specs
(``specs/<model>.toml``), engine defaults (``specs/_engines.toml``) and the
user's overrides file. Validation of single values lives here; checks across
fields and the loading of files live in :mod:`.checks` and :mod:`.overrides`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from ..requirements import EntryError, Kind, parse_entry
from .problems import describe

__all__ = [
    "INDEX_STRATEGIES",
    "DefaultVariant",
    "EngineDefaults",
    "EngineVariant",
    "Engines",
    "EnvSection",
    "IndexSection",
    "ModelSection",
    "OverrideSection",
    "Overrides",
    "Spec",
]

IndexStrategy = Literal["first-index", "unsafe-first-match", "unsafe-best-match"]
INDEX_STRATEGIES: tuple[str, ...] = get_args(IndexStrategy)
_PY_VERSION = re.compile(r"^3\.(0|[1-9][0-9]*)$")


def _check_entry(value: str) -> str:
    try:
        parse_entry(value)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_constraint(value: str) -> str:
    try:
        entry = parse_entry(value)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    if entry.kind is not Kind.REQUIREMENT:
        raise ValueError(f"invalid constraint {value!r}: constraints must be PEP 508 requirements")
    return value


def _check_python(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(
            f'write Python versions as strings, for example "3.10" (TOML reads {value!r}'
            " as a number)"
        )
    if not isinstance(value, str):
        raise ValueError(f'expected a string such as "3.11", got {describe(value)}')
    match = _PY_VERSION.match(value)
    if match is None:
        raise ValueError(f'invalid Python version {value!r}: expected X.Y, for example "3.11"')
    if int(match.group(1)) < 8:
        raise ValueError(f"unsupported Python version {value!r}: modelenv needs 3.8 or newer")
    return value


PackageEntry = Annotated[str, AfterValidator(_check_entry)]
ConstraintEntry = Annotated[str, AfterValidator(_check_constraint)]


def _check_date(value: Any) -> str:
    """Normalise ``exclude_newer`` to the text uv takes: a date or an RFC 3339 timestamp."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return str(value.isoformat()).replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
            try:
                parsed: dt.date = parse(value.replace("Z", "+00:00"))
                return _check_date(parsed)
            except ValueError:
                pass
    raise ValueError(
        f"invalid date {value!r}: expected a TOML date such as 2026-01-01"
        " or a timestamp such as 2026-01-01T00:00:00Z"
    )


PythonVersion = Annotated[str, BeforeValidator(_check_python)]
DateText = Annotated[str, BeforeValidator(_check_date)]


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

    def given(self) -> dict[str, Any]:
        """The fields the file sets, as JSON data: what a lock's inputs
        fingerprint (a default stays out, so a new field changes no lock)."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k in self.model_fields_set}


class EnvSection(_Frozen):
    python: tuple[PythonVersion, ...] = ()
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()
    system_site_packages: StrictBool = True
    exclude_newer: DateText | None = None
    index: IndexSection | None = None
    # The targets (specs/_targets/NAME.toml) to lock for; None: every target.
    targets: tuple[str, ...] | None = None


class DefaultVariant(_Frozen):
    """``[default]``: the engine-less variant's own entries (engines do not get
    them), or ``enabled = false`` for a model that only runs on an engine."""

    enabled: StrictBool = True
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()


class EngineVariant(_Frozen):
    defaults: StrictBool = True  # take the engine's packages from _engines.toml
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()
    # This variant's targets, in place of [env] targets; None: as [env].
    targets: tuple[str, ...] | None = None


class Spec(_Frozen):
    model: ModelSection
    env: EnvSection = Field(default_factory=EnvSection)
    default: DefaultVariant | None = None
    engines: dict[str, EngineVariant] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def has_default(self) -> bool:
        """The engine-less variant exists: it has packages (``env`` or
        ``default``) and ``[default] enabled`` is not false."""
        return has_default_variant(self.env.packages, self.default)

    def variants(self) -> list[str | None]:
        """Engine variants to lock: the engine-less default when the spec has
        one, then every engine it declares."""
        out: list[str | None] = [None] if self.has_default else []
        out.extend(sorted(self.engines))
        return out


def has_default_variant(env_packages: object, default: DefaultVariant | None) -> bool:
    if default is not None and not default.enabled:
        return False
    return bool(env_packages or (default is not None and default.packages))


class EngineDefaults(_Frozen):
    description: str | None = None
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once per file state
class Engines:
    """The engine defaults of a specs folder (``_engines.toml``)."""

    path: Path
    defaults: Mapping[str, EngineDefaults]

    @property
    def names(self) -> list[str]:
        return sorted(self.defaults)


def _check_override_entry(value: str) -> str:
    try:
        parse_entry(value, allow_remove=True)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    return value


OverrideEntry = Annotated[str, AfterValidator(_check_override_entry)]


def _check_base_python(value: str) -> str:
    if not value.strip() or "\0" in value:
        raise ValueError(
            f"invalid interpreter {value!r}: expected a path (or a command on PATH),"
            ' for example "/opt/conda/bin/python3.11"'
        )
    return value


class OverrideSection(_Frozen):
    packages: tuple[OverrideEntry, ...] = ()
    constraints: tuple[OverrideEntry, ...] = ()
    python: PythonVersion | None = None
    # The interpreter environments are layered on (relative: to the file's folder).
    base_python: Annotated[str, AfterValidator(_check_base_python)] | None = None


class Overrides(_Frozen):
    """The user's overrides file: ``[global]`` then ``[models.MODEL]``."""

    global_: OverrideSection = Field(default_factory=OverrideSection, alias="global")
    models: dict[str, OverrideSection] = Field(default_factory=dict)
