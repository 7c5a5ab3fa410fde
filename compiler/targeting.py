"""Which captured target a live host is: the launch-time choice of a lock.

A target matches the live base interpreter when it has the same Python X.Y.Z
and platform, the same host facts (a target captured with ``has_cuda = true``
never matches a host without CUDA) and the same version, local label
included, of every package the spec pins with ``#system_NAME#``. Other
installed packages may differ: the install delta reuses what still satisfies
the lock and installs the rest. Pure functions over :class:`HostFacts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .host import HostFacts

if TYPE_CHECKING:
    from .spec import Spec, Target

__all__ = ["TargetMatch", "differences", "match_target", "same_version", "variant_targets"]


def same_version(a: str | None, b: str | None) -> bool:
    """Equal as PEP 440 versions (``2.13.0+cpu`` equals only ``2.13.0+cpu``)."""
    if a is None or b is None:
        return a is b
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def variant_targets(spec: Spec, engine: str, targets: Mapping[str, Target]) -> list[str]:
    """The targets a spec variant is locked for: its ``[engines.E] targets``,
    else ``[env] targets``, else every target; only those of a Python X.Y that
    ``env.python`` lists (any, when it lists none)."""
    variant = spec.engines.get(engine) if engine != "default" else None
    chosen = variant.targets if variant is not None and variant.targets is not None else None
    if chosen is None:
        chosen = spec.env.targets
    names = sorted(targets) if chosen is None else list(chosen)
    listed = spec.env.python
    return [n for n in names if n in targets and (not listed or targets[n].xy in listed)]


def _fact(value: object) -> str:
    if value is None:
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def differences(live: HostFacts, target: HostFacts, system: Iterable[str]) -> list[str]:
    """How ``live`` differs from ``target``, in words: "torch 2.5.1 here, 2.13.0+cpu
    in the target"; empty when the target matches."""
    out = []
    if live.python != target.python:
        out.append(f"Python {live.python} here, {target.python} in the target")
    if live.platform != target.platform:
        out.append(f"platform {live.platform} here, {target.platform} in the target")
    for fact in sorted(set(live.facts) | set(target.facts)):
        here, there = live.facts.get(fact), target.facts.get(fact)
        if here != there:
            out.append(f"{fact} {_fact(here)} here, {_fact(there)} in the target")
    for key in sorted(set(system)):
        here_v, there_v = live.version_of(key), target.version_of(key)
        if not same_version(here_v, there_v):
            out.append(f"{key} {here_v or 'absent'} here, {there_v or 'absent'} in the target")
    return out


@dataclass(frozen=True)
class TargetMatch:
    matched: str | None  # the target this host is
    closest: str | None = None  # when none matches: the one with the fewest differences
    differences: tuple[str, ...] = ()  # the closest one's
    also: tuple[str, ...] = ()  # the other targets it matches, best first

    @property
    def matching(self) -> list[str]:
        """Every target this host matches, best first."""
        return [] if self.matched is None else [self.matched, *self.also]

    def describe(self) -> str:
        """One line for the user."""
        if self.matched is not None:
            also = f" (and {', '.join(self.also)})" if self.also else ""
            return f"this host matches target {self.matched}{also}"
        if self.closest is None:
            return "no target is for this model's Python version"
        return (
            f"no target matches this host; the closest, {self.closest}, differs:"
            f" {'; '.join(self.differences)}"
        )


def match_target(
    live: HostFacts, targets: Mapping[str, HostFacts], system: Iterable[str]
) -> TargetMatch:
    """The target ``live`` matches, else the closest one and how it differs.

    When several match (images that differ only in packages the spec does
    not pin with ``#system_NAME#``), the one whose installed packages agree
    most with the host's is this host: its lock leaves the smallest delta.
    Then the first by name; the others it matches follow, in that order (a
    build falls back to them when the first one's lock does not apply)."""
    keys = list(system)
    scored = sorted(
        (len(diff), _package_disagreements(live, target) if not diff else 0, name, diff)
        for name, target in targets.items()
        for diff in [differences(live, target, keys)]
    )
    if not scored:
        return TargetMatch(None)
    count, _, name, diff = scored[0]
    if count == 0:
        also = tuple(other for n, _, other, _ in scored[1:] if n == 0)
        return TargetMatch(name, also=also)
    return TargetMatch(None, name, tuple(diff))


def _package_disagreements(live: HostFacts, target: HostFacts) -> int:
    """How many distributions one has and the other lacks, or has at another version."""
    names = set(live.packages) | set(target.packages)
    return sum(
        live.version_of(n) != target.version_of(n)
        and not same_version(live.version_of(n), target.version_of(n))
        for n in names
    )
