"""Which lock an environment is built from: the matching target's committed
lock, else the universal committed lock when it applies on this host, else a
local lock resolved for this host (starting from the committed pins)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelenvError
from .fsutil import check_within, remove_path
from .lockfile import lock_path, parse_lock
from .paths import Paths, display
from .plan import Plan
from .request import Request
from .store import stat_key

__all__ = ["Chosen", "choose_lock"]


@dataclass(frozen=True)
class Chosen:
    """The lock an environment is built from, and the plan to build it with."""

    text: str
    source: str  # "committed" or "local"
    reason: str  # why the committed lock did not apply ("" when it did)
    plan: Plan
    target: str | None = None  # the target whose committed lock this is
    # [path, stat_key] of the committed lock's file, taken before its text was
    # read: a relock after that moment is then a change the record shows.
    lock_file: list[Any] | None = None


def _read_committed(path: Path, checked: str) -> tuple[str, list[Any]]:
    """A committed lock's text, and its record entry ([path, stat]) taken first.
    Its body must be the one checked (``checked``: its sha256): a lock
    rewritten between the check and this read is never built unchecked."""
    from .lockfile import body_of, sha256_text

    entry = [str(path), stat_key(path)]
    text = path.read_text(encoding="utf-8")
    if sha256_text(body_of(text)) != checked:
        raise ModelenvError(
            f"{display(path)} changed while it was being read",
            hint="run the command again once the lock is written",
        )
    return text, entry


def _committed_lock(paths: Paths, plan: Plan) -> tuple[Path | None, str, str]:
    """The committed lock if it applies on this host, and its checked body's
    sha256; else (None, why not, "")."""
    from .verify import examine

    path = lock_path(paths.locks, plan.spec.name, plan.engine_name, plan.python)
    check_within(paths.locks, path)  # never read through a link out of locks/
    check = examine(path, plan)
    if not check.ok:
        why = f"the committed lock {display(path)} {'is ' if check.problems == () else ''}"
        why += check.status.value
        if check.problems:
            why += " (" + "; ".join(map(str, check.problems[:3])) + ")"
        return None, why, ""
    if plan.overridden:
        return None, "overrides or -p change the requirements", ""
    header = check.header  # the header only: the body was checked already
    assert header is not None
    from .targeting import same_version

    differ = [
        k
        for k in sorted(set(header.system) | set(plan.system))
        if not same_version(header.system.get(k), plan.system.get(k))
    ]
    if differ:
        diff = ", ".join(
            f"{k} {header.system.get(k) or 'absent'} in the lock, {plan.system.get(k) or 'absent'}"
            " on this host"
            for k in differ
        )
        return None, f"host versions differ from the committed lock ({diff})", ""
    assert check.read is not None
    return path, "", check.read.body.sha256


def _preferences(paths: Paths, plan: Plan, *, skip_installed: bool) -> str:
    """Where a local lock starts: the committed lock's pins, and the host's
    versions in place of those when the environment may reuse them. Never an
    earlier local lock: it was made for another request (another -p), and its
    pins would outlive it. Pins only, no hashes: those come from the index."""
    committed = lock_path(paths.locks, plan.spec.name, plan.engine_name, plan.python)
    try:
        check_within(paths.locks, committed)
        pins = {p.pin: p.name for p in parse_lock(committed.read_text(encoding="utf-8")).packages}
    except (OSError, UnicodeDecodeError, ModelenvError):
        pins = {}
    host = plan.interpreter.packages if (skip_installed and plan.interpreter) else {}
    lines = [pin for pin, name in pins.items() if name not in host]
    lines += [f"{name}=={version}" for name, version in sorted(host.items())]
    return "".join(f"{line}\n" for line in lines)


def _resolve_local(
    paths: Paths,
    plan: Plan,
    dest: Path,
    *,
    skip_installed: bool,
    offline: bool,
    say: Callable[[str], None],
) -> None:
    # Imported here: the lock compiler (and its error explainer) is needed only
    # when no committed lock applies, never on a create from a committed lock.
    from .locking import compile_lock

    say("resolving a local lock for this host (this needs the package index)")
    # uv reads the pins of its output file as preferences.
    preferences = _preferences(paths, plan, skip_installed=skip_installed)
    result = compile_lock(plan, dest, offline=offline, preferences=preferences)
    if not result.ok:
        raise ModelenvError(
            f"{plan.spec.name} [{plan.engine_name}, py{plan.python}]: resolution failed:\n"
            + "\n".join(f"    {line}" for line in result.error.splitlines()),
            hint="check the index settings with 'modelenv show'"
            + ("; --offline resolves only from uv's cache" if offline else ""),
        )


def choose_lock(
    paths: Paths,
    plan: Plan,
    request: Request,
    staging: Path,
    *,
    skip_installed: bool,
    offline: bool,
    say: Callable[[str], None],
) -> Chosen:
    """The lock to build from: the matching target's committed lock, else the
    universal committed lock, else a local lock resolved for this host."""
    from .targetlock import choose_targets, live_host, requested_target, target_lock

    targets = choose_targets(
        paths,
        plan,
        requested_target(request.target),
        lambda: live_host(plan),
        say,
        explicit=request.target is not None,
    )
    if targets:
        # The best match first; another target this host matches as well when
        # the first one's lock does not apply (missing, stale, edited).
        reasons: list[str] = []
        for target in targets:
            found = target_lock(paths, plan, request, target)
            if found.path is not None:
                if reasons:
                    say(
                        f"{'; '.join(reasons)}; using target {target}, which this host also matches"
                    )
                text, entry = _read_committed(found.path, found.body_sha256)
                return Chosen(text, "committed", "", found.plan, target, entry)
            reasons.append(found.reason)
        committed, reason, checked = None, "; ".join(reasons), ""
    else:
        committed, reason, checked = _committed_lock(paths, plan)
    if committed is not None:
        text, entry = _read_committed(committed, checked)
        return Chosen(text, "committed", "", plan, None, entry)
    say(f"the committed lock does not apply: {reason}")
    staging.mkdir()
    try:
        local = staging / ".local-lock.txt"
        _resolve_local(paths, plan, local, skip_installed=skip_installed, offline=offline, say=say)
        return Chosen(local.read_text(encoding="utf-8"), "local", reason, plan)
    finally:
        remove_path(staging)
