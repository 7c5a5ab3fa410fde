"""Create or update a model's environment from its lock; print what was done
and, as the last line, the environment's path.

The committed lock in locks/ is used when it applies on this host (it matches
the spec, no overrides or -p change the requirements, and the host versions
behind #system_NAME# entries equal those it records). Otherwise a local lock is
resolved for this host and kept with the environment.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..request import add_request_options
from . import context

if TYPE_CHECKING:
    # Annotations only: the launch path runs a create it read itself, without argparse.
    import argparse

    from ..materialise import BuildReport
    from ..store import Environment
    from ..ui import UI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model: the name of a spec in specs/")
    add_build_options(parser)


def add_build_options(parser: argparse.ArgumentParser) -> None:
    import argparse

    add_request_options(parser)
    parser.add_argument(
        "--target",
        metavar="NAME",
        help="use this target's lock (specs/_targets/NAME.toml; default: $MODELENV_TARGET,"
        " else the target that matches the base interpreter)",
    )
    parser.add_argument(
        "--offline", action="store_true", help="install only from uv's cache and local find-links"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    add_wait_option(parser)
    parser.add_argument(
        "--skip-installed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse host packages already at the locked version"
        " (default: $MODELENV_VIRTUAL_ENV_SKIP_INSTALLED, else on)",
    )


def add_wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for another process holding the environment's lock"
        " (default: $MODELENV_LOCK_TIMEOUT, else 600)",
    )


def ensure_from_args(args: argparse.Namespace) -> tuple[Environment, BuildReport | None, UI]:
    """The environment: the fast path first (no pydantic), the full build if needed."""
    from ..api import skip_installed_default
    from ..request import request_from_args
    from ..store import find_current

    paths, ui = context(args)
    request = dataclasses.replace(request_from_args(args, args.model), target=args.target)
    skip = skip_installed_default(args.skip_installed)
    if not args.force:
        current = find_current(paths, request, skip_installed=skip)
        if current is not None:
            return current, None, ui
    from ..materialise import ensure

    report = ensure(
        paths,
        request,
        skip_installed=skip,
        offline=args.offline,
        force=args.force,
        wait=args.wait,
        say=ui.info,
        announce=ui.info,
    )
    return report.environment, report, ui


def run(args: argparse.Namespace) -> int:
    env, report, ui = ensure_from_args(args)
    rec = env.record
    what = f"{rec.get('model')} [{rec.get('engine')}, py{rec.get('python')}]"
    if report is None or report.action == "up to date":
        ui.info(f"up to date: {what}")
    else:
        lock = f"target {report.target}'s" if report.target else f"the {report.lock_source}"
        ui.info(
            f"{report.action} {what} from {lock} lock:"
            f" {report.installed} installed, {report.reused} reused from the host"
        )
    ui.result(str(env.path))
    return 0
