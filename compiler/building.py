"""Building one environment beside its final path, then swapping it in.

The order of events for a build, and why:
1. take the environment's file lock, then look again: another process may have
   finished the same build while we waited (:mod:`compiler.materialise`);
2. clean leftovers of builds that were killed (only safe under the lock);
3. build in ``.<X.Y.Z>.build-staging`` beside the final directory (one name
   per environment: see :func:`compiler.store.staging_path`), starting from
   a copy of what ``uv venv`` made before (:mod:`compiler.venvtemplate`);
4. write the lock copy, then the record, last;
5. swap: the old environment (if any) is renamed aside, the new one renamed
   into place, the old one deleted. A SIGKILL at any moment leaves the old
   environment, or none, at the final path; never a half-built one.

``create`` (through :mod:`compiler.materialise`) and ``doctor --fix``
(:mod:`compiler.repair`) build with these.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ModelenvError
from .fsutil import atomic_write, check_within, remove_path
from .indexes import mask_secrets
from .install import base_site_pth, check_closure, install_lock
from .leases import live_leases
from .lockfile import sha256_text
from .paths import display
from .plan import Plan
from .store import LOCK_NAME, RECORD_FORMAT, RECORD_NAME, is_leftover, seal, stat_key
from .ui import WARNING
from .venvtemplate import make_venv

__all__ = [
    "TRACE_VAR",
    "build_env",
    "cleanup_leftovers",
    "make_root",
    "refuse_if_in_use",
    "swap",
    "trace",
]

# Tests set this to a file path; the build process then writes each step's name
# there before doing it, so that a test can SIGKILL it at a chosen moment.
TRACE_VAR = "MODELENV_TEST_TRACE"


def trace(step: str) -> None:
    target = os.environ.get(TRACE_VAR)
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


def make_root(home: Path, root: Path) -> None:
    """Create the environment's folder, never through a link out of the store."""
    store = home / "virtualenv"
    store.mkdir(parents=True, exist_ok=True)
    check_within(store, root.parent)
    root.mkdir(parents=True, exist_ok=True)
    check_within(store, root)


def cleanup_leftovers(root: Path, version: str, say: Callable[[str], None]) -> None:
    """Remove what killed builds left (only safe under the lock). One that cannot
    go is reported and left: it never stands in the way of a build or a launch.

    A build killed with SIGKILL (alone, not its process group) leaves its uv
    running on what it left. That uv is stopped first: deleting a folder under
    a running ``uv pip install`` can leave its interpreter without its
    ``pyvenv.cfg``, and uv then installs into the base interpreter.
    """
    from .children import stop_users

    for name in os.listdir(root):
        if is_leftover(name, version):
            still = stop_users(str(root / name))
            if still:
                pids = ", ".join(map(str, still))
                say(
                    f"{WARNING}{root / name}, left by a killed build, is still used by"
                    f" process {pids}; left for a later build or gc"
                )
                continue
            why = remove_path(root / name)
            if why is not None:
                say(f"{WARNING}cannot remove {root / name}, left by a killed build: {why}")


def build_env(
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
    home: Path | None = None,
    say: Callable[[str], None] = lambda _msg: None,
) -> tuple[list[str], list[str]]:
    interp = plan.interpreter
    assert interp is not None
    system_site = plan.spec.env.system_site_packages
    skip = skip_installed and system_site
    trace("venv")
    make_venv(staging, interp.executable, system_site=system_site, home=home)
    if system_site and interp.is_venv:
        base_site_pth(staging, interp)
    trace("install")
    installed, reused, reported = install_lock(
        staging, lock_text, interp, skip_installed=skip, plan=plan, offline=offline, say=say
    )
    trace("check")
    check_closure(staging, plan, reported)
    trace("lock-copy")
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
    trace("record")
    atomic_write(staging / RECORD_NAME, json.dumps(seal(record), indent=2) + "\n")
    return installed, reused


def swap(staging: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        trace("swap-out")
        os.rename(final, old)
    trace("swap-in")
    os.rename(staging, final)
    if old is not None:
        remove_path(old)  # what stays is a leftover the next build or gc reports


def refuse_if_in_use(final: Path) -> None:
    """A rebuild replaces the environment's files: never under a running model."""
    users = [pid for pid in live_leases(final) if pid != os.getpid()]
    if users:
        raise ModelenvError(
            f"{display(final)} must be rebuilt, but process {', '.join(map(str, users))}"
            " is using it",
            hint="stop it and try again, or pass --force to rebuild under it",
        )
