"""Print a model's effective requirements and constraints, each with where it
comes from, the Python version and base interpreter, and the index settings
(credentials masked). --json prints the same as a stable document
(docs/commands.md#show).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..request import add_request_options
from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    add_request_options(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON document")


def run(args: argparse.Namespace) -> int:
    from ..plan import make_plan
    from ..request import request_from_args

    paths, ui = context(args)
    plan = make_plan(paths, request_from_args(args, args.model))
    doc = plan_document(plan)
    if args.json:
        ui.result(json.dumps(doc, indent=2))
    else:
        ui.result(render_text(doc))
    for warning in plan.warnings:
        ui.warn(warning)
    return 0


def _item(req: Any, system: dict[str, str | None]) -> dict[str, Any]:
    from ..requirements import Kind

    entry = req.entry
    item: dict[str, Any] = {
        "requirement": entry.expand(system.get(entry.key)),
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
    return {
        "model": plan.spec.name,
        "engine": plan.engine_name,
        "python": plan.python,
        "base_interpreter": (
            None if interp is None else {"path": interp.executable, "version": interp.version}
        ),
        "requirements": [_item(r, plan.system) for r in plan.merged.requirements],
        "constraints": [_item(r, plan.system) for r in plan.merged.constraints],
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
    if "host_version" in item:
        host = item["host_version"]
        why += f", {item['written']}: " + (f"host has {host}" if host else "not on the host")
    if item["replaces"]:
        last = item["replaces"][-1]
        why += f", replaces {_origin(last['source'], last['layer'])}: {last['written']}"
    return why


def _rows(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["  (none)"]
    width = max(len(i["requirement"]) for i in items)
    return [f"  {i['requirement']:<{width}}   ({_why(i)})" for i in items]


def render_text(doc: dict[str, Any]) -> str:
    interp = doc["base_interpreter"]
    lines = [
        f"model:   {doc['model']}",
        f"engine:  {doc['engine']}",
        f"python:  {doc['python']}",
        "base:    "
        + (f"{interp['path']} (Python {interp['version']})" if interp else "(none found)"),
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
