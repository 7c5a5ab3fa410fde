"""The marker environments a lock is checked in: a target's own values for a
target's lock, else every platform a universal lock covers, at the lock's
Python X.Y; and whether a marker holds in one of them (cached: a big lock
repeats its markers, and lock --check asks for every lock)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.markers import Marker

    from .plan import Plan

__all__ = ["Env", "applies", "describe", "environments", "universal_environments"]

# A marker environment, hashable for caching: sorted (variable, value) pairs.
Env = tuple[tuple[str, str], ...]


# The platforms a universal lock covers, each at the lock's X.Y (first and a
# late patch release: uv may split a pin on python_full_version).
_PLATFORMS = (
    ("posix", "linux", "Linux", "x86_64"),
    ("posix", "linux", "Linux", "aarch64"),
    ("posix", "darwin", "Darwin", "arm64"),
    ("posix", "darwin", "Darwin", "x86_64"),
    ("nt", "win32", "Windows", "AMD64"),
)
_PATCHES = ("0", "99")


def environments(plan: Plan) -> list[Env]:
    """The marker environments a plan's lock must hold in: a target's own
    values for a target's lock, else every platform a universal lock covers."""
    if plan.host is not None:
        return [_frozen({**plan.host.markers, "extra": ""})]
    return universal_environments(plan.python)


@functools.lru_cache(maxsize=64)
def universal_environments(python: str) -> list[Env]:
    out = []
    for os_name, sys_platform, system, machine in _PLATFORMS:
        for patch in _PATCHES:
            full = f"{python}.{patch}"
            values = {
                "implementation_name": "cpython",
                "implementation_version": full,
                "os_name": os_name,
                "platform_machine": machine,
                "platform_python_implementation": "CPython",
                "platform_release": "",
                "platform_system": system,
                "platform_version": "",
                "python_full_version": full,
                "python_version": python,
                "sys_platform": sys_platform,
                "extra": "",
            }
            out.append(_frozen(values))
    return out


def _frozen(values: Mapping[str, str]) -> Env:
    return tuple(sorted(values.items()))


def describe(env: Env) -> str:
    v = dict(env)
    return (
        f"{v.get('sys_platform', '?')} {v.get('platform_machine', '?')},"
        f" Python {v.get('python_full_version', '?')}"
    )


@functools.lru_cache(maxsize=65536)
def applies(marker: str | None, env: Env) -> bool:
    if not marker:
        return True
    parsed = _marker(marker)
    if parsed is None:
        return True  # a marker packaging cannot read is judged by the resolver, not here
    from packaging.markers import UndefinedEnvironmentName

    try:
        return parsed.evaluate(dict(env))
    except UndefinedEnvironmentName:
        return True


@functools.lru_cache(maxsize=4096)
def _marker(text: str) -> Marker | None:
    from packaging.markers import InvalidMarker, Marker

    try:
        return Marker(text)
    except InvalidMarker:
        return None
