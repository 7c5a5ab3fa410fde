"""The Python API a model server calls at launch.

    env = compiler.ensure_env("got-ocr2", engine="transformers")
    if env is None:           # virtual environments are disabled
        python = sys.executable
    else:
        subprocess.run([env.python, "-m", "server"], env=env.env_vars())

When the environment is up to date this costs a few file reads and stat calls:
no uv, no resolution, no pydantic or jinja2 import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from . import fresh, leases
from .errors import ModelenvError
from .paths import Paths
from .request import Request, check_request
from .store import Environment, find_current

__all__ = ["Environment", "acquire", "enabled", "ensure_env", "skip_installed_default"]


def enabled(enable: bool | None = None) -> bool:
    return fresh.flag("MODELENV_ENABLE_VIRTUAL_ENV", True) if enable is None else enable


def skip_installed_default(skip_installed: bool | None = None) -> bool:
    if skip_installed is not None:
        return skip_installed
    return fresh.flag("MODELENV_VIRTUAL_ENV_SKIP_INSTALLED", True)


def ensure_env(
    model: str,
    *,
    engine: str | None = None,
    python: str | None = None,
    packages: Sequence[str] = (),
    overrides: str | os.PathLike[str] | None = None,
    enable: bool | None = None,
    skip_installed: bool | None = None,
    home: str | os.PathLike[str] | None = None,
    specs: str | os.PathLike[str] | None = None,
    locks: str | os.PathLike[str] | None = None,
    base_python: str | os.PathLike[str] | None = None,
    target: str | None = None,
) -> Environment | None:
    """The model's environment, created or updated as needed; None when disabled.

    ``base_python`` is the interpreter the environment is layered on: a model
    server passes its own (``sys.executable``), so that ``#system_NAME#``
    entries pin what it has and its packages are reused, not installed again.
    Without it: ``MODELENV_BASE_PYTHON``, the overrides file's ``base_python``,
    then the default search (``modelenv show`` names the one found).

    ``target`` names the target whose committed lock to use (else
    ``MODELENV_TARGET``, else the target that matches the base interpreter).
    When it builds, the lines the command line says about that choice (which
    target matched, or which came closest and how it differs; a local lock
    being resolved) go to stderr, prefixed ``modelenv:``.

    Raises :class:`compiler.errors.ModelenvError` with a user-facing message
    when the spec is invalid, the model unknown, or the build fails; and
    :class:`compiler.errors.Terminated` (a BaseException) when SIGTERM or
    SIGHUP, left at their default handler, arrive while uv runs: uv is then
    stopped and the unfinished build removed first.
    """
    if not enabled(enable):
        return None
    check_request(model, engine, python, packages)
    paths = Paths.resolve(specs, locks, home)
    request = Request(
        model=model,
        engine=None if engine in (None, "default") else engine,
        python=python,
        packages=tuple(packages),
        overrides=Path(overrides) if overrides is not None else None,
        base_python=os.fspath(base_python) if base_python is not None else None,
        target=target,
    )
    skip = skip_installed_default(skip_installed)

    def lookup() -> Environment:
        found = fresh.find_fresh(
            specs=str(paths.specs),
            locks=str(paths.locks),
            home=str(paths.home),
            model=model,
            engine=request.engine,
            python=python,
            packages=request.packages,
            overrides=str(request.overrides) if request.overrides is not None else None,
            base_python=request.base_python,
            beneath_venv=request.base_beneath_venv,
            skip_installed=skip,
            strict_system=request.strict_system,
            target=request.target,
        )
        if found is not None:
            return Environment(Path(found.path), Path(found.python), found.record)
        env = find_current(paths, request, skip_installed=skip)
        if env is not None:
            return env
        from .materialise import ensure

        return ensure(paths, request, skip_installed=skip, say=_say).environment

    # The caller runs the model from here on: its lease keeps remove and gc
    # away until this process exits.
    return acquire(lookup)[0]


def _say(message: str) -> None:
    """A line about a build on stderr, as the command line says it: which
    target matched (or came closest), which lock, warnings. Never on the
    fast path: an up-to-date environment says nothing."""
    import sys

    line = message if message.startswith("modelenv: ") else f"modelenv: {message}"
    print(line, file=sys.stderr, flush=True)


def acquire(lookup: Callable[[], Environment]) -> tuple[Environment, Path]:
    """The environment from ``lookup``, leased by this process: (it, the lease).

    remove and gc may take an environment between the lookup and the lease;
    they look at leases after renaming it away, so after taking the lease the
    path is checked once more, and the lookup repeated if it went.
    """
    for _attempt in range(3):
        env = lookup()
        held = leases.take(env.path)
        if env.python.exists():
            fresh.note_used(str(env.path))
            return env, held
        leases.release(held)
    raise ModelenvError(f"{env.path} keeps disappearing: another process is removing it")
