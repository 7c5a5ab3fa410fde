"""The ``modelenv`` entry point: ``create`` and ``run`` on an up-to-date
environment at the cost of starting Python, everything else to the full CLI.

A model server or a Ray worker starts through ``modelenv run MODEL -- CMD`` at
every launch. This module handles that case with the modules Python has
already loaded at start-up (``os``, ``sys``), ``json`` and a SHA-256: it reads
the command line for the two forms, the environment's record, and a few
``stat`` results (:mod:`compiler.fresh`). Anything else (another command, an
option it does not know, ``--force``, an environment that is missing or out of
date) goes to the full command line, :mod:`compiler.cli`, which decides again
from scratch.

``run`` ends by exec-ing the command (POSIX): the command keeps modelenv's pid,
so the lease taken for that pid is the command's own, a signal sent to that pid
reaches the command, and nothing waits in between.
"""

from __future__ import annotations

import os
import sys

from .fastio import take_lease, which
from .fresh import Fresh, env_vars, find_fresh, flag, note_used, resolve_dirs

TYPE_CHECKING = False  # not typing's: importing typing costs a launch milliseconds
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import NoReturn

__all__ = [
    "FLAG_OPTIONS",
    "VALUE_OPTIONS",
    "entry",
    "env_vars",
    "exec_command",
    "main",
    "parse_fast",
    "split_run",
    "takes_value",
]

EXIT_NOT_FOUND = 127  # as a shell reports a command it cannot find
EXIT_CANNOT_EXECUTE = 126

# The options of create and run (common ones included), as cli builds them.
# tests/test_launch.py checks these tables against the argparse parsers.
VALUE_OPTIONS = frozenset(
    {
        "--specs",
        "--locks",
        "--home",
        "--engine",
        "--python",
        "-p",
        "--package",
        "--overrides",
        "--base-python",
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "--target",
        "--wait",
    }
)
FLAG_OPTIONS = frozenset(
    {
        "-v",
        "--verbose",
        "-q",
        "--quiet",
        "--debug",
        "--strict-system",
        "--no-index",
        "--offline",
        "--force",
        "--skip-installed",
        "--no-skip-installed",
        "-h",
        "--help",
        "--exec",
        "--share-venv",
    }
)
RUN_ONLY_FLAGS = frozenset({"--exec", "--share-venv"})
# Flags the fast path honours; any other sends the invocation to the full CLI.
_FAST_FLAGS = frozenset(
    {"-q", "--quiet", "--strict-system", "--no-index", "--offline", "--exec", "--share-venv"}
    | {"--skip-installed", "--no-skip-installed"}
)
# The options the main parser takes before the subcommand (as cli.common_options
# builds them): any other before it is an error the full command line reports.
_COMMON_OPTIONS = frozenset({"--specs", "--locks", "--home", "-q", "--quiet"})
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


# ---------------------------------------------------------------- the command line


def takes_value(word: str) -> bool:
    """Is ``word`` an option whose value is the next word? Long options may be
    abbreviated, as argparse allows, when the prefix is unambiguous."""
    if word in VALUE_OPTIONS:
        return True
    if not word.startswith("--") or "=" in word or word in FLAG_OPTIONS:
        return False
    matches = [o for o in VALUE_OPTIONS | FLAG_OPTIONS if o.startswith(word)]
    return len(matches) == 1 and matches[0] in VALUE_OPTIONS


def split_run(words: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """The words after ``run`` as (modelenv's own, the command or None).

    The command starts after ``--``, or, as in ``uv run``, at the first word
    after MODEL that is not an option: ``run m python -c X`` runs
    ``python -c X``; options may come before or after MODEL.
    """
    seen_model = False
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return list(words[:i]), list(words[i + 1 :])
        if word.startswith("-") and word != "-":
            i += 2 if takes_value(word) else 1
            continue
        if seen_model:
            return list(words[:i]), list(words[i:])
        seen_model = True
        i += 1
    return list(words), None


class _Args:
    """What the fast path needs from a ``create``/``run`` command line."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.model = ""
        self.cmd: list[str] = []
        self.specs: str | None = None
        self.locks: str | None = None
        self.home: str | None = None
        self.engine: str | None = None
        self.engine_word: str | None = None  # as given ("default" stays "default")
        self.python: str | None = None
        self.packages: list[str] = []
        self.overrides: str | None = None
        self.base_python: str | None = None
        self.target: str | None = None
        self.strict_system = False
        self.skip_installed: bool | None = None
        self.quiet = False
        self.share_venv = False
        self.exec_ = False
        # What only a build needs (an up-to-date environment does not depend on them).
        self.index_url: str | None = None
        self.extra_index_url: list[str] = []
        self.find_links: list[str] = []
        self.no_index = False
        self.offline = False
        self.wait: float | None = None

    def namespace(self) -> argparse.Namespace:
        """These arguments as the full command line hands them to ``create``
        or ``run`` (tests/test_launch.py compares the two)."""
        from types import SimpleNamespace

        ns = SimpleNamespace(
            command=self.command,
            model=self.model,
            engine=self.engine_word,
            python=self.python,
            packages=list(self.packages),
            overrides=self.overrides,
            base_python=self.base_python,
            strict_system=self.strict_system,
            index_url=self.index_url,
            extra_index_url=list(self.extra_index_url),
            find_links=list(self.find_links),
            no_index=self.no_index,
            target=self.target,
            offline=self.offline,
            force=False,
            wait=self.wait,
            skip_installed=self.skip_installed,
        )
        # The common options are absent unless given (argparse.SUPPRESS).
        for name in ("specs", "locks", "home"):
            if getattr(self, name) is not None:
                setattr(ns, name, getattr(self, name))
        if self.quiet:
            ns.quiet = True
        if self.command == "run":
            ns.exec_ = self.exec_
            ns.share_venv = self.share_venv
            ns.cmd = list(self.cmd)
        return ns  # type: ignore[return-value]  # the attributes the command reads, no argparse


def name_ok(value: str) -> bool:
    """A model or engine name that cannot leave its folder: letters, digits,
    '.', '_' and '-', not starting with a punctuation mark, no '..', 128 at most."""
    return (
        0 < len(value) <= 128
        and value[0] not in "._-"
        and ".." not in value
        and set(value) <= _NAME_CHARS
    )


def python_shape_ok(value: str) -> bool:
    """``3.Y`` with Y a number without leading zeros."""
    major, dot, minor = value.partition(".")
    return (
        major == "3"
        and bool(dot)
        and minor.isascii()
        and minor.isdigit()
        and (minor == "0" or not minor.startswith("0"))
    )


def _fast_names_ok(args: _Args) -> bool:
    python = args.python
    return (
        name_ok(args.model)
        and (args.engine is None or name_ok(args.engine))
        and (args.target is None or name_ok(args.target))
        and (python is None or (python_shape_ok(python) and int(python[2:]) >= 8))
    )


def parse_fast(argv: Sequence[str]) -> _Args | None:
    """``create``/``run`` as the fast path can serve them, else None."""
    words = list(argv)
    i = 0
    while i < len(words) and words[i].startswith("-"):
        if words[i].partition("=")[0] not in _COMMON_OPTIONS:
            return None  # not an option of the main parser: the full CLI says so
        i += 2 if words[i] in VALUE_OPTIONS else 1
    if i >= len(words) or words[i] not in ("create", "run"):
        return None
    word = words[i]
    before, rest = words[:i], words[i + 1 :]
    args = _Args(word)
    create = word == "create"
    if word == "run":
        own, cmd = split_run(rest)
        if not cmd:
            return None  # the full CLI says "no command given"
        args.cmd = cmd
        words = before + own
    else:
        if "--" in rest:
            return None
        words = before + rest
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-") or word == "-":
            positional.append(word)
            i += 1
            continue
        name, eq, value = word.partition("=")
        if eq and not name.startswith("--"):
            return None  # argparse reads "-p=x" as the value "=x"
        if name in VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(words) or words[i + 1].startswith("-"):
                    return None  # argparse refuses a value that looks like an option
                value = words[i + 1]
                i += 1
            if not _set(args, name, value):
                return None
        elif name in _FAST_FLAGS and not eq and not (create and name in RUN_ONLY_FLAGS):
            _flag(args, name)
        else:
            return None  # -v, --force, --help, abbreviations...: the full CLI
        i += 1
    if len(positional) != 1:
        return None
    args.model = positional[0]
    if not _fast_names_ok(args):
        return None
    args.engine_word = args.engine
    if args.engine == "default":
        args.engine = None
    return args


def _set(args: _Args, name: str, value: str) -> bool:
    """Record an option's value; False when argparse would refuse it."""
    if name in ("-p", "--package"):
        args.packages.append(value)
    elif name in ("--specs", "--locks", "--home", "--engine", "--python", "--overrides"):
        setattr(args, name[2:], value)
    elif name == "--base-python":
        args.base_python = value
    elif name == "--target":
        args.target = value
    elif name == "--index-url":
        args.index_url = value
    elif name == "--extra-index-url":
        args.extra_index_url.append(value)
    elif name == "--find-links":
        args.find_links.append(value)
    elif name == "--wait":
        try:
            args.wait = float(value)
        except ValueError:
            return False
    return True


def _flag(args: _Args, name: str) -> None:
    if name in ("-q", "--quiet"):
        args.quiet = True
    elif name == "--strict-system":
        args.strict_system = True
    elif name == "--share-venv":
        args.share_venv = True
    elif name == "--exec":
        args.exec_ = True
    elif name in ("--skip-installed", "--no-skip-installed"):
        args.skip_installed = name == "--skip-installed"
    elif name == "--no-index":
        args.no_index = True
    elif name == "--offline":
        args.offline = True


# ---------------------------------------------------------------- running a command


def _error(message: str, code: int) -> int:
    print(f"modelenv: error: {message}", file=sys.stderr, flush=True)
    return code


def exec_command(cmd: Sequence[str], env: dict[str, str], where: str) -> int:
    """Run ``cmd`` with ``env``: on POSIX by exec, so this returns only on error
    (127: not found, 126: not executable); elsewhere as a child, with its status."""
    program = which(cmd[0], env.get("PATH", ""))
    if (
        os.name == "posix"
        and os.sep not in cmd[0]
        and not os.path.isdir(os.path.join(where, "bin"))
    ):
        # Gone since it was leased (a forced rebuild or removal): a bare name
        # would be found further down PATH, outside the environment.
        return _error(
            f"the environment {where} went away before {cmd[0]} could start"
            " (removed or rebuilt with --force); run the command again",
            EXIT_NOT_FOUND,
        )
    if program is None:
        return _error(
            f"command not found: {cmd[0]} (looked in {where}/bin and PATH)", EXIT_NOT_FOUND
        )
    if os.name != "posix":  # pragma: no cover - exec does not keep the pid there
        import subprocess

        code = subprocess.run([program, *cmd[1:]], env=env, check=False).returncode
        return code if code >= 0 else 128 - code
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib costs the launch path an import
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        _execve(program, [cmd[0], *cmd[1:]], env)
    except OSError as exc:
        code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_CANNOT_EXECUTE
        return _error(f"cannot execute {cmd[0]}: {exc.strerror or exc}", code)
    raise AssertionError("unreachable")  # pragma: no cover


def _restore_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
    across exec: give the command the defaults a shell would (as subprocess does)."""
    # _signal: the signal module imports enum, which the launch path does not need.
    import _signal  # type: ignore[import-not-found,unused-ignore]

    for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
        number = getattr(_signal, name, None)
        if number is not None:
            _signal.signal(number, _signal.SIG_DFL)


def _execve(program: str, argv: list[str], env: dict[str, str]) -> NoReturn:
    _restore_signals()
    os.execve(program, argv, env)


# ---------------------------------------------------------------- main


def _fast(args: _Args) -> Fresh | None:
    dirs = resolve_dirs(args.specs, args.locks, args.home)
    if dirs is None:
        return None  # [tool.modelenv] settings: the full command line reads them
    specs, locks, home = dirs
    skip = (
        flag("MODELENV_VIRTUAL_ENV_SKIP_INSTALLED", True)
        if args.skip_installed is None
        else args.skip_installed
    )
    if args.overrides is not None and not os.path.isfile(args.overrides):
        return None  # the full CLI says the file is missing
    return find_fresh(
        specs=specs,
        locks=locks,
        home=home,
        model=args.model,
        engine=args.engine,
        python=args.python,
        packages=args.packages,
        overrides=args.overrides,
        base_python=args.base_python,
        # The command line's default base is the interpreter beneath its venv
        # (run --share-venv: the calling one, as for ensure_env).
        beneath_venv=not args.share_venv,
        skip_installed=skip,
        strict_system=args.strict_system,
        target=args.target,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``modelenv``: the fast path when it applies, else the full command line."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = parse_fast(words)
    fresh = None
    if args is not None:
        try:
            fresh = _fast(args)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            fresh = None  # the full CLI looks again and reports what is wrong
    if args is not None and fresh is None:
        # To be built or updated: straight to the command, as the full command
        # line would run it after argparse (which costs a cold start milliseconds).
        from .dispatch import run_command

        return run_command(args.command, args.namespace(), debug=False)
    if args is None or fresh is None:
        from .cli import main as full

        return full(words)
    record = fresh.record
    if args.command == "create":
        if not args.quiet:
            what = f"{record.get('model')} [{record.get('engine')}, py{record.get('python')}]"
            print(f"up to date: {what}", file=sys.stderr)
        print(fresh.path)
        return 0
    # The command keeps this pid (exec), so this lease is the command's own.
    lease = take_lease(fresh.path)
    if not os.path.isdir(os.path.join(fresh.path, "bin")):
        # remove or gc took it between the check and the lease (they look at
        # leases after renaming it away): the full CLI builds it again.
        try:  # noqa: SIM105 - contextlib costs the launch path an import
            os.unlink(lease)
        except OSError:
            pass
        from .cli import main as full

        return full(words)
    note_used(fresh.path)
    return exec_command(args.cmd, env_vars(fresh.path), fresh.path)


def _monitored() -> bool:
    """Does a tool watch this process through ``sys.monitoring`` (3.12+:
    coverage's sysmon core, debuggers), which neither a profile nor a trace
    function shows?"""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return False
    return any(monitoring.get_tool(tool) is not None for tool in range(6))


def entry() -> NoReturn:
    """The ``modelenv`` command (its script, and ``python -m compiler``):
    :func:`main`, then the exit, without the interpreter's teardown.

    Tearing down what a build imported (packaging, the spec models, uv's
    wrapper...) module by module costs a cold create tens of milliseconds,
    with no modelenv work left to do: its files are written and closed, its
    locks released, uv waited for. Only the standard streams may still hold
    output; they are flushed here, and a failure to flush exits 120, as
    Python's own exit does. A process that something observes (a profiler,
    or a tracer such as coverage or a debugger) exits the usual way, so that
    it can write what it gathered.
    """
    code = main()
    if sys.getprofile() is not None or sys.gettrace() is not None or _monitored():
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        if stream is None or stream.closed:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120
    os._exit(code)
