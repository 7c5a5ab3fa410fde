"""A lock body's own problems, whatever spec it is checked against: an entry
without a hash or without a PEP 440 version, a package pinned twice for
overlapping markers; and its entries by name, for the checks of each
requirement (verify.py). Worked out once per body and set of marker
environments in a run (lockread.Body.derived)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .lockenvs import Env, applies, describe
from .lockfile import LockedPackage

if TYPE_CHECKING:
    from .lockfile import Scan
    from .lockread import Body

__all__ = [
    "OwnCheck",
    "Problem",
    "body_check",
    "head",
    "is_version",
    "overlaps",
    "own_problems",
    "scan_problems",
]


@dataclass(frozen=True)
class Problem:
    requirement: str  # "" for a problem of the lock as a whole
    pin: str  # the entry as locked, "" when there is none
    message: str

    def __str__(self) -> str:
        return self.message


# A body's own problems (an entry without a hash or a version, a package pinned
# twice), and its entries by name: what the checks of each requirement use.
OwnCheck = tuple[tuple[Problem, ...], Mapping[str, list[LockedPackage]]]


def own_problems(packages: Sequence[LockedPackage], envs: Sequence[Env]) -> OwnCheck:
    problems: list[Problem] = []
    by_name: dict[str, list[LockedPackage]] = {}
    for pkg in packages:
        by_name.setdefault(pkg.name, []).append(pkg)
        if not pkg.has_hash:
            problems.append(
                Problem("", head(pkg), f"{head(pkg)} has no hash: uv cannot install it")
            )
        if pkg.url is None and not is_version(pkg.version):
            problems.append(
                Problem("", head(pkg), f"{head(pkg)}: {pkg.version!r} is not a PEP 440 version")
            )
    for name, pins in by_name.items():
        if len(pins) > 1:
            problems += overlaps(name, pins, envs)
    return tuple(problems), by_name


def body_check(body: Body, envs: Sequence[Env]) -> OwnCheck:
    """:func:`own_problems`, once per body and set of environments."""
    key = tuple(envs)
    found: OwnCheck | None = body.derived.get(key)
    if found is None:
        if body.scan is not None:
            found = scan_problems(body.scan, envs)
        else:
            found = own_problems(body.packages, envs)
        body.derived[key] = found
    return found


class _ByName(Mapping[str, list[LockedPackage]]):
    """A scanned body's entries by name, each made when a check asks for it."""

    def __init__(self, scan: Scan, positions: dict[str, list[int]]) -> None:
        self._scan = scan
        self._positions = positions
        self._made: dict[str, list[LockedPackage]] = {}

    def __getitem__(self, name: str) -> list[LockedPackage]:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = [self._scan.package(i) for i in self._positions[name]]
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)


def scan_problems(scan: Scan, envs: Sequence[Env]) -> OwnCheck:
    """:func:`own_problems` for a scanned body, looking closer only at what
    may be wrong: every entry has a hash (the scan's shape says so), a version
    to check (cached by its text), and a name pinned once or more."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(scan.names):
        positions.setdefault(name, []).append(i)
    by_name = _ByName(scan, positions)
    problems: list[Problem] = []
    if not all(map(is_version, scan.versions)):
        for i, version in enumerate(scan.versions):
            if not is_version(version):
                pkg = scan.package(i)
                problems.append(
                    Problem("", head(pkg), f"{head(pkg)}: {version!r} is not a PEP 440 version")
                )
    for name, where in positions.items():
        if len(where) > 1:
            problems += overlaps(name, by_name[name], envs)
    return tuple(problems), by_name


def head(pkg: LockedPackage) -> str:
    return pkg.pin


def overlaps(name: str, pins: list[LockedPackage], envs: Sequence[Env]) -> list[Problem]:
    out = []
    for i, a in enumerate(pins):
        for b in pins[i + 1 :]:
            where = next((e for e in envs if applies(a.marker, e) and applies(b.marker, e)), None)
            if where is not None:
                out.append(
                    Problem(
                        "",
                        head(a),
                        f"{name} is pinned twice for overlapping markers ({head(a)} and"
                        f" {head(b)}; both apply on {describe(where)})",
                    )
                )
    return out


@functools.lru_cache(maxsize=16384)
def is_version(text: str) -> bool:
    # packaging before 26 raises InvalidVersion from SpecifierSet.contains for
    # one (a traceback in lock --check); from 26 on it is quietly "no match".
    from packaging.version import InvalidVersion, Version

    try:
        Version(text)
    except InvalidVersion:
        return False
    return True
