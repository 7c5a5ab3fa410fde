"""Write specs/NAME.toml from a template; never overwrites an existing spec.

Give at least one -p REQ or --engine E; the new spec is validated before it is
written.

example:
  modelenv new got-ocr2 -p transformers==4.37.2 -p '#system_torch#' --python 3.11
"""

from __future__ import annotations

import argparse

from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="model name (lowercase, e.g. got-ocr2)")
    parser.add_argument(
        "-p",
        "--package",
        dest="packages",
        action="append",
        default=[],
        metavar="REQ",
        help="a requirement or #system_NAME# placeholder (repeatable)",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="X.Y",
        help="a Python version the model supports (repeatable)",
    )
    parser.add_argument(
        "--engine",
        dest="engines",
        action="append",
        default=[],
        metavar="E",
        help="an engine variant, defined in specs/_engines.toml (repeatable)",
    )
    parser.add_argument("--description", default=None, help="one line about the model")


def run(args: argparse.Namespace) -> int:
    from ..errors import ModelenvError, UsageError
    from ..fsutil import create_new
    from ..names import check_model_name, did_you_mean
    from ..paths import display
    from ..render import render
    from ..spec import SpecError, check_spec_text, load_engines

    paths, ui = context(args)
    why = check_model_name(args.name)
    if why:
        raise UsageError(why)
    if not args.packages and not args.engines:
        raise UsageError(
            "a spec needs packages: give at least one -p REQ or --engine E",
            hint=f"modelenv new {args.name} -p 'transformers==4.37.2'",
        )
    removals = [p for p in args.packages if p.strip().startswith("!")]
    if removals:
        raise UsageError(f"a new spec cannot remove packages; drop {removals[0]!r}")
    engines = load_engines(paths.specs)
    for engine in args.engines:
        if engine not in engines.defaults:
            raise UsageError(
                f"unknown engine {engine!r}{did_you_mean(engine, engines.names)}; engines"
                f" defined in {display(engines.path)}: {', '.join(engines.names) or 'none'}"
            )
    target = paths.spec_path(args.name)
    if target.exists():
        raise ModelenvError(f"{display(target)} already exists; edit it, or remove it first")
    text = render(
        "spec.toml.j2",
        name=args.name,
        description=args.description,
        python=list(dict.fromkeys(args.python)),
        packages=list(dict.fromkeys(args.packages)),
        engines=sorted(set(args.engines)),
    )
    problems = check_spec_text(text, target, engines)
    if problems:
        raise SpecError(
            problems, hint="nothing was written; fix the -p, --python or --engine arguments"
        )
    if not create_new(target, text):
        raise ModelenvError(f"{display(target)} already exists; edit it, or remove it first")
    ui.info(f"wrote {display(target)}; lock it with 'modelenv lock {args.name}'")
    ui.result(display(target))
    return 0
