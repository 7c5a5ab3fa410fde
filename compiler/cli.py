"""The ``modelenv`` command: argument parsing and dispatch, nothing else.

Each subcommand lives in ``compiler/commands/<name>.py`` with ``add_arguments``
and ``run``; modules are imported only when their command runs, so that
``modelenv create`` on an up-to-date environment never imports pydantic.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .dispatch import run_command
from .errors import EXIT_USAGE
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"modelenv: error: {message}\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's, with every list in the result a list of its own: a
        ``default=[]`` is one object per parser, and the parser is reused
        (build_parser), so no command may get a list another call can change."""
        parsed, extras = super().parse_known_args(args, namespace)
        for key, value in vars(parsed).items():
            if isinstance(value, list):
                setattr(parsed, key, list(value))
        return parsed, extras


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


@functools.cache
def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, the other subcommands get a bare parser.

    Building all of them costs tens of milliseconds, which every model launch
    through the command line would pay for nothing. Built once per process and
    ``only``: parsing changes nothing in it (it reads the terminal's width and
    the streams when it prints), and a process that calls main() again (the
    tests, a server embedding the command line) does not pay ~1.5 ms of
    argparse and gettext each time. Callers must not change it.
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
    return run_command(args.command, args, debug=debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
