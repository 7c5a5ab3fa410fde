"""One module per subcommand; each has ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

from ..paths import Paths
from ..ui import REPORTING, UI

TYPE_CHECKING = False  # not typing's: the launch path builds a create through here
if TYPE_CHECKING:
    import argparse

__all__ = ["context", "folder_flags"]


def context(args: argparse.Namespace) -> tuple[Paths, UI]:
    """The folders and the output settings every command shares."""
    from ..project import discover

    project = discover()
    paths = Paths.resolve(
        getattr(args, "specs", None),
        getattr(args, "locks", None),
        getattr(args, "home", None),
        defaults=(project.folder("specs"), project.folder("locks"), project.folder("home")),
    )
    verbosity = -1 if getattr(args, "quiet", False) else int(getattr(args, "verbose", 0) or 0)
    ui = UI(verbosity)
    # A terminal sees uv's own progress; -v lists each uv command and its time.
    REPORTING.live = ui.is_tty and verbosity >= 0
    REPORTING.log = ui.detail if verbosity > 0 else None
    return paths, ui


def folder_flags(args: argparse.Namespace) -> str:
    """The --specs/--locks given on the command line, for commands we suggest."""
    import shlex

    out = ""
    for name in ("specs", "locks"):
        value = getattr(args, name, None)
        if value:
            out += f" --{name} {shlex.quote(str(value))}"
    return out
