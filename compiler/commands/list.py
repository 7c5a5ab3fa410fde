"""List the environments under the home, every layout (v1 to v4).

Status: ok; stale (its lock no longer matches the spec, or the spec is gone);
broken (no valid record: a build that never finished); partial (leftovers of
a killed build); legacy (a layout modelenv recognises but does not build);
with --verify, drifted (its packages no longer match its lock: see `modelenv
doctor`). --verify reads every dist-info of every environment: opt-in.
Sizes count a hard-linked file once. --json prints a stable document
(docs/commands.md#list).

With --ray, every alive node of the Ray cluster lists its own home; one table
with a NODE column (--json: {"nodes": [{"node", "home", "environments"}]}).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import context
from ._ray import add_ray_option

if TYPE_CHECKING:
    from ..paths import Paths
    from ..ui import UI


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
    add_ray_option(parser)


def run(args: argparse.Namespace) -> int:
    from ..manage import format_size, scan, select, spec_staleness

    paths, ui = context(args)
    if args.ray is not None:
        return _on_cluster(args, paths, ui)
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
    rows: list[tuple[str, ...]] = [
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
    _table(ui, rows)
    total = sum(e.size for e in entries)
    noun = "environment" if len(entries) == 1 else "environments"
    ui.info(f"{len(entries)} {noun}, {format_size(total)}")
    return 0


def _table(ui: UI, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        ui.result("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def _on_cluster(args: argparse.Namespace, paths: Paths, ui: UI) -> int:
    """One table (or JSON document) for every alive node, a NODE column first."""
    import json

    from ..manage import format_size
    from ..ray_nodes import on_every_node
    from ..ui import json_document
    from ._ray import node_argv

    argv = ["list", "--json"] + (["--verify"] if args.verify else [])
    for flag in ("model", "engine", "python"):
        if getattr(args, flag):
            argv += [f"--{flag}", getattr(args, flag)]
    answers = on_every_node(
        node_argv(args, paths, argv), address=None if args.ray == "auto" else args.ray, say=ui.info
    )
    nodes, failed = [], 0
    for a in answers:
        try:
            doc = json.loads(a.stdout) if a.returncode == 0 else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            failed += 1
            ui.warn(f"node {a.node}: " + (a.stderr.strip() or f"exit status {a.returncode}"))
            continue
        doc.pop("schema_version", None)
        nodes.append({"node": a.node, **doc})
    if args.json:
        ui.result(json_document({"nodes": nodes}))
        return 1 if failed else 0
    rows: list[tuple[str, ...]] = [
        ("NODE", "MODEL", "ENGINE", "PYTHON", "STATUS", "SIZE", "LAST USED", "PATH")
    ]
    count = total = 0
    for n in nodes:
        for e in n["environments"]:
            in_use = " (in use)" if e["in_use_by"] else ""
            rows.append(
                (
                    n["node"],
                    e["model"],
                    e["engine"] or "-",
                    e["python"] or "-",
                    e["status"] + in_use,
                    format_size(e["size"]),
                    (e["last_used"] or "-").replace("T", " "),
                    e["path"],
                )
            )
            count += 1
            total += e["size"]
    if count:
        _table(ui, rows)
    ui.info(f"{len(nodes)} nodes, {count} environments, {format_size(total)}")
    return 1 if failed else 0
