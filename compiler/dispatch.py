"""Running one subcommand on parsed arguments, and turning what it raises into
a message and an exit status.

Both front doors use it: the full command line (:mod:`compiler.cli`, after
argparse) and the launch path (:mod:`compiler.launch`), which hands a
``create`` it has read itself straight here, without argparse.
"""

from __future__ import annotations

import importlib
import os
import sys

from .errors import EXIT_FAILED, ModelenvError, Terminated

TYPE_CHECKING = False  # not typing's: the launch path comes through here
if TYPE_CHECKING:
    import argparse

__all__ = ["EXIT_BUG", "EXIT_INTERRUPTED", "run_command"]

EXIT_BUG = 3
EXIT_INTERRUPTED = 130


def _print_traceback() -> None:
    # Imported here: traceback (with linecache, tokenize, textwrap) costs every
    # command milliseconds, and only --debug and -v on a failure print one.
    import traceback

    traceback.print_exc()


def run_command(command: str, args: argparse.Namespace, *, debug: bool) -> int:
    """``compiler.commands.<command>.run(args)``, its exit status, and a clean
    message (a traceback with ``debug``) for whatever it raises. How uv's work
    is shown (-v, a terminal) is the command's own: what the process had
    before it (an API caller's nothing-printed) is back after it."""
    from .ui import REPORTING

    saved = REPORTING.live, REPORTING.log
    try:
        return _run(command, args, debug=debug)
    finally:
        # A -v command's log writes to its own stderr, which a caller that
        # runs commands in its process (tests, a server) may have closed since.
        REPORTING.live, REPORTING.log = saved


def _run(command: str, args: argparse.Namespace, *, debug: bool) -> int:
    try:
        module = importlib.import_module(f"compiler.commands.{command}")
        return int(module.run(args))
    except ModelenvError as exc:
        if debug:
            _print_traceback()
        print(f"modelenv: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelenv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        # Raised while uv ran (compiler.children): uv and what it started were
        # stopped, and the unfinished work cleaned up on the way here.
        print(f"modelenv: {exc}; uv was stopped, nothing half-built is kept", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (modelenv list | head): not our failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A failure of the system (a full disk, a read-only folder) that no code
        # path turned into a ModelenvError: the user's to fix, not a bug.
        from .fsutil import os_error

        if debug:
            _print_traceback()
        print(f"modelenv: error: {os_error(exc, f'{command} failed')}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug: say so, and how to report it
        if debug:
            _print_traceback()
        print(
            f"modelenv: internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in modelenv; rerun with --debug and report the traceback",
            file=sys.stderr,
        )
        return EXIT_BUG
