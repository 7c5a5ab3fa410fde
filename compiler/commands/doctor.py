"""Check environments against their locks: every locked package (whose markers
apply here) is installed at the locked version, in the environment or reused
from the host, and `uv pip check` is clean. Reports drift in plain words with
the command that repairs it; exit 1 when anything is wrong.

--fix rebuilds each drifted environment from its own lock copy, atomically
like any build (see repair.py). Drift is only ever found here (and by
`list --verify`): launching an environment checks file stats, not dist-infos.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..request import add_index_options
from . import context

if TYPE_CHECKING:
    from ..paths import Paths
    from ..ui import UI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", metavar="MODEL", help="only this model")
    parser.add_argument("--engine", metavar="E", help="only this engine ('default' for none)")
    parser.add_argument("--python", metavar="X.Y", help="only this Python version")
    parser.add_argument("--json", action="store_true", help="print a JSON document (no --fix)")
    parser.add_argument(
        "--fix",
        action="store_true",
        help="rebuild each environment with problems from its own lock copy",
    )
    add_index_options(parser, index_help="base package index (with --fix)")
    parser.add_argument(
        "--offline", action="store_true", help="install only from uv's cache and local find-links"
    )


def run(args: argparse.Namespace) -> int:
    from ..health import check_environment
    from ..manage import scan, select

    paths, ui = context(args)
    entries = [
        e
        for e in select(scan(paths, sizes=False), args.model, args.engine, args.python)
        if e.layout == "v4" and e.status != "partial"
    ]
    if args.json:
        return _json(paths, ui, args, entries)
    if not entries:
        asked = (("for", args.model), ("engine", args.engine), ("python", args.python))
        which = " ".join(f"{what} {value}" for what, value in asked if value)
        ui.info(f"no environments under {paths.home}" + (f" {which}" if which else ""))
        return 0
    bad = fixed = 0
    for e in entries:
        label = f"{e.model} [{e.engine}, py{e.python}]"
        if e.record is None:
            problems = ["no valid record (a build that never finished): 'modelenv gc' removes it"]
        else:
            problems = check_environment(e.path, e.record)
        if not problems:
            ui.result(f"ok      {label}")
            continue
        ui.result(f"problem {label}: {e.path}")
        for p in problems:
            ui.result(f"    {p}")
        if e.record is None:
            bad += 1
        elif args.fix:
            if _fix(paths, ui, args, e.path, e.record, label):
                fixed += 1
            else:
                bad += 1
        else:
            bad += 1
            ui.result(f"    fix: {_fix_command(e.path, e.record, e.model)}")
    healthy = len(entries) - bad - fixed
    ui.info(
        f"{healthy} healthy, "
        + (f"{fixed} repaired, " if args.fix else "")
        + f"{bad} with problems"
    )
    return 1 if bad else 0


def _fix_command(path: Path, record: dict[str, Any], model: str) -> str:
    from ..health import repairable

    if repairable(path, record):
        return f"modelenv doctor --fix {model}"
    return (
        f"modelenv create {model} --engine {record.get('engine')}"
        f" --python {record.get('python')} --force"
    )


def _fix(
    paths: Paths, ui: UI, args: argparse.Namespace, path: Path, record: dict[str, Any], label: str
) -> bool:
    """Repair one environment and check it again; True when it is healthy now."""
    from ..errors import ModelenvError
    from ..health import check_environment
    from ..indexes import from_command_line
    from ..repair import repair

    index = from_command_line(args.index_url, args.extra_index_url, args.find_links, args.no_index)
    try:
        installed = repair(paths, path, record, index=index, offline=args.offline)
    except ModelenvError as exc:
        ui.result(f"    not repaired: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        return False
    left = check_environment(path, _record_of(path))
    if left:
        ui.result(f"    still wrong after the repair: {'; '.join(left)}")
        return False
    ui.result(f"repaired {label}: rebuilt from its lock copy, {installed} installed")
    return True


def _record_of(path: Path) -> dict[str, Any]:
    from ..store import read_record

    return read_record(path) or {}


def _json(paths: Paths, ui: UI, args: argparse.Namespace, entries: list[Any]) -> int:
    """The same checks as one document (docs/commands.md#json-output)."""
    from ..errors import UsageError
    from ..health import check_environment
    from ..ui import json_document

    if args.fix:
        raise UsageError("--json reports only; run --fix without it")
    environments = []
    for e in entries:
        if e.record is None:
            problems = ["no valid record (a build that never finished): 'modelenv gc' removes it"]
        else:
            problems = check_environment(e.path, e.record)
        environments.append(
            {
                "model": e.model,
                "engine": e.engine,
                "python": e.python,
                "path": str(e.path),
                "ok": not problems,
                "problems": problems,
            }
        )
    ok = all(env["ok"] for env in environments)
    ui.result(json_document({"home": str(paths.home), "ok": ok, "environments": environments}))
    return 0 if ok else 1
