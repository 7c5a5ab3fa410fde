"""Ensure a model's environment, then run CMD inside it (VIRTUAL_ENV and PATH
set) and exit with CMD's exit status.

example:
  modelenv run got-ocr2 -- python -c "import transformers; print(transformers.__version__)"
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from .create import add_build_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    add_build_options(parser)
    parser.add_argument(
        "--exec",
        dest="exec_",
        action="store_true",
        help="replace modelenv with CMD (POSIX): no parent process stays; the environment"
        " stays leased while CMD runs (Ray's py_executable uses this)",
    )
    parser.add_argument(
        "--share-venv",
        action="store_true",
        help="layer the environment on the interpreter modelenv runs in, its venv included"
        " (as ensure_env does), not on the one beneath that venv: Ray workers see the"
        " node's ray this way",
    )
    # The part after "--" is split off by cli.main before parsing; words before
    # it that are not options are taken as the command too ("run m python").
    parser.add_argument("cmd", nargs="*", metavar="-- CMD [ARGS...]")


def run(args: argparse.Namespace) -> int:
    import subprocess

    from ..errors import ModelenvError, UsageError
    from .create import ensure_from_args

    cmd = list(args.cmd)
    if not cmd:
        raise UsageError("no command given", hint=f"modelenv run {args.model} -- python -V")
    from ..api import acquire
    from ..leases import release

    env, held = acquire(lambda: ensure_from_args(args)[0])
    if getattr(args, "exec_", False) and os.name == "posix":
        _exec(cmd, env.env_vars(), str(env.path))
    try:
        proc = subprocess.run(cmd, env=env.env_vars(), check=False)
    except FileNotFoundError:
        raise ModelenvError(f"command not found in {env.path}: {cmd[0]}") from None
    except PermissionError:
        raise ModelenvError(f"cannot execute {cmd[0]}: permission denied") from None
    finally:
        release(held)
    # A command killed by signal N exits 128+N, as a shell reports it.
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


def _exec(cmd: list[str], env: dict[str, str], where: str) -> NoReturn:
    """Become CMD. The lease names this process id, which CMD keeps: it holds
    the environment until CMD exits, and is ignored (then cleaned) after."""
    from ..errors import ModelenvError

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(cmd[0], cmd, env)
    except FileNotFoundError:
        raise ModelenvError(f"command not found in {where}: {cmd[0]}") from None
    except PermissionError:
        raise ModelenvError(f"cannot execute {cmd[0]}: permission denied") from None
