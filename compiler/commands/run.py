"""Ensure a model's environment, then run CMD inside it (VIRTUAL_ENV and PATH
set). On POSIX modelenv becomes CMD (exec): CMD keeps its pid, so signals sent
to it reach CMD, and the environment's lease is CMD's own until it exits.
Exit status: CMD's; 127 when CMD is not found, 126 when it cannot be executed.

The command starts after "--", or at the first word after MODEL that is not
an option (as with uv run).

examples:
  modelenv run got-ocr2 python -c "import transformers; print(transformers.__version__)"
  modelenv run got-ocr2 --engine vllm -- python -m my_server --port 8000
"""

from __future__ import annotations

import argparse

from .create import add_build_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    add_build_options(parser)
    parser.add_argument(
        "--exec",
        dest="exec_",
        action="store_true",
        help="replace modelenv with CMD; what run does on POSIX anyway (kept for scripts"
        " that pass it, such as Ray's py_executable)",
    )
    parser.add_argument(
        "--share-venv",
        action="store_true",
        help="layer the environment on the interpreter modelenv runs in, its venv included"
        " (as ensure_env does), not on the one beneath that venv: Ray workers see the"
        " node's ray this way",
    )
    # cli.main splits the command off before parsing (launch.split_run): this
    # argument only shows it in the usage line.
    parser.add_argument("cmd", nargs="*", metavar="[--] CMD [ARGS...]")


def run(args: argparse.Namespace) -> int:
    from ..api import acquire
    from ..errors import UsageError
    from ..launch import exec_command
    from ..leases import release
    from .create import ensure_from_args

    cmd = list(args.cmd)
    if not cmd:
        raise UsageError("no command given", hint=f"modelenv run {args.model} -- python -V")
    env, held = acquire(lambda: ensure_from_args(args)[0])
    # Returns only when CMD could not be started (or where exec is not used).
    code = exec_command(cmd, env.env_vars(), str(env.path))
    release(held)
    return code
