"""List the environments under the home, every layout (v1 to v4).

Status: ok; stale (its lock no longer matches the spec, or the spec is gone);
broken (no valid record: a build that never finished); partial (leftovers of
a killed build); legacy (a layout modelenv recognises but does not build);
with --verify, drifted (its packages no longer match its lock: see `modelenv
doctor`). --verify reads every dist-info of every environment: opt-in.
Sizes count a hard-linked file once. --json prints a stable document
(docs/commands.md#list).
"""

from __future__ import annotations

import argparse

from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="M", help="only this model")
    parser.add_argument("--engine", metavar="E", help="only this engine ('default' for none)")
    parser.add_argument("--python", metavar="X.Y", help="only this Python version")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also check each environment's packages against its lock (slower)",
    )


def run(args: argparse.Namespace) -> int:
    from ..manage import format_size, scan, select, spec_staleness

    paths, ui = context(args)
    entries = select(
        scan(paths, is_stale=spec_staleness(paths)), args.model, args.engine, args.python
    )
    if args.verify:
        from ..health import check_environment

        for e in entries:
            if e.status == "ok" and e.record is not None and check_environment(e.path, e.record):
                e.status = "drifted"
    if args.json:
        from ..ui import json_document

        ui.result(
            json_document({"home": str(paths.home), "environments": [e.as_json() for e in entries]})
        )
        return 0
    if not entries:
        ui.info(f"no environments under {paths.home}")
        return 0
    rows = [
        (
            "MODEL",
            "ENGINE",
            "PYTHON",
            "LAYOUT",
            "STATUS",
            "INST/REUSED",
            "SIZE",
            "LAST USED",
            "PATH",
        )
    ]
    for e in entries:
        data = e.as_json()
        status = e.status + (" (in use)" if e.leases else "")
        pkgs = f"{e.installed}/{e.reused}" if e.record else "-"
        rows.append(
            (
                e.model,
                e.engine or "-",
                e.python or "-",
                e.layout,
                status,
                pkgs,
                format_size(e.size),
                (data["last_used"] or "-").replace("T", " "),
                str(e.path),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        ui.result("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    total = sum(e.size for e in entries)
    ui.info(f"{len(entries)} environments, {format_size(total)}")
    return 0
