"""Targets: the hosts environments are layered on (``specs/_targets/NAME.toml``).

A target is captured from a host's interpreter by ``modelenv target capture``
and records its Python version and platform, its PEP 508 marker values, its
host facts, every installed distribution and optional index settings. Locks
are made per target (see :mod:`compiler.locking`); its content fingerprint is
part of each of its locks' inputs.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictBool, ValidationError, model_validator

from ..names import check_model_name
from ..paths import display
from .problems import Problem, SpecError, problems_from, read_toml
from .schema import IndexSection, _Frozen

__all__ = [
    "TARGETS_DIR",
    "CaptureSection",
    "FactsSection",
    "PythonSection",
    "Target",
    "check_target_file",
    "check_target_name",
    "load_targets",
    "target_files",
]

TARGETS_DIR = "_targets"
_FULL_VERSION = re.compile(r"^3\.(0|[1-9]\d*)\.(0|[1-9]\d*)((a|b|rc)\d+)?$")
_PLATFORM = re.compile(
    r"^(linux|macos|windows"
    r"|(x86_64|aarch64)-manylinux(2014|_2_\d+)"
    r"|(x86_64|aarch64|riscv64|i686)-unknown-linux(-gnu|-musl)?"
    r"|(x86_64|aarch64)-apple-darwin"
    r"|(x86_64|aarch64|i686)-pc-windows-msvc)$"
)
_MARKER_NAMES = (
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


def _check_full_version(value: str) -> str:
    if not _FULL_VERSION.match(value):
        raise ValueError(f'invalid Python version {value!r}: expected X.Y.Z, for example "3.11.9"')
    return value


def _check_platform(value: str) -> str:
    if not _PLATFORM.match(value):
        raise ValueError(
            f"unknown platform {value!r}: expected a value of 'uv pip compile"
            ' --python-platform\', for example "x86_64-manylinux_2_28" or "aarch64-apple-darwin"'
        )
    return value


def _check_version(value: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        Version(value)
    except InvalidVersion:
        raise ValueError(f"invalid version {value!r}: expected a PEP 440 version") from None
    return value


def _check_markers(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key not in _MARKER_NAMES:
            raise ValueError(
                f"unknown marker variable {key!r}; PEP 508 names: {', '.join(_MARKER_NAMES)}"
            )
    return value


def _check_packages(value: dict[str, str]) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    for name, version in value.items():
        if canonicalize_name(name) != name:
            raise ValueError(
                f"package name {name!r} is not normalised: write {canonicalize_name(name)!r}"
            )
        try:
            _check_version(version)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return value


class PythonSection(_Frozen):
    version: Annotated[str, AfterValidator(_check_full_version)]
    platform: Annotated[str, AfterValidator(_check_platform)]


class FactsSection(_Frozen):
    """Host facts that markers may test (see :data:`compiler.markers.FACTS`)."""

    has_cuda: StrictBool = False
    cuda_version: Annotated[str, AfterValidator(_check_version)] | None = None
    has_npu: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> FactsSection:
        if self.cuda_version is not None and not self.has_cuda:
            raise ValueError(
                f"cuda_version = {self.cuda_version!r} with has_cuda = false;"
                " set has_cuda = true or remove cuda_version"
            )
        return self

    def as_facts(self) -> dict[str, bool | str | None]:
        return {
            "has_cuda": self.has_cuda,
            "cuda_version": self.cuda_version,
            "has_npu": self.has_npu,
        }


class CaptureSection(_Frozen):
    """When and from what the target was captured (not part of its fingerprint)."""

    at: dt.datetime | None = None
    interpreter: str | None = None
    modelenv: str | None = None
    cuda_from: str | None = None
    facts_given: tuple[str, ...] = ()


class Target(_Frozen):
    description: str | None = None
    python: PythonSection
    facts: FactsSection = Field(default_factory=FactsSection)
    markers: Annotated[dict[str, str], AfterValidator(_check_markers)] = Field(default_factory=dict)
    index: IndexSection | None = None
    packages: Annotated[dict[str, str], AfterValidator(_check_packages)] = Field(
        default_factory=dict
    )
    capture: CaptureSection = Field(default_factory=CaptureSection)

    @property
    def xy(self) -> str:
        return ".".join(self.python.version.split(".")[:2])

    def content(self) -> dict[str, Any]:
        """What locks depend on: everything but the description and the capture record."""
        index = self.index
        return {
            "python": self.python.model_dump(mode="json"),
            "facts": self.facts.as_facts(),
            "markers": dict(sorted(self.markers.items())),
            "index": None if index is None else index.given(),
            "packages": dict(sorted(self.packages.items())),
        }

    def fingerprint(self) -> str:
        """sha256 of :meth:`content`; computed once (lock plans every model for it)."""
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:
        blob = json.dumps(self.content(), sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()


_FIELDS: dict[str, Iterable[str]] = {
    "": Target.model_fields,
    "python": PythonSection.model_fields,
    "facts": FactsSection.model_fields,
    "index": IndexSection.model_fields,
    "capture": CaptureSection.model_fields,
}


def check_target_name(name: str) -> str | None:
    """Why ``name`` cannot name a target (its lock is ``<name>.txt`` beside ``py<X.Y>.txt``)."""
    why = check_model_name(name, "target name")
    if why:
        return why
    if re.match(r"^py\d", name):
        return (
            f"invalid target name {name!r}: names starting 'py' and a digit are kept"
            " for the universal locks (py<X.Y>.txt)"
        )
    return None


def target_files(specs_dir: Path) -> list[Path]:
    folder = specs_dir / TARGETS_DIR
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".toml" and not p.name.startswith(".") and p.is_file()
    )


def check_target_file(path: Path) -> tuple[Target | None, list[Problem]]:
    """Validate one target file: the target when valid, and every problem found."""
    shown = display(path)
    problems: list[Problem] = []
    why = check_target_name(path.stem)
    if why:
        problems.append(Problem(shown, None, f"{why}; rename the file"))
    data, read_problems = read_toml(path, path.parent.parent)  # inside specs/
    if data is None:
        return None, problems + read_problems
    try:
        target = Target.model_validate(data)
    except ValidationError as exc:
        return None, problems + problems_from(exc, shown, _FIELDS)
    return (None if problems else target), problems


@functools.lru_cache(maxsize=256)
def _check_cached(
    path: Path, _mtime: int, _size: int, _ino: int
) -> tuple[Target | None, list[Problem]]:
    # Keyed by the file's stat: lock plans every model for every target, and
    # parses each target file once per run (again when it changes).
    return check_target_file(path)


def load_targets(specs_dir: Path) -> dict[str, Target]:
    """Every target in ``specs_dir/_targets`` by name; :class:`SpecError` naming
    every problem when any file is invalid; empty when there are none."""
    out: dict[str, Target] = {}
    problems: list[Problem] = []
    for path in target_files(specs_dir):
        try:
            st = path.stat()
        except OSError:
            continue  # removed meanwhile
        target, found = _check_cached(path, st.st_mtime_ns, st.st_size, st.st_ino)
        problems += found
        if target is not None:
            out[path.stem] = target
    if problems:
        raise SpecError(problems, hint="recapture with 'modelenv target capture', or fix the file")
    return out
