"""Is an environment up to date? Decided from file identities, for the launch path.

Every build stores in its record the identity (device, inode, size, mtime,
ctime) of the files it was made from (spec, engine defaults, overrides file,
committed lock) and the request's own inputs: :func:`launch_inputs`. When they
are all unchanged, so is everything the environment was derived from, and the
launch needs neither the spec's TOML nor a digest of its bytes. When one
changed (even a ``touch``), :func:`compiler.store.find_current` decides from
the bytes. Two writes of the same size to the same file within one tick of the
filesystem clock look alike here; modelenv itself always writes by rename.

Imports only what Python loads at start-up and two C modules (``_json``,
``_sha2``/``_sha256``): ``compiler.launch`` and ``ensure_env`` stand on it.
"""

from __future__ import annotations

import os
import sys

from .fastio import canonical_json, json_loads, read_own, sha256_hex, which

TYPE_CHECKING = False  # not typing's: importing typing costs a launch milliseconds
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = [
    "LAYOUT",
    "RECORD_FORMAT",
    "RECORD_NAME",
    "Fresh",
    "env_vars",
    "find_fresh",
    "flag",
    "host_unchanged",
    "identity",
    "launch_inputs",
    "note_used",
    "read_record",
    "record_digest",
    "resolve_dirs",
    "stat_key",
]

RECORD_NAME = "modelenv-record.json"
RECORD_FORMAT = 2  # 2: records carry a checksum
LAYOUT = "v4"


def flag(var: str, default: bool) -> bool:
    """A boolean environment variable: unset or blank is ``default``."""
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


def stat_key(path: str | os.PathLike[str]) -> list[int] | None:
    """What changes when a file is replaced: inode, size, mtime."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def identity(path: str) -> list[int] | None:
    """What changes when a file is replaced or written to: device, inode, size,
    mtime and ctime (which no one can set back)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def resolve_dirs(
    specs: str | os.PathLike[str] | None,
    locks: str | os.PathLike[str] | None,
    home: str | os.PathLike[str] | None,
) -> tuple[str, str, str] | None:
    """(specs, locks, home) as the command line resolves them: the arguments,
    else ``MODELENV_*``, else the project's ``[tool.modelenv]`` settings and
    folders (see project.py), else the defaults. None when a ``pyproject.toml``
    on the way cannot be read here as the command line reads it (not TOML, a
    key or a value it would refuse): the full command line then says why."""
    env = os.environ
    found = _project()
    if found is None:
        return None
    root, settings = found

    def setting(key: str, default: str) -> str:
        value = settings.get(key)
        if value is None:
            return default
        return os.path.join(root, os.path.expanduser(value))

    d_specs = os.path.join(root, "specs") if root else "specs"
    d_locks = os.path.join(root, "locks") if root else "locks"
    d_home = os.path.join(os.path.expanduser("~"), ".modelenv")
    return (
        os.path.abspath(specs or env.get("MODELENV_SPECS") or setting("specs", d_specs)),
        os.path.abspath(locks or env.get("MODELENV_LOCKS") or setting("locks", d_locks)),
        os.path.abspath(home or env.get("MODELENV_HOME") or setting("home", d_home)),
    )


# [tool.modelenv]'s keys and the type of each, as compiler.project.KEYS checks
# them (a test keeps the two in step); int: 1 or more, never a bool.
PROJECT_KEYS: dict[str, type] = {
    "specs": str,
    "locks": str,
    "home": str,
    "index-url": str,
    "extra-index-url": list,
    "find-links": list,
    "no-index": bool,
    "jobs": int,
    "python-downloads": bool,
}


def _project() -> tuple[str, dict[str, Any]] | None:
    """(the project root, its ``[tool.modelenv]`` settings) for the nearest
    folder at or above the current one with a ``pyproject.toml`` holding that
    table or with a ``specs/`` folder (("", {}) when there is none); None when
    a ``pyproject.toml`` on the way is left to the full command line."""
    folder = os.getcwd()
    while True:
        pyproject = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(pyproject):
            try:
                with open(pyproject, "rb") as f:
                    data = f.read()
            except OSError:
                return None
            if _may_set_modelenv(data):
                table = _modelenv_table(data)
                if table is None:
                    return None
                if table is not _ABSENT:
                    return folder, table
        if os.path.isdir(os.path.join(folder, "specs")):
            return folder, {}
        parent = os.path.dirname(folder)
        if parent == folder:
            return "", {}
        folder = parent


_ABSENT: dict[str, Any] = {}  # a pyproject.toml without [tool.modelenv]


def _modelenv_table(data: bytes) -> dict[str, Any] | None:
    """``[tool.modelenv]`` of a pyproject.toml (:data:`_ABSENT` when it has
    none), or None when the command line would refuse it or a value in it."""
    # Only in a project that may configure modelenv: about 2 ms.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        tool = tomllib.loads(data.decode("utf-8")).get("tool")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    table = tool.get("modelenv") if isinstance(tool, dict) else None
    if table is None:
        return _ABSENT
    if not isinstance(table, dict):
        return None
    for key, value in table.items():
        kind = PROJECT_KEYS.get(key)
        if kind is None or not isinstance(value, kind):
            return None
        if isinstance(value, bool) and kind is not bool:
            return None  # TOML's true is no count of jobs
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            return None
    return dict(table)


def _may_set_modelenv(pyproject: bytes) -> bool:
    """Could this ``pyproject.toml`` hold ``[tool.modelenv]``? Read without a
    TOML parser, so it errs towards yes (the parser then decides): a ``[tool]``
    table and the word anywhere, or a line naming both however it is spelt
    (``[ tool.modelenv ]``, ``[tool."modelenv"]``, ``tool = { modelenv = ...
    }``, dotted keys)."""
    if b"modelenv" not in pyproject:
        return False
    if b"[tool]" in pyproject:
        return True
    for line in pyproject.splitlines():
        bare = line.translate(None, b" \t\"'")
        if bare.startswith(b"[tool]") or (b"tool" in bare and b"modelenv" in bare):
            return True
    return False


def launch_inputs(
    *,
    specs: str,
    locks: str,
    model: str,
    engine: str,
    python: str,
    requested_python: str | None,
    packages: Sequence[str],
    overrides: str | None,
    base_python: str | None,
    beneath_venv: bool,
    skip_installed: bool,
    strict_system: bool,
    target: str | None,
) -> dict[str, Any]:
    """Everything an environment's contents derive from, as identities.

    ``overrides`` is the overrides file in use (None: none is used); ``python``
    the X.Y chosen, which names the committed lock; ``beneath_venv`` whether
    the request's default base is the interpreter beneath this one's venv (the
    command line) or this one (the API). Equal values mean the same files and
    the same request: what was current is current still.
    """
    explicit = base_python or os.environ.get("MODELENV_BASE_PYTHON") or None
    return {
        "files": [
            identity(os.path.join(specs, f"{model}.toml")),
            identity(os.path.join(specs, "_engines.toml")),
            identity(overrides) if overrides is not None else "unused",
            identity(os.path.join(locks, model, engine, f"py{python}.txt")),
        ],
        "request": [
            requested_python,
            f"{sys.version_info[0]}.{sys.version_info[1]}",
            # -p as a digest: a direct URL may carry credentials, never stored.
            sha256_hex(canonical_json(list(packages)).encode("utf-8")) if packages else None,
            # The base: the one asked for, as store._base_choice resolves it
            # (PATH too); else the default, which depends on who asks and from where.
            os.path.abspath(which(explicit, os.environ.get("PATH", "")) or explicit)
            if explicit
            else _default_base(beneath_venv),
            skip_installed,
            strict_system,
            target or os.environ.get("MODELENV_TARGET") or None,
        ],
    }


def _default_base(beneath_venv: bool) -> list[str]:
    """The default base, as identities: the calling interpreter, and for the
    command line the prefix beneath its venv (``sys.base_prefix``, read from
    ``pyvenv.cfg``): a venv recreated in place on another interpreter keeps
    its ``sys.executable`` but not the base ``paths.beneath_venv`` finds."""
    if not beneath_venv:
        return ["caller", os.path.abspath(sys.executable)]
    return ["beneath venv", os.path.abspath(sys.executable), os.path.abspath(sys.base_prefix)]


def record_digest(body: Mapping[str, Any]) -> str:
    """sha256 of the record's canonical JSON (sorted keys, no spaces)."""
    return "sha256:" + sha256_hex(canonical_json(body).encode("utf-8"))


# In-process: a record already checked, keyed by its file's identity, so that a
# server calling ensure_env() again reads and hashes nothing.
_checked: dict[str, tuple[list[int] | None, dict[str, Any]]] = {}


def read_record(env_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the environment at ``env_path``, or None when missing,
    invalid, edited by hand (its checksum no longer matches) or reached
    through a link (at the environment or the record: either could lead out
    of the home)."""
    try:
        data = json_loads(read_own(os.fspath(env_path), RECORD_NAME).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        return None
    body = {k: v for k, v in data.items() if k != "checksum"}
    if data.get("checksum") != record_digest(body):
        return None
    return data


def _read_record_cached(env_path: str) -> dict[str, Any] | None:
    path = os.path.join(env_path, RECORD_NAME)
    now = identity(path)
    cached = _checked.get(path)
    if cached is not None and now is not None and cached[0] == now:
        return cached[1]
    record = read_record(env_path)
    if record is not None:
        _checked[path] = (now, record)
    return record


def note_used(env_path: str) -> None:
    """Note the time of use (the record's mtime): gc evicts the least recently
    used. The in-process cache follows the record it checked (same file, same size)."""
    path = os.path.join(env_path, RECORD_NAME)
    try:
        # Never through a link: one there could lead out of the home.
        os.utime(path, follow_symlinks=False)
    except (OSError, ValueError, NotImplementedError):
        return
    cached = _checked.get(path)
    now = identity(path)
    # Same device, inode and size: the file this process checked, only touched.
    if (
        cached is not None
        and cached[0] is not None
        and now is not None
        and now[:3] == cached[0][:3]
    ):
        _checked[path] = (now, cached[1])


def env_python(env_path: str) -> str:
    if os.name == "nt":  # pragma: no cover
        return os.path.join(env_path, "Scripts", "python.exe")
    return os.path.join(env_path, "bin", "python")


def env_vars(env_path: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables for a process that runs inside the environment."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = env_path
    bin_dir = os.path.dirname(env_python(env_path))
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")]).rstrip(os.pathsep)
    return env


def host_unchanged(env_path: str, record: Mapping[str, Any]) -> bool:
    """Is the environment's interpreter there, and its base and the host's
    site-packages as they were when it was built?"""
    base = record.get("base", {})
    if not isinstance(base, dict) or stat_key(base.get("executable", "")) != base.get("stat"):
        return False  # the base interpreter has gone or was replaced
    for site, seen in record.get("host_site", []):
        if stat_key(site) != seen:
            return False  # packages were installed into or removed from the host
    lock_file = record.get("lock_file")
    if lock_file and stat_key(lock_file[0]) != lock_file[1]:
        return False  # the committed lock it was built from (a target's too) was relocked
    return os.path.exists(env_python(env_path))


class Fresh:
    """An up-to-date environment: its folder, its interpreter and its record."""

    __slots__ = ("path", "python", "record")

    def __init__(self, path: str, record: dict[str, Any]) -> None:
        self.path = path
        self.python = env_python(path)
        self.record = record


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split("."))


def find_fresh(
    *,
    specs: str,
    locks: str,
    home: str,
    model: str,
    engine: str | None,
    python: str | None,
    packages: Sequence[str] = (),
    overrides: str | None = None,
    use_overrides: bool = True,
    base_python: str | None = None,
    beneath_venv: bool = False,
    skip_installed: bool,
    strict_system: bool = False,
    target: str | None = None,
) -> Fresh | None:
    """The environment for this request when nothing it derives from changed.

    Never waits and never writes: a build in progress beside it, or its
    leftovers, do not concern an environment that is up to date.
    """
    engine = engine or "default"
    root = os.path.join(home, "virtualenv", LAYOUT, model, engine)
    try:
        names = os.listdir(root)
    except (OSError, ValueError):
        return None
    if not use_overrides:
        used = None
    elif overrides is not None:
        used = os.path.abspath(overrides)
    else:
        default = os.path.join(home, "overrides.toml")
        used = default if os.path.isfile(default) else None
    prefix = f"{python}." if python else ""
    candidates = [
        n
        for n in names
        if n.startswith(prefix) and n.count(".") == 2 and all(p.isdigit() for p in n.split("."))
    ]
    for name in sorted(candidates, key=_version_key, reverse=True):
        path = os.path.join(root, name)
        record = _read_record_cached(path)
        if record is None or not isinstance(record.get("python"), str):
            continue
        inputs = launch_inputs(
            specs=specs,
            locks=locks,
            model=model,
            engine=engine,
            python=record["python"],
            requested_python=python,
            packages=packages,
            overrides=used,
            base_python=base_python,
            beneath_venv=beneath_venv,
            skip_installed=skip_installed,
            strict_system=strict_system,
            target=target,
        )
        if record.get("launch") == inputs and host_unchanged(path, record):
            return Fresh(path, record)
    return None
