"""Targets: the hosts environments are layered on (specs/_targets/NAME.toml).

  modelenv target capture NAME [--python PATH] [--fact KEY=VALUE]... [--index-url URL]
                               [--extra-index-url URL]... [--find-links PATH]...
                               [--description TEXT]
      probe an interpreter (default: $MODELENV_BASE_PYTHON, else the one running
      modelenv, or the one beneath its venv, as 'create' layers on) and write its
      Python version, platform, host facts and every installed distribution to
      specs/_targets/NAME.toml. Run it inside the image.
      Facts: has_cuda, cuda_version, has_npu (docs/targets.md).
  modelenv target list
  modelenv target show NAME [--json]

When targets exist, 'modelenv lock' also writes locks/<model>/<engine>/<target>.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..request import add_index_options
from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..cli import common_options

    # The common options are the actions' too: 'target capture NAME -q' as 'lock -q'.
    common = common_options()
    sub = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(parser)
    )
    cap = sub.add_parser(
        "capture", help="write specs/_targets/NAME.toml from an interpreter", parents=[common]
    )
    cap.add_argument("name", metavar="NAME")
    cap.add_argument("--python", metavar="PATH", help="the interpreter to capture")
    cap.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a host fact (has_cuda, cuda_version, has_npu); repeatable",
    )
    add_index_options(cap, index_help="the target's base package index", no_index=False)
    cap.add_argument("--description", metavar="TEXT", help="what this host is")
    sub.add_parser("list", help="list the targets", parents=[common])
    show = sub.add_parser("show", help="print a target", parents=[common])
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print a JSON document")


def run(args: argparse.Namespace) -> int:
    action = {"capture": _capture, "list": _list, "show": _show}[args.action]
    return action(args)


def _capture(args: argparse.Namespace) -> int:
    from ..capture import (
        build_target,
        invalid_versions,
        package_changes,
        parse_fact,
        render_target,
    )
    from ..errors import UsageError
    from ..fsutil import atomic_write, check_within
    from ..host import host_facts
    from ..indexes import mask_url
    from ..paths import beneath_venv, display
    from ..spec.targets import TARGETS_DIR, check_target_file, check_target_name
    from ..spec.types import IndexSection

    paths, ui = context(args)
    why = check_target_name(args.name)
    if why:
        raise UsageError(why)
    path = paths.specs / TARGETS_DIR / f"{args.name}.toml"
    check_within(paths.specs, path.parent)  # a linked _targets/ would take the write out
    for fact in args.fact:
        parse_fact(fact)  # a typo is an error before the probe (nvidia-smi: up to 10 s)
    for url in [args.index_url or "", *args.extra_index_url]:
        if mask_url(url) != url:
            raise UsageError(
                f"{mask_url(url)}: a target file is committed; keep credentials out of"
                " its URLs (use a netrc file or the UV_INDEX_* variables)"
            )
    for link in args.find_links:
        if "://" not in link and not os.path.isdir(link):
            ui.warn(
                f"--find-links {link}: no such folder here; kept (locking leaves it out"
                " where it is missing)"
            )
    index = None
    if args.index_url or args.extra_index_url or args.find_links:
        fields = {
            "url": args.index_url,
            "extra_urls": tuple(args.extra_index_url),
            "find_links": _find_links(args.find_links, paths.specs / TARGETS_DIR),
        }
        index = IndexSection.of(**{k: v for k, v in fields.items() if v})
    # As 'create' finds its base: never modelenv's own venv (pipx, uv tool).
    executable = (
        args.python or os.environ.get("MODELENV_BASE_PYTHON") or beneath_venv() or sys.executable
    )
    ui.info(f"capturing   {executable}")
    host = host_facts(executable)
    target = build_target(host, facts=args.fact, index=index, description=args.description)
    for name, version in sorted(invalid_versions(host).items()):
        ui.warn(f"left out {name} {version}: not a PEP 440 version")
    old = check_target_file(path)[0] if path.is_file() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_target(args.name, target))
    facts = ", ".join(f"{k}={_fact(v)}" for k, v in target.facts.as_facts().items())
    ui.info(
        f"captured    {args.name}: Python {target.python.version} {target.python.platform},"
        f" {len(target.packages)} package{'' if len(target.packages) == 1 else 's'}, {facts}"
    )
    if old is not None:
        changes = package_changes(old, target)
        if changes:
            ui.info(f"changed     {', '.join(changes)}; its locks are stale: run modelenv lock")
        else:
            ui.info("unchanged   its locks stay valid")
    ui.result(display(path))
    return 0


def _find_links(links: list[str], folder: Path) -> tuple[str, ...]:
    """``--find-links`` as the file keeps it: a local path is relative to the
    current folder on the command line, and to the target file's folder in it."""
    return tuple(
        link
        if "://" in link or os.path.isabs(link)
        else os.path.relpath(os.path.abspath(link), folder.absolute())
        for link in links
    )


def _fact(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _list(args: argparse.Namespace) -> int:
    from ..paths import display
    from ..spec.targets import TARGETS_DIR, load_targets

    paths, ui = context(args)
    targets = load_targets(paths.specs)
    if not targets:
        ui.info(
            f"no targets in {display(paths.specs / TARGETS_DIR)};"
            " capture one with 'modelenv target capture NAME'"
        )
        return 0
    rows = [("NAME", "PYTHON", "PLATFORM", "CUDA", "PACKAGES", "CAPTURED")]
    for name, t in sorted(targets.items()):
        cuda = t.facts.cuda_version or ("yes" if t.facts.has_cuda else "no")
        at = t.capture.at.date().isoformat() if t.capture.at else "-"
        rows.append((name, t.python.version, t.python.platform, cuda, str(len(t.packages)), at))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        ui.result("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..names import did_you_mean
    from ..spec.targets import load_targets
    from ..spec.types import as_json

    paths, ui = context(args)
    targets = load_targets(paths.specs)
    target = targets.get(args.name)
    if target is None:
        raise UsageError(
            f"unknown target {args.name!r}{did_you_mean(args.name, targets)};"
            f" targets: {', '.join(sorted(targets)) or 'none'}"
        )
    doc = {"name": args.name, "fingerprint": target.fingerprint(), **as_json(target)}
    if args.json:
        ui.result(json.dumps(doc, indent=2))
        return 0
    lines = [f"target {args.name}"]
    if target.description:
        lines.append(f"  description: {target.description}")
    lines.append(f"  python:      {target.python.version} ({target.python.platform})")
    lines.append(
        "  facts:       " + ", ".join(f"{k}={_fact(v)}" for k, v in target.facts.as_facts().items())
    )
    if target.index is not None:
        for key, value in target.index.given_values().items():
            lines.append(f"  index.{key}: {value}")
    cap = target.capture
    lines.append(f"  captured:    {cap.at or '-'} from {cap.interpreter or '-'}")
    lines.append(f"  fingerprint: {target.fingerprint()}")
    lines.append(f"  packages ({len(target.packages)}):")
    lines += [f"    {k}=={v}" for k, v in target.packages.items()]
    ui.result("\n".join(lines))
    return 0
