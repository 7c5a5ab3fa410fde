"""The only place uv runs. Command lines are built by pure functions
(``*_command``) that tests check without running uv; :func:`run` executes one.
"""

from __future__ import annotations

import functools
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import children
from .errors import ModelenvError
from .ui import REPORTING

__all__ = [
    "UvResult",
    "check_command",
    "compile_command",
    "install_command",
    "run",
    "shown",
    "strict_problems",
    "uv_binary",
    "uv_version",
    "venv_command",
    "without_progress",
]

# Variables that carry index settings: modelenv has already folded them into
# explicit flags (see indexes.py), so uv must not add them a second time.
_INDEX_VARS = (
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_INDEX_STRATEGY",
)


# find_uv_bin reads sysconfig, whose first use is not thread-safe (3.11: a
# second thread can see its variables half-filled, EXE None): 'lock --jobs'
# workers find uv one at a time.
_FINDING = threading.Lock()


@functools.cache
def uv_binary() -> str:
    """uv from the ``uv`` package installed with modelenv, else the one on PATH."""
    explicit = os.environ.get("MODELENV_UV")
    if explicit:
        return explicit
    try:
        from uv import find_uv_bin

        with _FINDING:
            return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    import shutil  # here: it imports bz2, lzma and zlib

    found = shutil.which("uv")
    if found:
        return found
    raise ModelenvError(
        "uv is not installed", hint="pip install uv (modelenv depends on it), or set MODELENV_UV"
    )


_VERSION_TIMEOUT = 60.0  # seconds: a uv that cannot say its version in that time is broken


@functools.cache
def uv_version() -> str:
    # Beside run(), not through it: callers count run()'s invocations (the resolutions).
    # Bounded, and with run()'s environment: no index or resolution variables.
    try:
        proc = children.run(
            [uv_binary(), "--version"], env=_environment(None), timeout=_VERSION_TIMEOUT
        )
    except OSError as exc:
        raise ModelenvError(f"cannot run uv ({uv_binary()}): {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ModelenvError(
            f"'{uv_binary()} --version' did not answer within {_VERSION_TIMEOUT:g} s",
            hint="check the uv installation (or MODELENV_UV)",
        ) from None
    if proc.returncode != 0:
        raise ModelenvError(f"'{uv_binary()} --version' failed: {proc.stderr.strip()}")
    # "uv 0.13.9 (abc 2026-01-01)"
    parts = proc.stdout.split()
    return parts[1] if len(parts) > 1 else proc.stdout.strip()


@dataclass(frozen=True)
class UvResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# Variables that would change what a resolution picks without showing in the
# lock's inputs: a lock must come out the same on every machine.
_RESOLUTION_VARS = (
    "UV_RESOLUTION",
    "UV_PRERELEASE",
    "UV_OVERRIDE",
    "UV_CONSTRAINT",
    "UV_BUILD_CONSTRAINT",
    "UV_EXCLUDE_NEWER",
    "UV_TORCH_BACKEND",
    "UV_FORK_STRATEGY",
)


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    drop = set(_INDEX_VARS) | set(_RESOLUTION_VARS)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.setdefault("UV_NO_PROGRESS", "1")
    if extra:
        env.update(extra)
    return env


# The stderr of a live run: uv wrote its messages to the terminal.
LIVE_STDERR = "(uv's messages are above)"


def shown(args: Sequence[str]) -> str:
    """A uv command line as it may be printed: URLs with their credentials masked."""
    import shlex

    from .indexes import mask_url

    return "uv " + " ".join(shlex.quote(mask_url(a) if "://" in a else a) for a in args)


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    live: bool = False,
) -> UvResult:
    """Run ``uv ARGS``; capture both streams (never drop stderr: callers show it).

    ``live``: when the command line asked for live output (a terminal, no -q),
    uv writes its own progress to the terminal instead; its messages are then
    on the screen rather than in the result.
    """
    live = live and REPORTING.live
    if live:
        args = [a for a in args if a != "--quiet"]
    argv = (uv_binary(), *args)
    environment = _environment(env)
    if live:
        environment.pop("UV_NO_PROGRESS", None)
    else:
        # uv wraps its messages to COLUMNS: what modelenv reads in them (a
        # resolution split, a build failure) must not depend on the terminal.
        environment["COLUMNS"] = "10000"
    started = time.monotonic()
    try:
        # Stopped with what it started if modelenv is interrupted or
        # terminated meanwhile (compiler.children): uv never runs on its own.
        proc = children.run(argv, cwd=cwd, env=environment, capture=not live, timeout=timeout)
    except OSError as exc:
        raise ModelenvError(f"cannot run uv ({argv[0]}): {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ModelenvError(f"uv did not finish within {timeout:.0f} s: {shown(args)}") from None
    if REPORTING.log is not None:
        elapsed = time.monotonic() - started
        status = "" if proc.returncode == 0 else f", exit {proc.returncode}"
        REPORTING.log(f"ran {shown(args)} ({elapsed:.2f} s{status})")
    if live:
        return UvResult(tuple(argv), proc.returncode, "", LIVE_STDERR)
    from .indexes import mask_secrets  # uv may echo a URL with its credentials

    return UvResult(tuple(argv), proc.returncode, proc.stdout, mask_secrets(proc.stderr))


def compile_command(
    requirements_in: str,
    output: str,
    *,
    python_version: str,
    python: str | None = None,
    python_downloads: bool = False,
    index_args: Sequence[str] = (),
    constraints: str | None = None,
    exclude_newer: str | None = None,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    offline: bool = False,
    python_platform: str | None = None,
) -> list[str]:
    """``uv pip compile`` for a hashed lock without any index URL in it:
    universal, or for one platform (a target's) when ``python_platform`` is given.

    ``python``: the interpreter modelenv found for ``python_version``; without
    it uv looks for one itself and, unless ``python_downloads``, must not fetch
    one (an interpreter download costs seconds per lock and installs a CPython
    the user never asked for).
    """
    where = ["--universal"] if python_platform is None else ["--python-platform", python_platform]
    args = [
        "pip",
        "compile",
        requirements_in,
        "--output-file",
        output,
        *where,
        "--python-version",
        python_version,
        "--generate-hashes",
        "--no-header",
        "--quiet",
        # uv.toml files could change the resolution unseen (resolution = "lowest").
        "--no-config",
    ]
    if python:
        args += ["--python", python]
    if not python_downloads:
        args.append("--no-python-downloads")
    if constraints:
        args += ["--constraints", constraints]
    if exclude_newer:
        args += ["--exclude-newer", exclude_newer]
    if upgrade:
        args.append("--upgrade")
    for name in upgrade_packages:
        args += ["--upgrade-package", name]
    if offline:
        args.append("--offline")
    args += list(index_args)
    return args


def venv_command(path: str, python: str, *, system_site_packages: bool) -> list[str]:
    # --relocatable: the environment is built beside its final place and moved
    # in whole, so nothing in it may record the build path.
    args = ["venv", path, "--python", python, "--no-python-downloads", "--relocatable", "--quiet"]
    if system_site_packages:
        args.append("--system-site-packages")
    return args


def install_command(
    env_python: str,
    requirements: str,
    *,
    index_args: Sequence[str] = (),
    offline: bool = False,
    strict: bool = False,
) -> list[str]:
    """Install a lock (or a subset of it) into an environment, hashes required.

    ``--no-deps``: the lock is complete and already resolved; ``--require-hashes``
    refuses anything whose hash is not in it. ``strict``: uv then checks the
    environment as ``uv pip check`` does (the same diagnostics, about the
    packages it installed) and warns of each problem on stderr
    (:func:`strict_problems` reads them), which ``--quiet`` would silence: a
    second uv process spared on every build.
    """
    args = [
        "pip",
        "install",
        "--python",
        env_python,
        "--requirements",
        requirements,
        "--require-hashes",
        "--no-deps",
    ]
    # Plain text to read: never coloured, whatever FORCE_COLOR says.
    args += ["--strict", "--color", "never"] if strict else ["--quiet"]
    if offline:
        args.append("--offline")
    args += list(index_args)
    return args


def strict_problems(stderr: str) -> list[str]:
    """The problems ``uv pip install --strict`` warned of, worded as ``uv pip
    check`` words them ("The package `a` requires `b`, but it's not installed")."""
    import re

    found = (re.match(r"warning:\s+(The package .*)", line) for line in stderr.splitlines())
    return [m.group(1).strip() for m in found if m is not None]


def without_progress(stderr: str) -> str:
    """uv's messages less its summary lines (what a non-quiet install prints
    when all goes well): what a failure report shows."""
    summary = ("Resolved ", "Prepared ", "Installed ", "Uninstalled ", "Audited ", "Using Python ")
    return "\n".join(
        line
        for line in stderr.splitlines()
        if not line.startswith(summary) and not line.startswith((" + ", " - ", " ~ "))
    )


def check_command(env_python: str) -> list[str]:
    """``uv pip check``: is every installed package's requirement met?"""
    return ["pip", "check", "--python", env_python]
