"""Repairing drift: an environment changed after its build (a package
upgraded, removed or added by hand) is rebuilt from its own lock copy.

Atomically like any build (building.py): under the environment's file lock,
built beside, its closure checked, swapped in whole; the environment keeps its
record's request key, so launches find it as before. An environment whose
spec changed since is not repaired but rebuilt by ``create``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from .building import build_env, cleanup_leftovers, refuse_if_in_use, swap
from .envlock import env_lock
from .errors import ModelenvError
from .fsutil import os_error, remove_path
from .host import inspect_interpreter
from .indexes import IndexSettings
from .lockfile import sha256_text
from .paths import Paths
from .plan import DEFAULT_ENGINE, make_plan
from .request import Request
from .store import LOCK_NAME, read_own, staging_path

__all__ = ["repair"]


def repair(
    paths: Paths,
    path: Path,
    record: dict[str, Any],
    *,
    index: IndexSettings | None = None,
    offline: bool = False,
) -> int:
    """Rebuild the environment at ``path`` from its lock copy; the number of
    packages installed. Raises ModelenvError when it cannot be repaired."""
    model, engine, python = record["model"], record["engine"], record["python"]
    label = f"{model} [{engine}, py{python}]"
    rebuild = f"modelenv create {model} --engine {engine} --python {python} --force"
    base = str(record.get("base", {}).get("executable", ""))
    if not os.path.exists(base):
        raise ModelenvError(
            f"{label}: its base interpreter {base} is gone, so it cannot be repaired",
            hint=f"rebuild it on another interpreter: {rebuild} --base-python PATH",
        )
    inspect_interpreter.cache_clear()  # the host may have drifted too
    request = Request(
        model=model,
        engine=None if engine == DEFAULT_ENGINE else engine,
        python=python,
        use_overrides=False,
        base_python=base,
        index=index or IndexSettings(),
    )
    plan = make_plan(paths, request, require_interpreter=True)
    target = record.get("target")
    if target:
        # Built from a target's lock: the target's plan, on the live interpreter.
        tplan = make_plan(paths, dataclasses.replace(request, target=str(target)))
        plan = dataclasses.replace(tplan, interpreter=plan.interpreter)
    interp = plan.interpreter
    assert interp is not None
    if plan.fingerprint() != record.get("lock_fingerprint") or interp.version != path.name:
        raise ModelenvError(
            f"{label}: its spec or base interpreter changed since it was built;"
            " it needs a new build, not a repair",
            hint=rebuild,
        )
    try:
        lock_text = read_own(path, LOCK_NAME).decode("utf-8")
    except OSError:
        lock_text = ""
    if sha256_text(lock_text) != record.get("lock_sha256"):
        raise ModelenvError(
            f"{label}: its lock copy {LOCK_NAME} is missing or was changed after the build",
            hint=rebuild,
        )
    if re.search(r"://([^/@\s]*:)?\*\*\*\*@", lock_text):
        raise ModelenvError(
            f"{label}: its lock copy names a URL whose credentials were masked when it was"
            " stored, so it cannot be installed again",
            hint=rebuild,
        )
    lock_file = record.get("lock_file")
    root = path.parent
    try:
        with env_lock(root / f".{path.name}.lock", f"repairing {label}"):
            cleanup_leftovers(root, path.name, lambda _msg: None)
            refuse_if_in_use(path)
            staging = staging_path(root, path.name)
            try:
                installed, _reused = build_env(
                    staging,
                    plan,
                    lock_text,
                    key=str(record.get("key", "")),
                    inputs=dict(record.get("launch") or {}),
                    lock_source=str(record.get("lock_source", "")),
                    skip_installed=bool(record.get("skip_installed")),
                    offline=offline,
                    target=str(target) if target else None,
                    # Built from the copy, not the committed lock: the record
                    # keeps the committed lock's stat from the original build, so
                    # a relock since is still a change (a target's lock too).
                    lock_file=list(lock_file) if lock_file else None,
                    home=paths.home,
                )
                refuse_if_in_use(path)  # again: a lease may have come during the build
                swap(staging, path)
            except BaseException:
                remove_path(staging)
                raise
    except OSError as exc:
        raise os_error(exc, f"cannot repair {label} in {root}") from None
    return len(installed)
