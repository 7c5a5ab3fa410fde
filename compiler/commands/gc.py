"""Free space: remove broken environments and leftovers of killed builds,
legacy layouts (v1 to v3), environments whose spec no longer exists, those
unused for --older-than DAYS, and, with --max-size, the least recently used
until the home fits the budget. Environments in use are kept unless --force.

With --ray, gc runs on every alive node of the Ray cluster, each node against
its own home (and the same budget), and prints one table with a NODE column.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from . import context
from ._ray import add_ray_option
from .create import add_wait_option

if TYPE_CHECKING:
    from ..ui import UI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    parser.add_argument("--max-size", metavar="SIZE", help="size budget for the home, e.g. 50G")
    parser.add_argument(
        "--older-than",
        type=float,
        metavar="DAYS",
        help="remove environments not used for DAYS days",
    )
    parser.add_argument("--force", action="store_true", help="also remove environments in use")
    add_wait_option(parser)
    add_ray_option(parser)


def run(args: argparse.Namespace) -> int:
    from ..errors import ModelenvError, UsageError
    from ..manage import Entry, footprint, format_size, parse_size, remove_entry, scan

    paths, ui = context(args)
    if args.older_than is not None and not args.older_than >= 0:  # NaN too
        raise UsageError(f"--older-than takes a number of days, 0 or more; got {args.older_than:g}")
    budget = parse_size(args.max_size) if args.max_size else None
    if args.ray is not None:
        from ._ray import node_argv

        return _on_cluster(args, ui, node_argv(args, paths, _gc_argv(args)))
    entries = scan(paths)
    have_specs = bool(paths.model_names())
    if not have_specs:
        ui.warn(f"no specs in {paths.specs}: environments are not judged by their spec")
    now = time.time()
    doomed: dict[str, str] = {}  # path -> why
    held: dict[str, str] = {}  # path -> why it would go, were it not in use
    for e in entries:
        why = None
        if e.status in ("broken", "partial"):
            why = "broken" if e.status == "broken" else "leftover of a killed build"
        elif e.status == "legacy":
            why = f"legacy layout {e.layout}"
        elif have_specs and not paths.spec_path(e.model).is_file():
            why = "its spec no longer exists"
        elif args.older_than is not None and now - e.last_used > args.older_than * 86400:
            why = f"unused for {(now - e.last_used) / 86400:.0f} days"
        if why:
            doomed[str(e.path)] = why
    if budget is not None:
        # Everything that stays counts against the budget, including what gc
        # wanted to remove but must keep because it is in use.
        def stays(e: Entry) -> bool:
            return str(e.path) not in doomed or bool(e.leases and not args.force)

        remaining = [e for e in entries if stays(e)]
        for e in sorted(remaining, key=lambda e: e.last_used):
            if footprint(remaining) <= budget:
                break
            if e.leases and not args.force:
                held[str(e.path)] = f"least recently used (home over {format_size(budget)})"
                continue
            doomed[str(e.path)] = f"least recently used (home over {format_size(budget)})"
            # Recomputed each time: a file hard-linked into several environments
            # is freed only when the last of them goes.
            remaining.remove(e)
    kept = failed = 0
    gone: list[Entry] = []
    for e in entries:
        why = doomed.get(str(e.path)) or held.get(str(e.path))
        if why is None:
            continue
        if e.leases and not args.force:
            kept += 1
            users = ", ".join(map(str, e.leases))
            ui.info(f"kept    {e.path}: {why}, but in use by process {users} (--force removes it)")
            continue
        if args.dry_run:
            ui.result(f"would remove {e.path} ({format_size(e.size)}): {why}")
            gone.append(e)
            continue
        try:
            remove_entry(paths.home, e, force=args.force, wait=args.wait, say=ui.info)
        except ModelenvError as exc:
            failed += 1
            ui.warn(str(exc))
            continue
        gone.append(e)
        ui.result(f"removed {e.path} ({format_size(e.size)}): {why}")
    # What the removals freed, a file hard-linked into a kept environment excluded.
    gone_ids = {id(g) for g in gone}
    freed = footprint(entries) - footprint(e for e in entries if id(e) not in gone_ids)
    done = (
        f"would remove {len(gone)}, would free" if args.dry_run else f"{len(gone)} removed, freed"
    )
    ui.info(
        f"{done} {format_size(freed)}"
        + (f", {kept} kept" if kept else "")
        + (f", {failed} could not be removed" if failed else "")
    )
    return 1 if failed else 0


def _gc_argv(args: argparse.Namespace) -> list[str]:
    argv = ["gc"]
    if args.dry_run:
        argv.append("--dry-run")
    if args.max_size:
        argv += ["--max-size", args.max_size]
    if args.older_than is not None:
        argv += ["--older-than", str(args.older_than)]
    if args.force:
        argv.append("--force")
    if args.wait is not None:
        argv += ["--wait", str(args.wait)]
    return argv


def _on_cluster(args: argparse.Namespace, ui: UI, argv: list[str]) -> int:
    """gc on every alive node, each against its own home; one table."""
    from ..ray_nodes import on_every_node

    answers = on_every_node(argv, address=None if args.ray == "auto" else args.ray, say=ui.info)
    width = max(len("NODE"), *(len(a.node) for a in answers))
    ui.result(f"{'NODE'.ljust(width)}  RESULT")
    failed = 0
    for a in answers:
        lines = a.stdout.splitlines() + a.stderr.splitlines()
        for line in lines or ["(nothing to do)"]:
            ui.result(f"{a.node.ljust(width)}  {line}")
        failed += a.returncode != 0
    if failed:
        ui.warn(f"gc failed on {failed} of {len(answers)} nodes")
    return 1 if failed else 0
