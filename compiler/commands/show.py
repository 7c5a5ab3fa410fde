"""Print a model's effective requirements and constraints, each with where it
comes from, the Python version and base interpreter, and the index settings
(credentials masked). --json prints the same as a stable document
(docs/commands.md#show).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..request import add_request_options
from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model: the name of a spec in specs/")
    add_request_options(parser)
    parser.add_argument(
        "--target",
        metavar="NAME",
        help="plan for this target (specs/_targets/NAME.toml): its Python, versions and facts",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document")


def run(args: argparse.Namespace) -> int:
    from ..plan import make_plan
    from ..request import request_from_args

    paths, ui = context(args)
    request = dataclasses.replace(request_from_args(args, args.model), target=args.target)
    plan = make_plan(paths, request)
    doc = plan_document(plan)
    # Credentials in any URL (a direct URL given with -p, an index) are masked.
    from ..indexes import mask_secrets

    if args.json:
        from ..ui import json_document

        ui.result(mask_secrets(json_document(doc)))
    else:
        ui.result(mask_secrets(render_text(doc)))
    for warning in plan.warnings:
        ui.warn(mask_secrets(warning))
    return 0


def _item(req: Any, system: dict[str, str | None], facts: Any) -> dict[str, Any]:
    from ..plan import NO_FACTS
    from ..requirements import Kind

    entry = req.entry
    item: dict[str, Any] = {
        # None: host facts leave it out on this host (or target).
        "requirement": entry.resolve(system.get(entry.key), NO_FACTS if facts is None else facts),
        "written": entry.text,
        "key": entry.key,
        "source": req.origin.source,
        "layer": req.origin.layer,
        "replaces": [
            {"written": e.text, "source": o.source, "layer": o.layer} for e, o in req.replaced
        ],
    }
    if entry.kind is Kind.SYSTEM:
        item["host_version"] = system.get(entry.key)
    return item


def plan_document(plan: Any) -> dict[str, Any]:
    interp = plan.interpreter
    host = plan.host
    return {
        "model": plan.spec.name,
        "engine": plan.engine_name,
        "python": plan.python,
        "base_interpreter": (
            None if interp is None else {"path": interp.executable, "version": interp.version}
        ),
        "target": (
            None
            if host is None
            else {
                "name": plan.target,
                "python": host.python,
                "platform": host.platform,
                "facts": dict(host.facts),
            }
        ),
        "requirements": [_item(r, plan.system, plan.facts) for r in plan.merged.requirements],
        "constraints": [_item(r, plan.system, plan.facts) for r in plan.merged.constraints],
        "removed": [
            {"key": e.key, "source": o.source, "layer": o.layer} for e, o in plan.merged.removed
        ],
        "index": plan.index.masked(),
        "fingerprint": plan.fingerprint(),
        "overridden": plan.overridden,
        "warnings": list(plan.warnings),
    }


def _origin(source: str, layer: str) -> str:
    return f"{source} [{layer}]" if layer else source


def _why(item: dict[str, Any]) -> str:
    why = _origin(item["source"], item["layer"])
    if item["requirement"] is None:
        why += f", {item['written']}: left out, its host facts do not hold"
    elif "host_version" in item:
        host = item["host_version"]
        why += f", {item['written']}: " + (f"host has {host}" if host else "not on the host")
    if item["replaces"]:
        last = item["replaces"][-1]
        why += f", replaces {_origin(last['source'], last['layer'])}: {last['written']}"
    return why


def _rows(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["  (none)"]
    shown = [i["requirement"] or f"({i['key']})" for i in items]
    width = max(len(r) for r in shown)
    return [f"  {r:<{width}}   ({_why(i)})" for r, i in zip(shown, items, strict=True)]


def render_text(doc: dict[str, Any]) -> str:
    interp = doc["base_interpreter"]
    target = doc.get("target")
    if target:
        base = f"target {target['name']} (Python {target['python']}, {target['platform']})"
    else:
        base = f"{interp['path']} (Python {interp['version']})" if interp else "(none found)"
    lines = [
        f"model:   {doc['model']}",
        f"engine:  {doc['engine']}",
        f"python:  {doc['python']}",
        "base:    " + base,
        "requirements:",
        *_rows(doc["requirements"]),
        "constraints:",
        *_rows(doc["constraints"]),
    ]
    if doc["removed"]:
        lines.append("removed:")
        lines += [f"  {r['key']}   ({_origin(r['source'], r['layer'])})" for r in doc["removed"]]
    lines.append("index:")
    if not doc["index"]:
        lines.append("  (uv defaults: https://pypi.org/simple)")
    for key, setting in doc["index"].items():
        value = setting["value"]
        shown = (
            " ".join(value)
            if isinstance(value, list)
            else str(value).lower()
            if isinstance(value, bool)
            else value
        )
        lines.append(f"  {key.replace('_', '-')}: {shown}   ({setting['source']})")
    lines.append(f"fingerprint: {doc['fingerprint']}")
    return "\n".join(lines)
