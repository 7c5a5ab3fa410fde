"""The spec schema (``specs/<model>.toml``, ``specs/_engines.toml``) and its loading.

Parse at the edge: a TOML file goes in, a frozen, validated :class:`Spec` comes
out, or a list of :class:`Problem` that each name the file, the field and the fix.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
)

from .errors import ModelenvError
from .names import check_model_name, did_you_mean
from .paths import ENGINES_FILE, display
from .requirements import EntryError, Kind, parse_entry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "INDEX_STRATEGIES",
    "EngineDefaults",
    "EngineVariant",
    "Engines",
    "EnvSection",
    "IndexSection",
    "ModelSection",
    "Problem",
    "Spec",
    "SpecError",
    "check_engines_file",
    "check_spec_file",
    "check_spec_text",
    "load_engines",
    "load_overrides",
    "load_spec",
]

INDEX_STRATEGIES = ("first-index", "unsafe-first-match", "unsafe-best-match")
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
        raise ValueError(f'expected a string such as "3.11", got {_describe(value)}')
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
    strategy: Literal["first-index", "unsafe-first-match", "unsafe-best-match"] | None = None
    no_build_isolation: StrictBool = False


class EnvSection(_Frozen):
    python: tuple[PythonVersion, ...] = ()
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()
    system_site_packages: StrictBool = True
    exclude_newer: DateText | None = None
    index: IndexSection | None = None


class EngineVariant(_Frozen):
    packages: tuple[PackageEntry, ...] = ()
    constraints: tuple[ConstraintEntry, ...] = ()


class Spec(_Frozen):
    model: ModelSection
    env: EnvSection = Field(default_factory=EnvSection)
    engines: dict[str, EngineVariant] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    def variants(self) -> list[str | None]:
        """Engine variants to lock: the engine-less default when the spec has base
        packages, then every engine it declares."""
        out: list[str | None] = [None] if self.env.packages else []
        out.extend(sorted(self.engines))
        return out


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


@dataclass(frozen=True)
class Problem:
    path: str
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"{self.path}: {self.field}: {self.message}"
        return f"{self.path}: {self.message}"


class SpecError(ModelenvError):
    """One or more problems in spec files."""

    def __init__(self, problems: Sequence[Problem], hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__(
            "\n".join(str(p) for p in self.problems),
            hint=hint
            or "run 'modelenv validate' to see every problem; docs/spec.md has the format",
        )


# Field names per table, for "did you mean" on unknown keys.
_FIELDS: dict[str, Iterable[str]] = {
    "": Spec.model_fields,
    "model": ModelSection.model_fields,
    "env": EnvSection.model_fields,
    "env.index": IndexSection.model_fields,
    "engines.*": EngineVariant.model_fields,
}
_ENGINE_FIELDS: dict[str, Iterable[str]] = {"*": EngineDefaults.model_fields}


def _read_toml(path: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    shown = display(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(shown, None, "no such file")]
    except OSError as exc:
        return None, [Problem(shown, None, f"cannot read: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(shown, None, f"not UTF-8 text (byte {exc.start})")]
    return _parse_toml(text, shown)


def _parse_toml(text: str, shown: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(shown, _toml_position(exc), f"invalid TOML: {_toml_message(exc)}")]
    except RecursionError:
        return None, [Problem(shown, None, "invalid TOML: nested too deeply")]


def _toml_position(exc: tomllib.TOMLDecodeError) -> str | None:
    lineno = getattr(exc, "lineno", None)
    if lineno is None:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        return f"line {match.group(1)}, column {match.group(2)}" if match else None
    return f"line {lineno}, column {getattr(exc, 'colno', '?')}"


def _toml_message(exc: tomllib.TOMLDecodeError) -> str:
    msg = getattr(exc, "msg", None) or re.sub(r"\s*\(at line \d+, column \d+\)$", "", str(exc))
    return str(msg)


def _field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            quoted = '"' + part.replace('"', '\\"') + '"'
            out += f".{quoted}" if out else quoted
    return out


def _table_key(loc: Sequence[int | str], engines_file: bool) -> str:
    if engines_file:
        return "*"
    if len(loc) >= 2 and loc[0] in ("engines", "models"):
        return f"{loc[0]}.*"
    return ".".join(str(p) for p in loc)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_toml_type(value)})"


def _toml_type(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
        dt.date: "date",
        dt.datetime: "datetime",
        dt.time: "time",
    }.get(type(value), type(value).__name__)


def _problems_from(
    exc: ValidationError,
    shown: str,
    *,
    engines_file: bool = False,
    fields: dict[str, Iterable[str]] | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        # The engines file is validated under a synthetic root key; drop it.
        loc = tuple(err["loc"])[1:] if engines_file else tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            table = _table_key(loc[:-1], engines_file)
            known = (fields or (_ENGINE_FIELDS if engines_file else _FIELDS)).get(table, ())
            problems.append(
                Problem(shown, _field_path(loc), f"unknown key {key!r}{did_you_mean(key, known)}")
            )
        elif kind == "missing":
            problems.append(Problem(shown, _field_path(loc), "required key is missing"))
        elif kind == "value_error":
            problems.append(Problem(shown, _field_path(loc), str(err["ctx"]["error"])))
        else:
            # "Input should be a valid string" -> "expected a string, got 3 (integer)"
            msg = err["msg"].replace("Input should be a valid ", "expected a ")
            msg = msg.replace("Input should be ", "expected ")
            # Say it in TOML's words, not Python's.
            msg = re.sub(r"a dictionary or instance of \w+|a dictionary", "a table", msg)
            msg = msg.replace("a tuple", "an array").replace("a list", "an array")
            msg = msg.replace(", unable to interpret input", "")
            msg = re.sub(r"^Value error, ", "", msg)
            problems.append(
                Problem(shown, _field_path(loc), f"{msg}, got {_describe(err['input'])}")
            )
    return problems


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


def _view_of(spec: Spec) -> _View:
    engines = {n: (v.packages, v.constraints) for n, v in spec.engines.items()}
    env = spec.env
    return _View(spec.model.name, env.python, env.packages, env.constraints, engines, True)


def _raw_view(data: dict[str, Any]) -> _View:
    def table(value: object) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    env = table(data.get("env"))
    raw_engines = data.get("engines", {})
    engines: object = None
    if isinstance(raw_engines, dict):
        engines = {
            n: (table(v).get("packages", ()), table(v).get("constraints", ()))
            for n, v in raw_engines.items()
        }
    return _View(
        table(data.get("model")).get("name"),
        env.get("python", ()),
        env.get("packages", ()),
        env.get("constraints", ()),
        engines,
        False,
    )


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
    problems += _duplicates(shown, "env.packages", view.packages, _key)
    problems += _duplicates(shown, "env.constraints", view.constraints, _key)
    variants = view.engines if isinstance(view.engines, dict) else {}
    for engine, (packages, constraints) in sorted(variants.items()):
        base = _field_path(("engines", engine))
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
    # Not judged from raw data: a misspelled table name would show up as
    # "no packages" on top of the unknown key that explains it.
    if view.validated and not view.packages and not view.engines:
        problems.append(
            Problem(
                shown,
                "env.packages",
                "the spec declares no packages; list requirements in env.packages"
                " or add an [engines.NAME] table",
            )
        )
    return problems


def _key(entry: str) -> str:
    return parse_entry(entry).key


def _duplicates(shown: str, field: str, items: object, key: Any) -> list[Problem]:
    """The same entry twice in a list; items that are not valid strings are
    reported elsewhere and skipped here."""
    if not isinstance(items, (list, tuple)):
        return []
    seen: dict[str, int] = {}
    problems = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            continue
        try:
            k = key(item)
        except EntryError:
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
    data, problems = _read_toml(path)
    if data is None:
        return None, problems
    return _check_spec_data(data, path, engines)


def check_spec_text(text: str, path: Path, engines: Engines | None) -> list[Problem]:
    """The problems of ``text`` if it were the spec file at ``path``."""
    data, problems = _parse_toml(text, display(path))
    if data is None:
        return problems
    return _check_spec_data(data, path, engines)[1]


def _check_spec_data(
    data: dict[str, Any], path: Path, engines: Engines | None
) -> tuple[Spec | None, list[Problem]]:
    shown = display(path)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        problems = _problems_from(exc, shown)
        return None, problems + _semantic_problems(_raw_view(data), path, shown, engines)
    problems = _semantic_problems(_view_of(spec), path, shown, engines)
    return (None if problems else spec), problems


def load_spec(path: Path, engines: Engines | None) -> Spec:
    spec, problems = check_spec_file(path, engines)
    if spec is None:
        raise SpecError(problems)
    return spec


class _EnginesRoot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    engines: dict[str, EngineDefaults]


def check_engines_file(path: Path) -> tuple[Engines | None, list[Problem]]:
    shown = display(path)
    data, problems = _read_toml(path)
    if data is None:
        return None, problems
    try:
        root = _EnginesRoot.model_validate({"engines": data})
    except ValidationError as exc:
        return None, _problems_from(exc, shown, engines_file=True)
    problems = []
    for name, defaults in sorted(root.engines.items()):
        field = _field_path((name,))
        why = check_model_name(name, "engine name")
        if why:
            problems.append(Problem(shown, field, why))
        problems += _duplicates(shown, f"{field}.packages", defaults.packages, _key)
        problems += _duplicates(shown, f"{field}.constraints", defaults.constraints, _key)
    if problems:
        return None, problems
    return Engines(path, dict(root.engines)), []


def load_engines(specs_dir: Path) -> Engines:
    """The engine defaults of ``specs_dir``; an empty set when it has no ``_engines.toml``."""
    path = specs_dir / ENGINES_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return Engines(path, {})
    return _load_engines_cached(path, st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=16)
def _load_engines_cached(path: Path, _mtime: int, _size: int, _ino: int) -> Engines:
    # Keyed by the file's stat: one parse per run however many specs use it,
    # and a fresh one when the file changes.
    engines, problems = check_engines_file(path)
    if engines is None:
        raise SpecError(problems)
    return engines


def _check_override_entry(value: str) -> str:
    try:
        parse_entry(value, allow_remove=True)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    return value


OverrideEntry = Annotated[str, AfterValidator(_check_override_entry)]


class OverrideSection(_Frozen):
    packages: tuple[OverrideEntry, ...] = ()
    constraints: tuple[OverrideEntry, ...] = ()
    python: PythonVersion | None = None


class Overrides(_Frozen):
    """The user's overrides file: ``[global]`` then ``[models.MODEL]``."""

    global_: OverrideSection = Field(default_factory=OverrideSection, alias="global")
    models: dict[str, OverrideSection] = Field(default_factory=dict)


_OVERRIDE_FIELDS: dict[str, Iterable[str]] = {
    "": ("global", "models"),
    "global": OverrideSection.model_fields,
    "models.*": OverrideSection.model_fields,
}


_OVERRIDES_HINT = "the overrides file format is in README.md ('Layers, first to last')"


def load_overrides(path: Path, known_models: Sequence[str]) -> Overrides:
    """Read an overrides file; an unknown model in it is an error that names it."""
    shown = display(path)
    data, problems = _read_toml(path)
    if data is None:
        raise SpecError(problems, hint=_OVERRIDES_HINT)
    try:
        overrides = Overrides.model_validate(data)
    except ValidationError as exc:
        raise SpecError(
            _problems_from(exc, shown, fields=_OVERRIDE_FIELDS), hint=_OVERRIDES_HINT
        ) from None
    for model in sorted(overrides.models):
        if model not in known_models:
            problems.append(
                Problem(
                    shown,
                    _field_path(("models", model)),
                    f"unknown model {model!r}{did_you_mean(model, known_models)};"
                    " overrides must name a model that has a spec",
                )
            )
    if problems:
        raise SpecError(problems, hint=_OVERRIDES_HINT)
    return overrides
