"""The ``modelenv`` command: argument parsing and dispatch, nothing else.

Each subcommand lives in ``compiler/commands/<name>.py`` with ``add_arguments``
and ``run``; modules are imported only when their command runs, so that
``modelenv create`` on an up-to-date environment never imports pydantic.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import EXIT_FAILED, EXIT_USAGE, ModelenvError, Terminated
from .helptext import epilog
from .launch import split_run, takes_value

__all__ = ["main"]

# name -> one-line help; the module compiler.commands.<name> does the work.
COMMANDS: dict[str, str] = {
    "validate": "check spec files and report every problem",
    "new": "write a new spec file from a template",
    "import": "write specs from another tool's model registry (xinference)",
    "show": "print a model's effective requirements and where each comes from",
    "lock": "compile specs into pinned, hashed lockfiles (or --check them offline)",
    "create": "create or update a model's environment from its lock",
    "run": "run a command inside a model's environment",
    "list": "list environments under the home (all layouts)",
    "remove": "remove environments, never one in use or being built",
    "gc": "remove broken, legacy, orphaned and least recently used environments",
    "doctor": "check environments against their locks",
    "target": "capture, list and show targets: the hosts locks are made for",
    "export": "print a model's environment for another tool (a Ray runtime_env)",
    "completion": "print a shell completion script (bash, zsh, fish)",
}

EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"modelenv: error: {message}\n")


def common_options() -> _Parser:
    """--specs, --locks, --home, -v, -q and --debug: every command (and sub-action) takes them."""
    common = _Parser(add_help=False)
    group = common.add_argument_group("common options")
    # SUPPRESS keeps a value given before the subcommand from being reset by the
    # subparser's default when the option is not repeated after it.
    group.add_argument(
        "--specs",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="specs folder (default: $MODELENV_SPECS, [tool.modelenv] specs, the project's specs/)",
    )
    group.add_argument(
        "--locks",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="locks folder (default: $MODELENV_LOCKS, [tool.modelenv] locks, the project's locks/)",
    )
    group.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where environments live (default: $MODELENV_HOME, [tool.modelenv] home, ~/.modelenv)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="say more; errors show a traceback",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only results and errors",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks for errors",
    )
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, the other subcommands get a bare parser.

    Building all of them costs tens of milliseconds, which every model launch
    through the command line would pay for nothing.
    """
    common = common_options()
    parser = _Parser(
        prog="modelenv",
        description="Declarative specs, hashed lockfiles and environments for ML models.",
        parents=[common],
    )
    parser.add_argument("-V", "--version", action="version", version=f"modelenv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        module = importlib.import_module(f"compiler.commands.{name}")
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=module.__doc__,
            epilog=epilog(name),
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(cmd)
    return parser


def _command_at(words: Sequence[str]) -> int | None:
    """Where the subcommand is: the first word naming one that is not the value
    of an option before it (``--home run list`` lists the home ``run``)."""
    i = 0
    while i < len(words):
        word = words[i]
        if word in COMMANDS:
            return i
        if word == "--":
            return None
        i += 2 if word.startswith("-") and takes_value(word) else 1
    return None


def _print_traceback() -> None:
    # Imported here: traceback (with linecache, tokenize, textwrap) costs every
    # command milliseconds, and only --debug and -v on a failure print one.
    import traceback

    traceback.print_exc()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    at = _command_at(args_list)
    invoked = None if at is None else args_list[at]
    parser = build_parser(invoked)
    # run's command (after "--", or from the first word after MODEL that is not
    # an option) is never modelenv's: split it off before argparse sees it.
    command: list[str] | None = None
    if invoked == "run" and at is not None:
        cut = at + 1
        own, command = split_run(args_list[cut:])
        args_list = [*args_list[:cut], *own]
    elif "--" in args_list:
        parser.error("'--' introduces a command, which only 'modelenv run' takes")
    args = parser.parse_args(args_list)
    if command is not None:
        args.cmd = command
    debug = bool(getattr(args, "debug", False) or getattr(args, "verbose", 0))
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        module = importlib.import_module(f"compiler.commands.{args.command}")
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
        print(f"modelenv: error: {os_error(exc, f'{args.command} failed')}", file=sys.stderr)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
