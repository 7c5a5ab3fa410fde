"""Ray clusters: one lock, the same environment on every node.

:func:`runtime_env` returns a Ray ``runtime_env`` whose ``py_executable``
starts each worker as ``modelenv run --exec MODEL ... -- python``. Ray runs
that command on the worker's node (through ``bash -c "exec ..."``) with the
worker's arguments appended, so on every node:

- an up-to-date environment is found by the launch fast path (no uv, no
  pydantic) and modelenv replaces itself with the environment's ``python``;
- otherwise the node materialises the committed lock, under the
  per-environment file lock: workers starting at the same moment build once.

``env_vars`` point every node at the same specs and locks (and home, when one
is given); ``working_dir=True`` ships ``specs/`` and the model's ``locks/`` to
nodes that lack the repository. ray itself is never imported here: the
functions that talk to a live cluster are in :mod:`compiler.ray_nodes`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import ModelenvError, UsageError
from .host import find_interpreter, running_xy
from .lockfile import lock_path, parse_lock
from .paths import Paths, display, spec_files
from .request import Request, check_request

__all__ = ["runtime_env"]

RAY_HINT = "pip install 'modelenv[ray]'"


def runtime_env(
    model: str,
    *,
    engine: str | None = None,
    python: str | None = None,
    target: str | None = None,
    packages: Sequence[str] = (),
    home: str | os.PathLike[str] | None = None,
    specs: str | os.PathLike[str] | None = None,
    locks: str | os.PathLike[str] | None = None,
    working_dir: bool | str | os.PathLike[str] = False,
    launcher: str = "modelenv",
) -> dict[str, Any]:
    """A Ray runtime_env running the workers in ``model``'s environment.

    ``python`` defaults to this interpreter's X.Y: Ray needs its workers on
    the driver's Python. ``home`` given: every node uses that path as its
    home; otherwise each node its own (``$MODELENV_HOME`` or ``~/.modelenv``).
    ``working_dir``: False ships nothing (the nodes see ``specs``/``locks`` at
    the same absolute paths, as on a shared filesystem or one image); True
    ships a copy of ``specs/`` and the model's ``locks/``; a folder is shipped
    whole and must hold both; Ray ships a local working_dir for a whole job only
    (``ray.init(runtime_env=...)``, ``ray job submit``), not for one task.
    ``launcher`` is how a node runs modelenv.

    Raises :class:`ModelenvError` when the environment could not import ray.
    """
    here = running_xy()
    if python is not None and python != here:
        raise UsageError(
            f"Ray starts workers on the driver's Python ({here}), not {python}",
            hint=f"run the driver on Python {python}, or leave python unset",
        )
    return build(
        model,
        engine=engine,
        python=python or here,
        target=target,
        packages=packages,
        home=home,
        specs=specs,
        locks=locks,
        working_dir=working_dir,
        launcher=launcher,
    )


def _launcher_words(launcher: str) -> list[str]:
    """``launcher`` as words, as a shell would split it; refused when it names no
    command or its quotes do not close."""
    try:
        words = shlex.split(launcher)
    except ValueError as exc:
        raise UsageError(f"--launcher {launcher!r}: {exc}") from None
    if not words:
        raise UsageError(
            "--launcher is empty: it must name how a node runs modelenv",
            hint="--launcher modelenv, or a path such as /opt/venv/bin/modelenv",
        )
    return words


def _refuse_credentials(packages: Sequence[str]) -> None:
    """py_executable is every worker's command line: a -p URL's credentials
    there would show in any process listing on every node (and in Ray's
    stored runtime_env), so it is refused, not passed."""
    from .indexes import mask_secrets

    for req in packages:
        masked = mask_secrets(req)
        if masked != req:
            raise UsageError(
                f"-p {masked!r} carries credentials, which a Ray worker's command line"
                " (py_executable) would show to every process listing",
                hint="give them to uv another way (a netrc file, or UV_INDEX_<NAME>_USERNAME"
                " and _PASSWORD in the nodes' environment) and pass the URL without them",
            )


def build(
    model: str,
    *,
    engine: str | None,
    python: str | None,
    target: str | None,
    packages: Sequence[str],
    home: str | os.PathLike[str] | None,
    specs: str | os.PathLike[str] | None,
    locks: str | os.PathLike[str] | None,
    working_dir: bool | str | os.PathLike[str],
    launcher: str,
) -> dict[str, Any]:
    """:func:`runtime_env` without the driver's Python check (``export --ray``)."""
    check_request(model, engine, python, packages)
    _refuse_credentials(packages)
    engine = None if engine in (None, "default") else engine
    paths = Paths.resolve(specs, locks, home)
    request = Request(
        model=model, engine=engine, python=python, packages=tuple(packages), target=target
    )
    from .plan import make_plan

    plan = make_plan(paths, request)
    check_sees_ray(paths, plan)

    # --share-venv: the node's environment layers on the interpreter modelenv
    # runs in (the one Ray runs), whose ray the workers then import.
    command = [*_launcher_words(launcher), "run", "--exec", "--share-venv", model]
    if engine:
        command += ["--engine", engine]
    command += ["--python", plan.python]
    if target:
        command += ["--target", target]
    for req in packages:
        command += ["-p", req]
    command += ["--", "python"]

    env_vars: dict[str, str] = {}
    result: dict[str, Any] = {"py_executable": shlex.join(command), "env_vars": env_vars}
    if home is not None:
        env_vars["MODELENV_HOME"] = str(paths.home)
    if working_dir is False:
        env_vars["MODELENV_SPECS"] = str(paths.specs)
        env_vars["MODELENV_LOCKS"] = str(paths.locks)
        return result
    # Ray starts workers in the unpacked working_dir: relative paths find the copy.
    if working_dir is True:
        folder = _stage(paths, model)
        env_vars["MODELENV_SPECS"], env_vars["MODELENV_LOCKS"] = "specs", "locks"
    else:
        folder = Path(working_dir).absolute()
        env_vars["MODELENV_SPECS"] = _inside(folder, paths.specs, "specs")
        env_vars["MODELENV_LOCKS"] = _inside(folder, paths.locks, "locks")
    result["working_dir"] = str(folder)
    return result


def check_sees_ray(paths: Paths, plan: Any) -> None:
    """Fail now, not in a worker: the environment must import ray, the same
    ray as the driver's."""
    model = plan.spec.name
    spec = display(plan.spec_path)
    driver = _installed_ray()
    pin = f"ray=={driver}" if driver else "ray"
    if any(r.key == "ray" for r in plan.merged.requirements):
        locked = _locked_ray(paths, plan)
        if driver and locked and not _same(locked, driver):
            raise ModelenvError(
                f"{model}: its lock pins ray {locked}, but this driver runs ray {driver};"
                " every Ray process must run the same ray",
                hint=f'pin "{pin}" in {spec} and run modelenv lock {model}',
            )
        return
    if not plan.spec.env.system_site_packages:
        raise ModelenvError(
            f"{model}: its environment cannot import ray: {spec} sets"
            " system_site_packages = false and does not list ray",
            hint=f'add "{pin}" to [env] packages in {spec}, or set system_site_packages = true',
        )
    if plan.host is not None:  # a target: the host it describes
        where, have = plan.host.source, plan.host.version_of("ray")
    else:
        # make_plan keeps going without an interpreter; here its absence is the error.
        interp = plan.interpreter or find_interpreter(plan.python)
        where, have = interp.executable, interp.version_of("ray")
    if have is None:
        raise ModelenvError(
            f"{model}: its environment cannot import ray: the base interpreter"
            f" ({where}) has none and {spec} does not list it",
            hint=f'{RAY_HINT} there, or add "{pin}" to [env] packages in {spec}',
        )
    if driver and not _same(have, driver):
        raise ModelenvError(
            f"{model}: the base interpreter ({where}) has ray {have}, but this driver runs"
            f" ray {driver}; every Ray process must run the same ray",
            hint=f"install ray=={driver} there",
        )


def _same(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _installed_ray() -> str | None:
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


def _locked_ray(paths: Paths, plan: Any) -> str | None:
    path = lock_path(paths.locks, plan.spec.name, plan.engine_name, plan.python, plan.target)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None  # no committed lock: the node resolves one, the spec's pin decides
    for package in parse_lock(text).packages:
        if package.name == "ray":
            return package.version or None
    return None


def _inside(folder: Path, path: Path, what: str) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        raise UsageError(
            f"working_dir {folder} does not hold the {what} folder {path}",
            hint="pass working_dir=True to ship a copy of specs/ and locks/",
        ) from None


def _stage(paths: Paths, model: str) -> Path:
    """A folder holding ``specs/`` and the model's ``locks/``, named by content:
    the same inputs give the same folder (and Ray uploads it once)."""
    files: dict[str, bytes] = {}
    # The engine defaults travel too (spec_files leaves out files starting with "_").
    for spec in [*spec_files(paths.specs), paths.engines_path]:
        if spec.is_file() and not spec.is_symlink():
            files[f"specs/{spec.name}"] = spec.read_bytes()
    model_locks = paths.locks / model
    if model_locks.is_dir() and not model_locks.is_symlink():
        for lock in sorted(model_locks.rglob("*.txt")):
            if lock.is_file() and not lock.is_symlink():
                files[f"locks/{lock.relative_to(paths.locks).as_posix()}"] = lock.read_bytes()
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    root = paths.home / "ray" / "working_dir"
    final = root / h.hexdigest()[:16]
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".stage-", dir=root))
    try:
        (staging / "locks").mkdir()
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.replace(staging, final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not final.is_dir():  # another process staged the same content first
            raise
    return final
