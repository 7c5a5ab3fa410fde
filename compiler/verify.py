"""Does a lock satisfy its spec? Offline, from the lock's text and the plan alone.

A header whose fingerprint and body checksum match proves only that nobody
edited the body after the header was written: a forged or hand-made header
passes that. :func:`verify` also reads the body and checks that:

- every merged requirement and constraint is pinned at a version that
  satisfies it, with markers evaluated for the lock's Python on each platform
  a universal lock covers;
- ``#system_NAME#`` pins equal the recorded host (or target) versions;
- every entry has at least one hash;
- no package is pinned twice for overlapping markers.

What it cannot see offline: whether a pinned package's own dependencies are
in the lock (the build checks the closure with ``uv pip check``) and whether a
hash is the real one (the install checks that).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from .bodycheck import Problem, body_check, head, is_version, own_problems
from .errors import ModelenvError
from .lockenvs import Env, applies, describe, environments, universal_environments
from .lockfile import Lock, LockedPackage

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from .lockfile import LockHeader
    from .lockread import ReadLock
    from .markers import FactValue
    from .merge import Merged
    from .plan import Plan

__all__ = [
    "Examiner",
    "Expected",
    "LockCheck",
    "Problem",
    "Status",
    "environments",
    "examine",
    "expected_of",
    "universal_environments",
    "verify_body",
]


class Status(str, Enum):
    UP_TO_DATE = "up to date"
    MISSING = "missing"
    STALE = "stale"
    EDITED = "edited by hand"
    UNREADABLE = "unreadable"
    INVALID = "does not satisfy its spec"


@dataclass(frozen=True)
class Expected:
    """One merged requirement or constraint, as uv was asked to satisfy it."""

    requirement: str  # expanded: #system_numpy# -> numpy==2.1.3
    written: str  # as in the spec
    origin: str  # file [table]
    constraint: bool = False
    system: str | None = None  # the canonical name of a #system_NAME# entry

    def __str__(self) -> str:
        shown = self.written
        if self.requirement != self.written:
            shown += f" (-> {self.requirement})"
        return f"{'constraint ' if self.constraint else ''}{shown} ({self.origin})"


@dataclass(frozen=True)
class LockCheck:
    status: Status
    problems: tuple[Problem, ...] = ()
    read: ReadLock | None = None  # the lock as read, when it could be

    @property
    def ok(self) -> bool:
        return self.status is Status.UP_TO_DATE

    @property
    def header(self) -> LockHeader | None:
        return None if self.read is None else self.read.header

    @property
    def lock(self) -> Lock | None:
        """The lock parsed (every entry: lock --check itself needs only the header)."""
        return None if self.read is None else self.read.lock


def expected_of(
    merged: Merged,
    system: Mapping[str, str | None],
    facts: Mapping[str, FactValue] | None = None,
) -> list[Expected]:
    """What a lock made from ``merged`` must satisfy: ``#system_NAME#`` expanded
    with ``system`` (canonical name -> version, None when the host has none),
    host-fact markers evaluated with ``facts`` (None: a universal lock's)."""
    from .plan import NO_FACTS
    from .requirements import Kind

    out = []
    for reqs, constraint in ((merged.requirements, False), (merged.constraints, True)):
        for r in reqs:
            is_system = r.entry.kind is Kind.SYSTEM
            text = r.entry.resolve(system.get(r.key), NO_FACTS if facts is None else facts)
            if text is None:
                continue  # its host facts exclude it: uv never saw it
            out.append(
                Expected(
                    requirement=text,
                    written=r.text,
                    origin=str(r.origin),
                    constraint=constraint,
                    system=r.key if is_system else None,
                )
            )
    return out


def examine(
    path: Path,
    plan: Plan,
    *,
    local: bool = False,
    system: Mapping[str, str | None] | None = None,
) -> LockCheck:
    """Offline: the lock at ``path`` against ``plan``.

    A committed lock (``local=False``) is made from the spec alone and checked
    against the host versions its header records, or ``system`` (a target's
    recorded versions); a local lock against the plan's merged requirements
    (overrides and ``-p`` included) and the plan's host versions.
    """
    return Examiner().examine(path, plan, local=local, system=system)


class Examiner:
    """:func:`examine` for many locks in one run (``lock --check``): a body
    that several locks share is decoded, hashed, parsed and checked on its own
    once (see lockread.py); what each lock's spec asks is checked every time."""

    def __init__(self) -> None:
        from .lockread import LockReader

        self._reader = LockReader()

    def examine(
        self,
        path: Path,
        plan: Plan,
        *,
        local: bool = False,
        system: Mapping[str, str | None] | None = None,
    ) -> LockCheck:
        """See :func:`examine`."""
        from .plan import FINGERPRINT_SCHEME

        try:
            read = self._reader.read(path)
        except FileNotFoundError:
            return LockCheck(Status.MISSING)
        except (OSError, UnicodeDecodeError):
            return LockCheck(Status.UNREADABLE)
        except ModelenvError as exc:
            return LockCheck(Status.UNREADABLE, (Problem("", "", exc.message),))
        header = read.header
        if header is None or header.scheme != FINGERPRINT_SCHEME:
            return LockCheck(Status.UNREADABLE, read=read)
        if header.fingerprint != plan.fingerprint():
            return LockCheck(Status.STALE, read=read)
        if not read.intact:
            return LockCheck(Status.EDITED, read=read)
        versions: Mapping[str, str | None]
        if local:
            merged, versions = plan.merged, plan.system
        else:
            merged = plan.spec_merged
            versions = header.system if system is None else system
        envs = environments(plan)
        own, by_name = body_check(read.body, envs)
        problems = [
            *own,
            *_expected_problems(expected_of(merged, versions, plan.facts), by_name, envs),
        ]
        if system is not None:
            problems += _recorded_versions(header.system, system)
        if problems:
            return LockCheck(Status.INVALID, tuple(problems), read)
        return LockCheck(Status.UP_TO_DATE, read=read)


def _recorded_versions(
    recorded: Mapping[str, str | None], wanted: Mapping[str, str | None]
) -> list[Problem]:
    return [
        Problem(
            f"#system_{name}#",
            "",
            f"#system_{name}#: the header records {recorded.get(name) or 'none'},"
            f" the host or target has {wanted.get(name) or 'none'}",
        )
        for name in sorted(set(recorded) | set(wanted))
        if recorded.get(name) != wanted.get(name)
    ]


def verify_body(
    packages: Sequence[LockedPackage], expected: Sequence[Expected], envs: Sequence[Env]
) -> list[Problem]:
    """Every way the body fails ``expected`` in the marker environments ``envs``
    (see :func:`environments`); empty when it holds."""
    own, by_name = own_problems(packages, envs)
    return [*own, *_expected_problems(expected, by_name, envs)]


def _expected_problems(
    expected: Sequence[Expected], by_name: Mapping[str, list[LockedPackage]], envs: Sequence[Env]
) -> list[Problem]:
    problems: list[Problem] = []
    for exp in expected:
        problems += _check_expected(exp, by_name, envs)
    return problems


def _check_expected(
    exp: Expected, by_name: Mapping[str, list[LockedPackage]], envs: Sequence[Env]
) -> list[Problem]:
    parsed = _requirement(exp.requirement)
    if parsed is None:
        return []  # not PEP 508 (a host-fact marker): nothing to check offline
    name, specifier, marker = parsed
    pins = by_name.get(name, [])
    problems: list[Problem] = []
    if marker is None and all(not p.marker for p in pins):
        applied = pins  # the common case: no marker anywhere, no platform to tell apart
        if not pins and not exp.constraint:
            problems.append(Problem(exp.requirement, "", f"{exp} is not pinned in the lock"))
    else:
        applied = []
        missing = None
        for env in envs:
            if not applies(marker, env):
                continue
            here = [p for p in pins if applies(p.marker, env)]
            if not here and missing is None:
                missing = env
            applied += [p for p in here if p not in applied]
        if missing is not None and not exp.constraint:
            where = f" for {describe(missing)}" if pins else ""
            problems.append(Problem(exp.requirement, "", f"{exp} is not pinned{where} in the lock"))
    for pin in applied:
        # A direct URL has no version to compare; a non-version is reported above.
        if pin.url is None and is_version(pin.version) and not _satisfies(specifier, pin.version):
            problems.append(Problem(exp.requirement, head(pin), _mismatch(exp, pin)))
    return problems


def _mismatch(exp: Expected, pin: LockedPackage) -> str:
    if exp.system is not None:
        recorded = exp.requirement.split("==", 1)[-1].split(";")[0].strip()
        return (
            f"#system_{exp.system}# must pin the recorded version {recorded},"
            f" the lock pins {head(pin)}"
        )
    return f"{exp} is pinned at {head(pin)}, which does not satisfy it"


@functools.lru_cache(maxsize=16384)
def _satisfies(specifier: SpecifierSet, version: str) -> bool:
    return specifier.contains(version, prereleases=True)


@functools.lru_cache(maxsize=4096)
def _requirement(text: str) -> tuple[str, SpecifierSet, str | None] | None:
    """(canonical name, specifier, marker) of a requirement; None when it is not
    PEP 508 (a host-fact marker that reached here)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from .lockfile import canonical

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    marker = str(req.marker) if req.marker is not None else None
    return canonical(req.name), req.specifier, marker
