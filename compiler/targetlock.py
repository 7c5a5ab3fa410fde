"""At launch: which target the live host is, and whether that target's
committed lock (``locks/<model>/<engine>/<target>.txt``) applies.

Only the slow path comes here: an up-to-date environment is used without
matching targets again (its record names the target it was built for).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .host import HostFacts, host_facts
from .lockfile import lock_path
from .lockkey import target_change
from .names import did_you_mean
from .paths import Paths, display
from .plan import Plan, make_plan
from .request import Request
from .targeting import differences, match_target, variant_targets
from .ui import WARNING
from .verify import examine

__all__ = [
    "TARGET_VAR",
    "TargetLock",
    "choose_target",
    "choose_targets",
    "live_host",
    "requested_target",
]

TARGET_VAR = "MODELENV_TARGET"


def requested_target(explicit: str | None) -> str | None:
    """``--target`` / ``target=``, else ``$MODELENV_TARGET``; None: match the host."""
    return explicit or os.environ.get(TARGET_VAR) or None


def live_host(plan: Plan) -> HostFacts:
    """The live base interpreter's facts (one more probe, cached for the run)."""
    assert plan.interpreter is not None
    return host_facts(plan.interpreter.executable)


def choose_target(
    paths: Paths,
    plan: Plan,
    requested: str | None,
    live: Callable[[], HostFacts],
    say: Callable[[str], None],
    *,
    explicit: bool = True,
) -> str | None:
    """The target whose lock to use for ``plan`` on this host, or None (see
    :func:`choose_targets`)."""
    found = choose_targets(paths, plan, requested, live, say, explicit=explicit)
    return found[0] if found else None


def choose_targets(
    paths: Paths,
    plan: Plan,
    requested: str | None,
    live: Callable[[], HostFacts],
    say: Callable[[str], None],
    *,
    explicit: bool = True,
) -> list[str]:
    """The targets whose locks may be used for ``plan`` on this host, first
    choice first: the requested one, or every one the host matches; empty
    when there is none.

    A requested target is used as asked (a difference from the live host is
    a warning); otherwise the target is found by matching, and one line says
    which matched, or which came closest and how it differs.

    ``explicit``: ``requested`` came from --target / ``target=``. One from
    ``$MODELENV_TARGET`` is set for a whole host, so a model that is not
    locked for it (``[env] targets = []``, another Python) says so in one
    line and matches the host as if it were unset.
    """
    from .spec.targets import load_targets

    targets = load_targets(paths.specs)
    if not targets and requested is None:
        return []
    spec = plan.spec
    locked_for = set(variant_targets(spec, plan.engine_name, targets))
    allowed = {
        name: target
        for name, target in targets.items()
        if name in locked_for and target.xy == plan.python
    }
    label = f"{spec.name} [{plan.engine_name}, py{plan.python}]"
    if not explicit and requested in targets and requested not in allowed:
        say(f"{label} is not locked for target {requested} (${TARGET_VAR}); matching the host")
        requested = None
    if requested is not None:
        if requested not in targets:
            where = "" if explicit else f" (${TARGET_VAR})"
            raise UsageError(
                f"unknown target {requested!r}{where}{did_you_mean(requested, list(targets))};"
                f" targets: {', '.join(sorted(targets)) or 'none'}"
            )
        if requested not in allowed:
            xy = targets[requested].xy
            hint = (
                f"pass --python {xy} (python= in ensure_env())"
                if requested in locked_for
                else "see env.python and the targets keys ([env], [engines.NAME]) in its spec"
            )
            raise UsageError(
                f"target {requested!r} (Python {xy}) is not one {label} is locked for",
                hint=hint,
            )
        diff = differences(
            live(), HostFacts.from_target(requested, targets[requested]), plan.system
        )
        if diff:
            say(f"{WARNING}this host differs from target {requested}: {'; '.join(diff)}")
        return [requested]
    found = match_target(
        live(), {n: HostFacts.from_target(n, t) for n, t in allowed.items()}, plan.system
    )
    say(found.describe() if allowed else f"no target is for {label}")
    return found.matching


@dataclass(frozen=True)
class TargetLock:
    path: Path | None  # the target's committed lock, when it applies
    plan: Plan  # the target's plan, built on the live interpreter
    reason: str  # why it does not apply ("" when it does)
    body_sha256: str = ""  # of the body checked, when it applies


def target_lock(paths: Paths, plan: Plan, request: Request, target: str) -> TargetLock:
    """The committed lock of ``target`` for ``plan``'s request, if it applies.

    The returned plan is the target's (its ``#system_NAME#`` versions, facts,
    index settings and fingerprint) with the live interpreter to build on.
    """
    tplan = make_plan(paths, dataclasses.replace(request, target=target))
    tplan = dataclasses.replace(tplan, interpreter=plan.interpreter)
    path = lock_path(paths.locks, tplan.spec.name, tplan.engine_name, tplan.python, target)
    check = examine(path, tplan, system=tplan.system)
    if not check.ok:
        why = f"the lock for target {target} {display(path)} is {check.status.value}"
        if target_change(path, target, tplan.target_fingerprint):
            why += f" (target {target} was captured again since)"
        if check.problems:
            why += " (" + "; ".join(map(str, check.problems[:3])) + ")"
        return TargetLock(None, tplan, why)
    if tplan.overridden:
        return TargetLock(None, tplan, "overrides or -p change the requirements")
    assert check.read is not None
    return TargetLock(path, tplan, "", check.read.body.sha256)
