"""Building environments from locks: atomically, once under concurrency.

The order of events for a build, and why:
1. take the environment's file lock, then look again: another process may have
   finished the same build while we waited;
2. clean leftovers of builds that were killed (only safe under the lock);
3. build in ``.<X.Y.Z>.build-<pid>`` beside the final directory;
4. write the lock copy, then the record, last;
5. swap: the old environment (if any) is renamed aside, the new one renamed
   into place, the old one deleted. A SIGKILL at any moment leaves the old
   environment, or none, at the final path; never a half-built one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, uv
from .envlock import env_lock
from .errors import ModelenvError
from .fsutil import atomic_write, check_within, os_error, remove_path
from .host import host_facts, inspect_interpreter
from .indexes import mask_secrets
from .install import base_site_pth, check_closure, install_lock
from .leases import live_leases
from .lockfile import lock_path, parse_lock, sha256_text
from .locking import compile_lock
from .paths import Paths, display
from .plan import Plan, make_plan
from .request import Request
from .store import (
    LOCK_NAME,
    RECORD_FORMAT,
    RECORD_NAME,
    Environment,
    env_python,
    env_root,
    find_current,
    inputs_of,
    is_leftover,
    read_record,
    request_key,
    resolve_python,
    seal,
    stat_key,
)
from .ui import WARNING

__all__ = ["BuildReport", "ensure"]

# Tests set this to a file path; the build process then writes each step's name
# there before doing it, so that a test can SIGKILL it at a chosen moment.
_TRACE_VAR = "MODELENV_TEST_TRACE"


@dataclass(frozen=True)
class BuildReport:
    environment: Environment
    action: str  # "up to date", "created", "rebuilt", "revalidated"
    lock_source: str  # "committed" or "local"
    reason: str  # why the committed lock did not apply ("" when it did)
    installed: int
    reused: int
    target: str | None = None  # the target whose committed lock it was built from

    @classmethod
    def up_to_date(cls, env: Environment, action: str = "up to date") -> BuildReport:
        record = env.record
        return cls(
            env,
            action,
            record.get("lock_source", ""),
            "",
            0,
            len(record.get("reused", [])),
            record.get("target"),
        )


@dataclass(frozen=True)
class _Chosen:
    """The lock an environment is built from, and the plan to build it with."""

    text: str
    source: str  # "committed" or "local"
    reason: str  # why the committed lock did not apply ("" when it did)
    plan: Plan
    target: str | None = None  # the target whose committed lock this is
    # [path, stat_key] of the committed lock's file, taken before its text was
    # read: a relock after that moment is then a change the record shows.
    lock_file: list[Any] | None = None


def _trace(step: str) -> None:
    target = os.environ.get(_TRACE_VAR)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(step + "\n")
            f.flush()
            os.fsync(f.fileno())
        import time

        delay = os.environ.get("MODELENV_TEST_STEP_DELAY")
        if delay:
            time.sleep(float(delay))
        if os.environ.get("MODELENV_TEST_PAUSE_AT") == step:
            # Held here for the test to kill, however slow the machine (bounded).
            time.sleep(120)


def _read_committed(path: Path) -> tuple[str, list[Any]]:
    """A committed lock's text, and its record entry ([path, stat]) taken first."""
    entry = [str(path), stat_key(path)]
    return path.read_text(encoding="utf-8"), entry


def _committed_lock(paths: Paths, plan: Plan) -> tuple[Path | None, str]:
    """The committed lock if it applies on this host, else (None, why not)."""
    from .verify import examine

    path = lock_path(paths.locks, plan.spec.name, plan.engine_name, plan.python)
    check_within(paths.locks, path)  # never read through a link out of locks/
    check = examine(path, plan)
    if not check.ok:
        why = f"the committed lock {display(path)} {'is ' if check.problems == () else ''}"
        why += check.status.value
        if check.problems:
            why += " (" + "; ".join(map(str, check.problems[:3])) + ")"
        return None, why
    if plan.overridden:
        return None, "overrides or -p change the requirements"
    assert check.lock is not None and check.lock.header is not None
    header = check.lock.header
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
        return None, f"host versions differ from the committed lock ({diff})"
    return path, ""


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


def _cleanup_leftovers(root: Path, version: str, say: Callable[[str], None]) -> None:
    """Remove what killed builds left (only safe under the lock). One that cannot
    go is reported and left: it never stands in the way of a build or a launch."""
    for name in os.listdir(root):
        if is_leftover(name, version):
            why = remove_path(root / name)
            if why is not None:
                say(f"{WARNING}cannot remove {root / name}, left by a killed build: {why}")


def _build(
    staging: Path,
    plan: Plan,
    lock_text: str,
    *,
    key: str,
    inputs: dict[str, Any],
    lock_source: str,
    skip_installed: bool,
    offline: bool,
    target: str | None = None,
    lock_file: list[Any] | None = None,
    say: Callable[[str], None] = lambda _msg: None,
) -> tuple[list[str], list[str]]:
    interp = plan.interpreter
    assert interp is not None
    system_site = plan.spec.env.system_site_packages
    skip = skip_installed and system_site
    _trace("venv")
    result = uv.run(
        uv.venv_command(str(staging), interp.executable, system_site_packages=system_site)
    )
    if not result.ok:
        raise ModelenvError(f"uv venv failed for {display(staging)}:\n    {result.stderr.strip()}")
    if system_site and interp.is_venv:
        base_site_pth(staging, interp)
    _trace("install")
    installed, reused = install_lock(
        staging, lock_text, interp, skip_installed=skip, plan=plan, offline=offline, say=say
    )
    _trace("check")
    check_closure(staging, plan)
    _trace("lock-copy")
    # Credentials in a direct URL (-p 'a @ https://user:pw@host/a.whl') are
    # never stored: the copy (and its checksum in the record) has them masked.
    lock_text = mask_secrets(lock_text)
    atomic_write(staging / LOCK_NAME, lock_text)
    record = {
        "format": RECORD_FORMAT,
        "model": plan.spec.name,
        "engine": plan.engine_name,
        "python": plan.python,
        "key": key,
        "launch": inputs,
        "lock_source": lock_source,
        "target": target,
        # The committed lock's file as it was read: a relock (of a target's lock
        # too) is a change. A repair passes the record's own: it builds from the copy.
        "lock_file": lock_file,
        "lock_fingerprint": plan.fingerprint(),
        "lock_sha256": sha256_text(lock_text),
        "base": {
            "executable": interp.executable,
            "version": interp.version,
            "stat": stat_key(interp.executable),
        },
        "host_site": [[p, stat_key(p)] for p in interp.site_packages],
        "system_site_packages": system_site,
        "skip_installed": skip,
        "installed": installed,
        "reused": reused,
        "modelenv_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    _trace("record")
    atomic_write(staging / RECORD_NAME, json.dumps(seal(record), indent=2) + "\n")
    return installed, reused


def _revalidate(
    final: Path,
    plan: Plan,
    key: str,
    chosen: _Chosen,
    *,
    inputs: dict[str, Any],
    skip_installed: bool,
) -> Environment | None:
    """Keep an environment whose inputs changed in ways that do not concern it.

    A pip install into the base interpreter changes its site-packages' stat,
    and a comment edited in a spec changes its bytes: either sends launches to
    the slow path. When the environment was built from this very committed lock
    on this interpreter, with the same site-packages and skip-installed
    settings, and every package it reuses from the host is still there at the
    same version, only its record is refreshed: no rebuild.
    """
    record = read_record(final)
    interp = plan.interpreter
    if record is None or interp is None or not env_python(final).exists():
        return None
    system_site = plan.spec.env.system_site_packages
    base = record.get("base", {})
    if (
        record.get("lock_source") != "committed"
        or record.get("target") != chosen.target
        or record.get("lock_sha256") != sha256_text(chosen.text)
        or record.get("system_site_packages") != system_site
        or record.get("skip_installed") != (skip_installed and system_site)
        or base.get("executable") != interp.executable
        or base.get("version") != interp.version
    ):
        return None
    from .delta import satisfies

    for pin in record.get("reused", []):
        name, _, version = pin.partition("==")
        have = interp.packages.get(name)
        if have is None or not satisfies(have, version):
            return None  # a package the environment borrows from the host changed
    record = seal(
        {
            **record,
            "key": key,
            "launch": inputs,
            "lock_fingerprint": plan.fingerprint(),
            "lock_file": chosen.lock_file,
            "base": {**base, "stat": stat_key(interp.executable)},
            "host_site": [[p, stat_key(p)] for p in interp.site_packages],
        }
    )
    atomic_write(final / RECORD_NAME, json.dumps(record, indent=2) + "\n")
    return Environment(final, env_python(final), record)


def _swap(staging: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        _trace("swap-out")
        os.rename(final, old)
    _trace("swap-in")
    os.rename(staging, final)
    if old is not None:
        remove_path(old)  # what stays is a leftover the next build or gc reports


def _refuse_if_in_use(final: Path) -> None:
    """A rebuild replaces the environment's files: never under a running model."""
    users = [pid for pid in live_leases(final) if pid != os.getpid()]
    if users:
        raise ModelenvError(
            f"{display(final)} must be rebuilt, but process {', '.join(map(str, users))}"
            " is using it",
            hint="stop it and try again, or pass --force to rebuild under it",
        )


def _lock_text(
    paths: Paths,
    plan: Plan,
    request: Request,
    staging: Path,
    *,
    skip_installed: bool,
    offline: bool,
    say: Callable[[str], None],
) -> _Chosen:
    """The lock to build from: the matching target's committed lock, else the
    universal committed lock, else a local lock resolved for this host."""
    from .targetlock import choose_target, live_host, requested_target, target_lock

    target = choose_target(
        paths,
        plan,
        requested_target(request.target),
        lambda: live_host(plan),
        say,
        explicit=request.target is not None,
    )
    if target is not None:
        found = target_lock(paths, plan, request, target)
        if found.path is not None:
            text, entry = _read_committed(found.path)
            return _Chosen(text, "committed", "", found.plan, target, entry)
        committed, reason = None, found.reason
    else:
        committed, reason = _committed_lock(paths, plan)
    if committed is not None:
        text, entry = _read_committed(committed)
        return _Chosen(text, "committed", "", plan, None, entry)
    say(f"the committed lock does not apply: {reason}")
    staging.mkdir()
    try:
        local = staging / ".local-lock.txt"
        _resolve_local(paths, plan, local, skip_installed=skip_installed, offline=offline, say=say)
        return _Chosen(local.read_text(encoding="utf-8"), "local", reason, plan)
    finally:
        remove_path(staging)


def _make_root(home: Path, root: Path) -> None:
    """Create the environment's folder, never through a link out of the store."""
    store = home / "virtualenv"
    store.mkdir(parents=True, exist_ok=True)
    check_within(store, root.parent)
    root.mkdir(parents=True, exist_ok=True)
    check_within(store, root)


def _live_plan(paths: Paths, request: Request) -> Plan:
    """The plan for this host: its interpreter, and its facts when markers test them."""
    live_request = dataclasses.replace(request, target=None)
    plan = make_plan(paths, live_request, require_interpreter=True)
    if any(r.entry.has_facts for r in plan.merged.requirements):
        from .targetlock import live_host

        facts = live_host(plan).facts
        plan = make_plan(paths, live_request, require_interpreter=True, facts=facts)
    return plan


def ensure(
    paths: Paths,
    request: Request,
    *,
    skip_installed: bool = True,
    offline: bool = False,
    force: bool = False,
    wait: float | None = None,
    say: Callable[[str], None] = lambda _msg: None,
    announce: Callable[[str], None] | None = None,
) -> BuildReport:
    """The environment for ``request``, built if it is missing or out of date.

    ``wait`` bounds the wait for another process building the same environment
    (default: ``MODELENV_LOCK_TIMEOUT``, else :data:`envlock.DEFAULT_WAIT`);
    the wait is announced through ``announce`` (default: stderr), never silent.
    """
    if not force:
        current = find_current(paths, request, skip_installed=skip_installed)
        if current is not None:
            return BuildReport.up_to_date(current)
    # Identities, then the bytes, then the plan (which reads them again): an
    # edit at any moment in between leaves a record that names older files,
    # never one that calls the environment current for the newer ones.
    early = resolve_python(paths, request)
    if early is not None:
        inputs = inputs_of(paths, request, early, skip_installed=skip_installed)
        key = request_key(paths, request, early, skip_installed=skip_installed)
    # A long-running server may call this after the host changed: read it anew.
    inspect_interpreter.cache_clear()
    host_facts.cache_clear()
    try:
        plan = _live_plan(paths, request)
    except OSError as exc:
        raise os_error(exc, f"cannot plan {request.model}'s environment") from None
    for warning in plan.warnings:
        say(f"{WARNING}{warning}")
    interp = plan.interpreter
    assert interp is not None
    if early is None:  # the spec did not parse as plain TOML, yet planned: rare
        key = request_key(paths, request, plan.python, skip_installed=skip_installed)
    if early != plan.python:
        inputs = {}  # no launch identities: the launch path never serves it
    root = env_root(paths.home, plan.spec.name, plan.engine_name)
    label = f"{plan.spec.name} [{plan.engine_name}, py{interp.version}]"
    try:
        _make_root(paths.home, root)
        lock = root / f".{interp.version}.lock"
        with env_lock(lock, f"building {label}", wait=wait, say=announce):
            return _ensure_locked(
                paths,
                request,
                plan,
                root,
                key,
                inputs=inputs,
                skip_installed=skip_installed,
                offline=offline,
                force=force,
                say=say,
            )
    except OSError as exc:
        raise os_error(exc, f"cannot build {label} in {root}") from None


def _ensure_locked(
    paths: Paths,
    request: Request,
    plan: Plan,
    root: Path,
    key: str,
    *,
    inputs: dict[str, Any],
    skip_installed: bool,
    offline: bool,
    force: bool,
    say: Callable[[str], None],
) -> BuildReport:
    interp = plan.interpreter
    assert interp is not None
    final = root / interp.version
    _cleanup_leftovers(root, interp.version, say)
    if not force:
        # Another process may have built it while we waited for the lock.
        current = find_current(paths, request, skip_installed=skip_installed)
        if current is not None:
            return BuildReport.up_to_date(current)
    staging = root / f".{interp.version}.build-{os.getpid()}"
    chosen = _lock_text(
        paths, plan, request, staging, skip_installed=skip_installed, offline=offline, say=say
    )
    if chosen.source == "committed" and not force:
        kept = _revalidate(
            final, chosen.plan, key, chosen, inputs=inputs, skip_installed=skip_installed
        )
        if kept is not None:
            return BuildReport.up_to_date(kept, "revalidated")
    existed = final.exists()
    if existed and not force:
        _refuse_if_in_use(final)
    try:
        installed, reused = _build(
            staging,
            chosen.plan,
            chosen.text,
            key=key,
            inputs=inputs,
            lock_source=chosen.source,
            skip_installed=skip_installed,
            offline=offline,
            target=chosen.target,
            lock_file=chosen.lock_file,
            say=say,
        )
        if existed and not force:
            _refuse_if_in_use(final)  # again: a lease may have come during the build
        _swap(staging, final)
    except BaseException:
        remove_path(staging)
        raise
    env = Environment(final, env_python(final), read_record(final) or {})
    action = "rebuilt" if existed else "created"
    return BuildReport(
        env,
        action,
        chosen.source,
        chosen.reason,
        len(installed),
        len(reused),
        chosen.target,
    )
