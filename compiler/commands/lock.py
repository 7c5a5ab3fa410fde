"""Compile specs into pinned, hashed lockfiles: locks/<model>/<engine>/py<X.Y>.txt.

With no MODEL, every model; for each, every engine variant (and the engine-less
default when the spec has base packages) and every Python version it lists. A
lock whose fingerprint matches its spec is not recompiled; existing pins are
kept unless --upgrade or --upgrade-package.

Targets (specs/_targets/NAME.toml, see 'modelenv target'): each variant is also
locked for every target whose Python X.Y the spec lists (or those its [env] or
[engines.E] targets key names), at locks/<model>/<engine>/<target>.txt,
resolved for the target's Python version and platform with its installed
versions preferred. Which locks exist is decided in lockset.py.

--check is the offline gate for pre-commit and CI: no network, no uv, writes
nothing. Besides the header (fingerprint and body checksum), it verifies each
body against its spec (verify.py): every requirement and constraint pinned at a
satisfying version, #system_NAME# pins at the recorded host or target versions,
a hash for every entry, no package pinned twice. Exit 1 listing each lock that
fails, why, and the command that fixes it; with -v, also when locks were made
through different index settings.

--refresh-hashes relocks keeping every pin, so that every hash comes from the
current index (a lock made through a partial mirror carries fewer hashes).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..request import add_index_options
from . import context, folder_flags

if TYPE_CHECKING:
    from ..fsutil import Tree
    from ..locking import CompileResult
    from ..lockkey import LockKey
    from ..lockset import LockSet
    from ..paths import Paths
    from ..plan import Plan
    from ..progress import LockProgress
    from ..ui import UI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL", help="models (default: all)")
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="E",
        help="only this engine variant ('default' for the engine-less one)",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="X.Y",
        help="only this Python version (repeatable)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help="only this target's locks (repeatable); 'none' for the universal ones",
    )
    parser.add_argument(
        "--upgrade",
        "-U",
        action="store_true",
        help="ignore existing pins and take the newest allowed versions",
    )
    parser.add_argument(
        "--upgrade-package",
        "-P",
        action="append",
        default=[],
        metavar="NAME",
        help="upgrade only this package (repeatable)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="offline: exit 1 when a lock is missing, stale, edited by hand or orphaned;"
        " write nothing",
    )
    parser.add_argument(
        "--prune", action="store_true", help="remove locks that no spec produces any more"
    )
    parser.add_argument("--json", action="store_true", help="with --check: print a JSON document")
    parser.add_argument(
        "--refresh-hashes",
        action="store_true",
        help="keep every pin, fetch every hash again from the current index",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="uv processes at once (default: $MODELENV_JOBS, [tool.modelenv] jobs, else"
        " 4 per CPU, at most 16: resolving waits on the network more than on the CPU)",
    )
    parser.add_argument(
        "--base-python", metavar="PATH", help="interpreter whose versions pin #system_NAME# entries"
    )
    add_index_options(parser)
    parser.add_argument("--offline", action="store_true", help="resolve from uv's cache only")
    parser.add_argument(
        "--python-downloads",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let uv download a Python it cannot find for a version (default: no;"
        " $MODELENV_PYTHON_DOWNLOADS)",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..lockset import Selection, lock_set

    paths, ui = context(args)
    from ..fsutil import refuse_links_out, walk

    # One walk of locks/ serves the check for links out, and --check's search
    # for orphans and leftovers (lock itself walks again after writing).
    tree = walk(paths.locks) if paths.locks.is_dir() else None
    refuse_links_out(paths.locks, "locks", tree)
    if args.refresh_hashes and (args.check or args.upgrade or args.upgrade_package):
        raise UsageError("--refresh-hashes keeps every pin: not with --check or --upgrade")
    if args.json and not args.check:
        raise UsageError("--json goes with --check")
    args.jobs = _jobs(args.jobs)
    keys = lock_set(
        paths,
        Selection(
            models=tuple(args.models),
            engines=tuple(args.engine),
            pythons=tuple(args.python),
            targets=tuple(args.target),
            base_python=args.base_python,
        ),
    )
    if args.check:
        return _check(paths, ui, keys, args, tree)
    return _lock(paths, ui, keys, args)


def _orphans(
    paths: Paths, keys: LockSet, args: argparse.Namespace, tree: Tree | None = None
) -> list[Path]:
    from ..lockkey import orphan_locks

    # Only judge orphans over the whole set: a run limited to some models,
    # variants or targets does not know what the others expect.
    if args.models or args.engine or args.python or args.target:
        return []
    return orphan_locks(paths, {k.path(paths.locks) for k in keys.all}, tree)


def _broken(ui: UI, keys: LockSet) -> None:
    for key, why in keys.broken:
        print(f"modelenv: error: {key}: {why}", file=ui.err, flush=True)


def _check(paths: Paths, ui: UI, keys: LockSet, args: argparse.Namespace, tree: Tree | None) -> int:
    from ..lockcheck import check_locks, render_json, render_text

    orphans = _orphans(paths, keys, args, tree)
    found = check_locks(paths, keys.planned, keys.broken, orphans, tree)
    if args.json:
        ui.result(render_json(found, folder_flags(args)))
    else:
        render_text(found, ui, folder_flags(args))
    return 1 if found.problems else 0


def _lock(paths: Paths, ui: UI, keys: LockSet, args: argparse.Namespace) -> int:
    from ..errors import ModelenvError
    from ..fsutil import remove_stale_temps
    from ..paths import display
    from ..plan import make_plan
    from ..verify import Examiner, Status

    examine = Examiner().examine
    if paths.locks.is_dir():
        for tmp in remove_stale_temps(paths.locks):
            ui.info(f"removed     {display(tmp)} (left by a lock that was killed)")
    up_to_date = 0
    todo: list[tuple[LockKey, Plan]] = []
    for key, plan in keys.planned:
        status = examine(key.path(paths.locks), plan).status
        if args.refresh_hashes:
            if status is not Status.UP_TO_DATE:
                raise ModelenvError(
                    f"{display(key.path(paths.locks))} is {status.value}: --refresh-hashes"
                    " keeps its pins, so it must first satisfy its spec",
                    hint=f"run: {key.command()}",
                )
        elif status is Status.UP_TO_DATE and not (args.upgrade or args.upgrade_package):
            up_to_date += 1
            ui.detail(f"up to date  {key}")
            continue
        todo.append((key, plan))
    # Host facts are read once per interpreter, before the parallel part.
    from ..indexes import from_command_line
    from ..project import discover
    from ..request import Request

    cli_index = from_command_line(
        args.index_url, args.extra_index_url, args.find_links, args.no_index
    )
    project_index = discover().index()
    planned = []
    for key, plan in todo:
        request = Request(
            model=key.model,
            engine=plan.engine,
            python=key.python,
            use_overrides=False,
            base_python=args.base_python,
            base_beneath_venv=True,
            index=cli_index,
            project_index=project_index,
            target=key.target,
        )
        full = make_plan(paths, request)
        for warning in full.warnings:
            ui.warn(f"{key}: {warning}")
        planned.append((key, full))

    _broken(ui, keys)
    locked, failed = 0, len(keys.broken)
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from ..progress import LockProgress

    downloads = _python_downloads(args)  # once: it may read pyproject.toml
    with (
        LockProgress(ui, len(planned)) as progress,
        ThreadPoolExecutor(max_workers=args.jobs) as pool,
    ):
        futures = {
            pool.submit(_compile, paths, key, plan, args, downloads, progress): key
            for key, plan in planned
        }
        for future in as_completed(futures):
            key = futures[future]
            result = future.result()
            if result.ok:
                locked += 1
                progress.finished(
                    str(key),
                    f"locked      {key} -> {display(key.path(paths.locks))}"
                    f" ({result.packages} package{'s' if result.packages != 1 else ''})",
                )
            else:
                failed += 1
                progress.failed(str(key), result.error)

    orphans = _orphans(paths, keys, args)
    for orphan in orphans:
        if args.prune:
            try:
                orphan.unlink()
                _remove_empty_parents(orphan.parent, paths.locks)
            except OSError as exc:
                failed += 1
                ui.warn(f"cannot prune {display(orphan)}: {exc.strerror}")
                continue
            ui.info(f"pruned      {display(orphan)}")
        else:
            ui.info(f"orphaned    {display(orphan)} (no spec produces it; --prune removes it)")
    summary = f"{locked} locked, {up_to_date} up to date, {failed} failed"
    if orphans:
        summary += f", {len(orphans)} {'pruned' if args.prune else 'orphaned'}"
    ui.info(summary)
    return 1 if failed else 0


def _compile(
    paths: Paths,
    key: LockKey,
    plan: Plan,
    args: argparse.Namespace,
    python_downloads: bool,
    progress: LockProgress,
) -> CompileResult:
    from ..locking import compile_lock

    progress.started(str(key))
    return compile_lock(
        plan,
        key.path(paths.locks),
        upgrade=args.upgrade,
        upgrade_packages=args.upgrade_package,
        offline=args.offline,
        python_downloads=python_downloads,
        keep_pins=args.refresh_hashes,
    )


def _python_downloads(args: argparse.Namespace) -> bool:
    """--python-downloads, else $MODELENV_PYTHON_DOWNLOADS, else [tool.modelenv]."""
    if args.python_downloads is not None:
        return bool(args.python_downloads)
    raw = os.environ.get("MODELENV_PYTHON_DOWNLOADS", "").strip().lower()
    if raw:
        return raw in ("1", "true", "yes", "on")
    from ..project import discover

    return bool(discover().settings.get("python-downloads", False))


def _jobs(given: int | None) -> int:
    """--jobs, else $MODELENV_JOBS, else [tool.modelenv] jobs, else 4 per CPU (16 at most)."""
    from ..errors import UsageError

    if given is None:
        raw = os.environ.get("MODELENV_JOBS", "").strip()
        if raw:
            if not raw.isdigit():
                raise UsageError(f"MODELENV_JOBS must be a whole number, not {raw!r}")
            given = int(raw)
    if given is None:
        from ..project import discover

        configured = discover().settings.get("jobs")
        given = int(configured) if configured else min(16, 4 * (os.cpu_count() or 1))
    if given < 1:
        raise UsageError("--jobs must be 1 or more")
    return given


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
