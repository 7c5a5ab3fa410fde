"""Print what another tool needs to run a model in its environment.

--ray prints a Ray runtime_env as JSON: workers start through
'modelenv run --exec MODEL ... -- python' on their node, which builds the
model's environment from its committed lock once and reuses it after.

example:
  ray job submit --runtime-env-json "$(modelenv export got-ocr2 --ray)" -- python serve.py
"""

from __future__ import annotations

import argparse

from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model: the name of a spec in specs/")
    parser.add_argument(
        "--ray", action="store_true", help="a Ray runtime_env (JSON) for ray job submit"
    )
    parser.add_argument("--engine", metavar="E", help="engine variant")
    parser.add_argument(
        "--python", metavar="X.Y", help="the cluster's Python (default: this interpreter's)"
    )
    parser.add_argument("--target", metavar="T", help="the target the nodes run on")
    parser.add_argument(
        "-p",
        "--package",
        dest="packages",
        action="append",
        default=[],
        metavar="REQ",
        help="an extra requirement (each node then resolves a local lock)",
    )
    parser.add_argument(
        "--working-dir",
        nargs="?",
        const=True,
        default=False,
        metavar="DIR",
        help="ship specs/ and locks/ to the nodes: alone, a copy of them; with DIR,"
        " that folder (it must hold both)",
    )
    parser.add_argument(
        "--launcher",
        default="modelenv",
        metavar="CMD",
        help="how a node runs modelenv (default: 'modelenv' on the worker's PATH)",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import UsageError
    from ..host import running_xy
    from ..ray import build

    paths, ui = context(args)
    if not args.ray:
        raise UsageError(
            "export needs a format: --ray (the only one so far)",
            hint=f"modelenv export {args.model} --ray",
        )
    env = build(
        args.model,
        engine=args.engine,
        python=args.python or running_xy(),
        target=args.target,
        packages=args.packages,
        home=getattr(args, "home", None),
        specs=paths.specs,
        locks=paths.locks,
        working_dir=args.working_dir,
        launcher=args.launcher,
    )
    ui.result(json.dumps(env, indent=2))
    return 0
