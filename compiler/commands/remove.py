"""Remove environments: MODEL (narrowed by --engine and --python), or --all.

Takes each environment's lock, so it never races a build; refuses an
environment a live process uses unless --force; never deletes anything
outside the home. Exit 1 when nothing matched.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import context

if TYPE_CHECKING:
    from ..manage import Entry
    from ..ui import UI
from .create import add_wait_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", nargs="?", metavar="MODEL", help="the model whose environments to remove"
    )
    parser.add_argument("--engine", metavar="E", help="only this engine ('default' for none)")
    parser.add_argument("--python", metavar="X.Y", help="only this Python version")
    parser.add_argument("--all", action="store_true", help="every environment under the home")
    parser.add_argument("--force", action="store_true", help="remove even when in use")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be removed; remove nothing"
    )
    add_wait_option(parser)


def run(args: argparse.Namespace) -> int:
    from ..errors import ModelenvError, UsageError
    from ..manage import format_size, remove_entry, scan, select

    paths, ui = context(args)
    if args.model and args.all:
        raise UsageError("give either MODEL or --all, not both")
    if not args.model and not args.all:
        raise UsageError("give a MODEL or --all", hint="modelenv remove got-ocr2 --python 3.11")
    entries = select(scan(paths), args.model, args.engine, args.python)
    if not entries:
        what = "no environments" if args.all else f"no environment of {args.model!r} matches"
        ui.result(f"{what} under {paths.home}")
        return 1
    if args.dry_run:
        return _dry_run(ui, entries, force=args.force)
    freed = failed = 0
    for entry in entries:
        try:
            freed += remove_entry(paths.home, entry, force=args.force, wait=args.wait, say=ui.info)
        except ModelenvError as exc:
            failed += 1
            ui.warn(str(exc))
            continue
        ui.result(f"removed {entry.path} ({format_size(entry.size)})")
    ui.info(
        f"{len(entries) - failed} removed, {format_size(freed)} freed"
        + (f", {failed} refused" if failed else "")
    )
    return 1 if failed else 0


def _dry_run(ui: UI, entries: list[Entry], *, force: bool) -> int:
    from ..manage import format_size

    refused = [e for e in entries if e.leases and not force]
    for entry in entries:
        note = ""
        if entry in refused:
            pids = ", ".join(str(pid) for pid in entry.leases)
            note = f": in use by process {pids}, kept without --force"
        ui.result(f"would remove {entry.path} ({format_size(entry.size)}){note}")
    going = [e for e in entries if e not in refused]
    ui.info(
        f"would remove {len(going)}, would free {format_size(sum(e.size for e in going))}"
        + (f", {len(refused)} in use" if refused else "")
    )
    return 0
