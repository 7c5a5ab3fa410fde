"""One module per subcommand; each has ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse

from ..paths import Paths
from ..ui import UI

__all__ = ["context"]


def context(args: argparse.Namespace) -> tuple[Paths, UI]:
    """The folders and the output settings every command shares."""
    paths = Paths.resolve(
        getattr(args, "specs", None), getattr(args, "locks", None), getattr(args, "home", None)
    )
    verbosity = -1 if getattr(args, "quiet", False) else int(getattr(args, "verbose", 0) or 0)
    return paths, UI(verbosity)
