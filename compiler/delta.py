"""The install delta: which locked packages go into an environment, and which
the host already has.

A pure function of the lock, the host's installed versions and its marker
values. The order matters and is the fix for counting what never happened:
1. a lock entry whose marker excludes the environment's interpreter is not
   part of it at all: neither installed nor reused nor counted;
2. an entry the host has at a satisfying version (PEP 440, so a host
   ``2.13.0+cpu`` satisfies both ``==2.13.0`` and ``==2.13.0+cpu``) is reused;
3. everything else is installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .lockfile import LockedPackage

__all__ = ["Delta", "applies", "install_delta", "satisfies"]


def satisfies(installed: str, pinned: str) -> bool:
    """Does an installed version satisfy the exact pin ``==pinned`` (PEP 440)?

    ``==2.13.0`` ignores the local label of what is installed (``2.13.0+cpu``
    satisfies it); ``==2.13.0+cpu`` needs that very label. Versions that are not
    PEP 440 fall back to exact text, as pip does with ``===``.
    """
    from packaging.specifiers import InvalidSpecifier, Specifier
    from packaging.version import InvalidVersion, Version

    if not pinned:
        return False  # a direct URL: nothing to compare, always installed
    try:
        return Specifier(f"=={pinned}").contains(Version(installed), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return installed == pinned


def applies(marker: str, environment: Mapping[str, str]) -> bool:
    """Does a lock entry's marker hold for an interpreter's PEP 508 values?

    An empty marker always holds. uv writes only PEP 508 markers into a lock:
    host-fact markers (``has_cuda``) are settled before uv resolves.
    """
    if not marker.strip():
        return True
    from packaging.markers import Marker

    return Marker(marker).evaluate(dict(environment))


@dataclass(frozen=True)
class Delta:
    install: tuple[LockedPackage, ...]
    reuse: tuple[LockedPackage, ...]
    excluded: tuple[LockedPackage, ...]  # markers exclude this interpreter

    @staticmethod
    def pins(packages: Iterable[LockedPackage]) -> list[str]:
        """``name==version`` for a record (``name`` alone for a direct URL)."""
        return [f"{p.name}=={p.version}" if p.version else p.name for p in packages]


def install_delta(
    packages: Iterable[LockedPackage],
    host: Mapping[str, str] | None,
    environment: Mapping[str, str],
) -> Delta:
    """Split a lock for an environment layered on a host.

    ``host`` maps canonical names to the versions the environment can reuse
    (None: reuse nothing); ``environment`` holds the PEP 508 marker values of
    the environment's interpreter.
    """
    install: list[LockedPackage] = []
    reuse: list[LockedPackage] = []
    excluded: list[LockedPackage] = []
    for pkg in packages:
        if not applies(pkg.marker, environment):
            excluded.append(pkg)
            continue
        have = None if host is None else host.get(pkg.name)
        if have is not None and satisfies(have, pkg.version):
            reuse.append(pkg)
        else:
            install.append(pkg)
    return Delta(tuple(install), tuple(reuse), tuple(excluded))
