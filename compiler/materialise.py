"""Environments for requests: found up to date, kept when only their record
is out of date, else built under the environment's file lock from the lock
:mod:`compiler.lockchoice` chooses, by :mod:`compiler.building` (which says
in what order a build happens, and why)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .building import build_env, cleanup_leftovers, make_root, refuse_if_in_use, swap
from .envlock import env_lock
from .fsutil import atomic_write, os_error, remove_path
from .host import host_facts, inspect_interpreter
from .lockchoice import Chosen, choose_lock
from .lockfile import sha256_text
from .paths import Paths
from .plan import Plan, make_plan
from .request import Request
from .store import (
    RECORD_NAME,
    Environment,
    env_python,
    env_root,
    find_current,
    inputs_of,
    read_record,
    request_key,
    resolve_python,
    seal,
    staging_path,
    stat_key,
)
from .ui import WARNING

__all__ = ["BuildReport", "ensure"]


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


def _revalidate(
    final: Path,
    plan: Plan,
    key: str,
    chosen: Chosen,
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
        # (caught mid-write). A key read now may be of bytes newer than the
        # plan's: none is recorded that a request could find; the next call checks.
        key = ""
    if early != plan.python:
        inputs = {}  # no launch identities: the launch path never serves it
    root = env_root(paths.home, plan.spec.name, plan.engine_name)
    label = f"{plan.spec.name} [{plan.engine_name}, py{interp.version}]"
    try:
        make_root(paths.home, root)
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
    cleanup_leftovers(root, interp.version, say)
    if not force:
        # Another process may have built it while we waited for the lock.
        current = find_current(paths, request, skip_installed=skip_installed)
        if current is not None:
            return BuildReport.up_to_date(current)
    staging = staging_path(root, interp.version)
    chosen = choose_lock(
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
        refuse_if_in_use(final)
    try:
        installed, reused = build_env(
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
            home=paths.home,
            say=say,
        )
        if existed and not force:
            refuse_if_in_use(final)  # again: a lease may have come during the build
        swap(staging, final)
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
