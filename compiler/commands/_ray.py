"""``--ray``: run a store command on every alive node of a Ray cluster (list, gc)."""

from __future__ import annotations

import argparse

from ..paths import Paths

__all__ = ["add_ray_option", "node_argv"]


def add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="run on every alive node of the Ray cluster (default address: $RAY_ADDRESS,"
        " else the local cluster's); each node uses its own home unless --home is given",
    )


def node_argv(args: argparse.Namespace, paths: Paths, command: list[str]) -> list[str]:
    """``command`` with the folders the driver names: specs and locks at the
    driver's absolute paths; the home only when given (else each node's own)."""
    argv = [*command, "--specs", str(paths.specs), "--locks", str(paths.locks)]
    if getattr(args, "home", None):
        argv += ["--home", str(paths.home)]
    return argv
