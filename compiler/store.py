"""The environment store under the modelenv home, and the launch-time fast path.

Layout (v4, the one modelenv builds):
``<home>/virtualenv/v4/<model>/<engine>/<X.Y.Z>/`` holding the virtual
environment, the lock it was built from (``modelenv-lock.txt``) and its record
(``modelenv-record.json``), written last. A directory without a valid record is
never used.

Everything here is light on purpose: :func:`find_current` decides "up to date"
from file bytes and stat calls only, without pydantic, jinja2 or uv.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from .fastio import read_own, sha256
from .fresh import (
    LAYOUT,
    RECORD_FORMAT,
    RECORD_NAME,
    env_vars,
    host_unchanged,
    launch_inputs,
    read_record,
    record_digest,
    stat_key,
)
from .lockfile import lock_path
from .paths import Paths, beneath_venv, version_key
from .request import Request

TYPE_CHECKING = False  # not typing's: see compiler.fresh
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LOCK_NAME",
    "RECORD_FORMAT",
    "RECORD_NAME",
    "Environment",
    "env_root",
    "find_current",
    "is_leftover",
    "read_own",
    "read_record",
    "request_key",
    "stat_key",
]

LOCK_NAME = "modelenv-lock.txt"


def _toml_loads(text: str) -> dict[str, Any]:
    # Imported here: the launch path decides without reading TOML.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    data: dict[str, Any] = tomllib.loads(text)
    return data


@dataclass(frozen=True)
class Environment:
    """A ready environment: where it is, its interpreter, and how to run in it."""

    path: Path
    python: Path
    record: dict[str, Any]

    @property
    def bin_dir(self) -> Path:
        return self.python.parent

    def env_vars(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment variables for a subprocess that runs inside this environment."""
        return env_vars(str(self.path), base)


def env_root(home: Path, model: str, engine: str) -> Path:
    return home / "virtualenv" / LAYOUT / model / engine


def env_python(path: Path) -> Path:
    if os.name == "nt":  # pragma: no cover
        return path / "Scripts" / "python.exe"
    return path / "bin" / "python"


def _read(path: Path | None) -> bytes:
    if path is None:
        return b"-"
    try:
        # O_NONBLOCK and regular files only: a FIFO would block the launch forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return b"-"
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read() if stat.S_ISREG(os.fstat(fd).st_mode) else b"-"
        except OSError:
            return b"-"


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its checksum: a record edited by hand is then invalid."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return {**body, "checksum": record_digest(body)}


def staging_path(root: Path, version: str) -> Path:
    """Where an environment of ``version`` (X.Y.Z) is built before it is swapped
    in. One name per environment: builds of it take turns under its file lock,
    and uv then finds the interpreter it queried last time at the same path in
    its cache (a path of its own per build cost every cold create a fresh
    interpreter query, about a tenth of a second). What a killed build left
    there is a leftover (:func:`is_leftover`), removed by the next build; one
    that could not be removed never stands in the way of a build, which then
    takes a name of its own (``.<X.Y.Z>.build-<pid>``)."""
    staging = root / f".{version}.build-staging"
    if os.path.lexists(staging):
        return root / f".{version}.build-{os.getpid()}"
    return staging


def is_leftover(name: str, version: str) -> bool:
    """Is ``name`` what a killed build or swap of ``version`` (X.Y.Z) left beside
    it? Leftovers are never used and never make a valid environment stale."""
    return name.startswith((f".{version}.build-", f".{version}.old-"))


def select_python(listed: list[str], requested: str | None, preferred: str | None) -> str:
    """The X.Y to use: the request; else the preferred one (overrides' [global])
    when the spec allows it; else the running one when the spec lists it (or
    lists none); else the newest the spec lists."""
    if requested:
        return requested
    if preferred and (not listed or preferred in listed):
        return preferred
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not listed or here in listed:
        return here
    return str(max(listed, key=version_key))


def choose_python(
    spec_bytes: bytes, requested: str | None, preferred: str | None = None
) -> str | None:
    """:func:`select_python` from the raw spec; None when the spec cannot be read."""
    try:
        data = _toml_loads(spec_bytes.decode("utf-8"))
        listed = data.get("env", {}).get("python", [])
    except (ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
        return None
    return select_python(listed, requested, preferred)


def overrides_file(paths: Paths, request: Request) -> Path | None:
    if not request.use_overrides:
        return None
    if request.overrides is not None:
        return request.overrides
    default = paths.home / "overrides.toml"
    return default if default.is_file() else None


def _overrides_python(
    path: Path | None, model: str, key: str = "python"
) -> tuple[str | None, str | None]:
    """(the model's python, the [global] python) from the overrides file (or
    another string ``key`` of theirs)."""
    if path is None:
        return None, None
    try:
        data = _toml_loads(_read(path).decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, None
    # A malformed file is left to the slow path, which reports it properly.
    models = data.get("models")
    sections = [models.get(model) if isinstance(models, dict) else None, data.get("global")]
    found = [
        str(s[key]) if isinstance(s, dict) and isinstance(s.get(key), str) else None
        for s in sections
    ]
    return found[0], found[1]


def request_key(paths: Paths, request: Request, python: str, *, skip_installed: bool) -> str:
    """A digest of every input that decides what an environment contains.

    Raw bytes of the spec, the engine defaults, the overrides and the committed
    lock, plus the request: equal digests mean nothing the user controls changed.
    """
    import json

    engine = request.engine or "default"
    h = sha256()
    overrides = overrides_file(paths, request)
    parts: list[bytes] = [
        f"record-{RECORD_FORMAT}".encode(),
        request.model.encode(),
        engine.encode(),
        python.encode(),
        _read(paths.spec_path(request.model)),
        _read(paths.engines_path),
        _read(overrides),
        _read(lock_path(paths.locks, request.model, engine, python)),
        json.dumps(list(request.packages)).encode(),
        _base_choice(request, python, overrides).encode(),
        b"skip" if skip_installed else b"noskip",
        b"strict" if request.strict_system else b"lenient",
        # The target asked for (--target, target=, MODELENV_TARGET); "" to match the host.
        (request.target or os.environ.get("MODELENV_TARGET") or "").encode(),
    ]
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return str(h.hexdigest())


def _base_choice(request: Request, python: str, overrides: Path | None) -> str:
    """The base interpreter asked for, when it is not simply the calling one
    (so that existing records keep their key): an explicit one, or, for the
    command line in a venv, the interpreter beneath it. Stat calls only."""
    explicit = request.base_python or os.environ.get("MODELENV_BASE_PYTHON")
    if explicit:
        import shutil

        chosen = os.path.abspath(shutil.which(explicit) or explicit)
    elif python != f"{sys.version_info[0]}.{sys.version_info[1]}":
        return ""  # found by searching, whoever asks
    elif any(_overrides_python(overrides, request.model, "base_python")):
        return ""  # named by the overrides file, whose bytes are in the key
    elif request.base_beneath_venv:
        chosen = beneath_venv() or sys.executable
    else:
        return ""
    return "" if chosen == os.path.abspath(sys.executable) else chosen


def resolve_python(paths: Paths, request: Request) -> str | None:
    spec_bytes = _read(paths.spec_path(request.model))
    model_python, global_python = _overrides_python(overrides_file(paths, request), request.model)
    return choose_python(spec_bytes, request.python or model_python, global_python)


def inputs_of(
    paths: Paths, request: Request, python: str, *, skip_installed: bool
) -> dict[str, Any]:
    """What the launch path compares (see :mod:`compiler.fresh`); taken before
    the files are read for :func:`request_key`, so that an edit in between
    shows as a change."""
    used = overrides_file(paths, request)
    return launch_inputs(
        specs=str(paths.specs),
        locks=str(paths.locks),
        model=request.model,
        engine=request.engine or "default",
        python=python,
        requested_python=request.python,
        packages=request.packages,
        overrides=os.path.abspath(used) if used is not None else None,
        base_python=request.base_python,
        beneath_venv=request.base_beneath_venv,
        skip_installed=skip_installed,
        strict_system=request.strict_system,
        target=request.target,
    )


def find_current(paths: Paths, request: Request, *, skip_installed: bool) -> Environment | None:
    """The up-to-date environment for ``request``, or None: decided from the
    bytes of what it derives from, when the launch path's identities missed.

    An environment found current whose files only have new identities (a
    ``touch``, a ``git checkout`` of the same bytes) gets them in its record
    (:mod:`compiler.refresh`): the next launch is stat-only again.
    """
    if request.overrides is not None and not os.path.isfile(request.overrides):
        return None  # the slow path says the file is missing
    python = resolve_python(paths, request)
    if python is None:
        return None
    # Identities first, bytes second: an edit in between shows as a change.
    inputs = inputs_of(paths, request, python, skip_installed=skip_installed)
    key = request_key(paths, request, python, skip_installed=skip_installed)
    root = env_root(paths.home, request.model, request.engine or "default")
    try:
        names = os.listdir(root)
    except OSError:
        return None
    prefix = python + "."
    candidates = sorted(
        (n for n in names if n.startswith(prefix) and n[len(prefix) :].isdigit()),
        key=version_key,
        reverse=True,
    )
    # Leftovers of killed builds (see is_leftover) beside a candidate do not
    # matter: its record alone says whether it is complete and current.
    for name in candidates:
        path = root / name
        record = read_record(path)
        if record is None or record.get("key") != key:
            continue
        from .refresh import lock_file_now  # a relock, or a touch: the bytes say

        same, lock_file = lock_file_now(paths.locks, record)
        if not same:
            continue
        if not host_unchanged(str(path), {**record, "lock_file": lock_file}):
            continue
        # Identities taken for another Python's lock would never match: kept.
        ours = inputs if record.get("python") == python else record.get("launch")
        if record.get("launch") != ours or record.get("lock_file") != lock_file:
            from .refresh import refreshed

            record = refreshed(paths.home, path, record, ours, lock_file)
        return Environment(path, env_python(path), record)
    return None
