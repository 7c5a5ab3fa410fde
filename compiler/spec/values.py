"""Single-value checks of modelenv's TOML files, shared by the fast builder
(:mod:`.fast`) and the pydantic reference schema (:mod:`.schema`), so both judge
a value by the same code. Each returns the (normalised) value or raises
:class:`ValueError` with the message a user reads. No pydantic here."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..requirements import EntryError, Kind, parse_entry
from .problems import describe

__all__ = [
    "INDEX_STRATEGIES",
    "MARKER_NAMES",
    "check_base_python",
    "check_constraint",
    "check_date",
    "check_entry",
    "check_full_version",
    "check_markers",
    "check_override_entry",
    "check_packages",
    "check_platform",
    "check_python",
    "check_version",
]

# The values of [env.index] strategy (schema.IndexStrategy spells the same as a Literal).
INDEX_STRATEGIES: tuple[str, ...] = ("first-index", "unsafe-first-match", "unsafe-best-match")
_PY_VERSION = re.compile(r"^3\.(0|[1-9][0-9]*)$")
_FULL_VERSION = re.compile(r"^3\.(0|[1-9]\d*)\.(0|[1-9]\d*)((a|b|rc)\d+)?$")
_PLATFORM = re.compile(
    r"^(linux|macos|windows"
    r"|(x86_64|aarch64)-manylinux(2014|_2_\d+)"
    r"|(x86_64|aarch64|riscv64|i686)-unknown-linux(-gnu|-musl)?"
    r"|(x86_64|aarch64)-apple-darwin"
    r"|(x86_64|aarch64|i686)-pc-windows-msvc)$"
)
MARKER_NAMES = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)


def check_entry(value: str) -> str:
    try:
        parse_entry(value)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    return value


def check_constraint(value: str) -> str:
    try:
        entry = parse_entry(value)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    if entry.kind is not Kind.REQUIREMENT:
        raise ValueError(f"invalid constraint {value!r}: constraints must be PEP 508 requirements")
    return value


def check_override_entry(value: str) -> str:
    try:
        parse_entry(value, allow_remove=True)
    except EntryError as exc:
        raise ValueError(str(exc)) from None
    return value


def check_python(value: Any) -> str:
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


def check_date(value: Any) -> str:
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
                return check_date(parsed)
            except ValueError:
                pass
    raise ValueError(
        f"invalid date {value!r}: expected a TOML date such as 2026-01-01"
        " or a timestamp such as 2026-01-01T00:00:00Z"
    )


def check_base_python(value: str) -> str:
    if not value.strip() or "\0" in value:
        raise ValueError(
            f"invalid interpreter {value!r}: expected a path (or a command on PATH),"
            ' for example "/opt/conda/bin/python3.11"'
        )
    return value


# --- targets (specs/_targets/NAME.toml)


def check_full_version(value: str) -> str:
    if not _FULL_VERSION.match(value):
        raise ValueError(f'invalid Python version {value!r}: expected X.Y.Z, for example "3.11.9"')
    return value


def check_platform(value: str) -> str:
    if not _PLATFORM.match(value):
        raise ValueError(
            f"unknown platform {value!r}: expected a value of 'uv pip compile"
            ' --python-platform\', for example "x86_64-manylinux_2_28" or "aarch64-apple-darwin"'
        )
    return value


def check_version(value: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        Version(value)
    except InvalidVersion:
        raise ValueError(f"invalid version {value!r}: expected a PEP 440 version") from None
    return value


def check_markers(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key not in MARKER_NAMES:
            raise ValueError(
                f"unknown marker variable {key!r}; PEP 508 names: {', '.join(MARKER_NAMES)}"
            )
    return value


def check_packages(value: dict[str, str]) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    for name, version in value.items():
        if canonicalize_name(name) != name:
            raise ValueError(
                f"package name {name!r} is not normalised: write {canonicalize_name(name)!r}"
            )
        try:
            check_version(version)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return value


def check_facts(has_cuda: bool, cuda_version: str | None) -> None:
    if cuda_version is not None and not has_cuda:
        raise ValueError(
            f"cuda_version = {cuda_version!r} with has_cuda = false;"
            " set has_cuda = true or remove cuda_version"
        )
