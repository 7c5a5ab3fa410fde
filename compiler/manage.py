"""The environment store as operators see it: scan, remove, garbage-collect.

Layouts under ``<home>/virtualenv``, all recognised, only v4 built:
v1 ``<model>``, v2 ``v2/<model>``, v3 ``v3/<model>/<X.Y.Z>``,
v4 ``v4/<model>/<engine>/<X.Y.Z>``. Nothing here follows a symlink out of the
home, and every deletion takes the environment's file lock first, so it never
races a build.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .envlock import env_lock
from .errors import ModelenvError, UsageError
from .fsutil import os_error, remove_path, within
from .leases import lease_dir, live_leases
from .paths import Paths
from .store import RECORD_NAME, read_record

__all__ = ["Entry", "footprint", "format_size", "parse_size", "remove_entry", "scan"]

_VERSION_DIR = re.compile(r"^\d+\.\d+\.\d+$")
_XY_DIR = re.compile(r"^\d+\.\d+$")  # Xinference names its v4 Python folders X.Y
_LEFTOVER = re.compile(r"^\.(\d+\.\d+\.\d+)\.(?:build-(?:\d+|staging)|old-\d+)$")


@dataclass
class Entry:
    path: Path
    model: str
    engine: str | None  # None for layouts without engines
    python: str | None  # X.Y.Z when the layout says
    layout: str  # v1 .. v4
    status: str = "ok"  # ok | stale | broken | legacy | partial
    record: dict[str, Any] | None = None
    size: int = 0
    last_used: float = 0.0
    leases: list[int] = field(default_factory=list)
    own: int = 0  # bytes in files no other path links to
    shared: dict[tuple[int, int], int] = field(default_factory=dict)  # hard-linked files

    @property
    def installed(self) -> int:
        return len((self.record or {}).get("installed", []))

    @property
    def reused(self) -> int:
        return len((self.record or {}).get("reused", []))

    @property
    def lock_file(self) -> Path | None:
        if self.layout != "v4" or self.python is None or not _VERSION_DIR.match(self.python):
            return None
        return self.path.parent / f".{self.python}.lock"

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "engine": self.engine,
            "python": self.python,
            "layout": self.layout,
            "status": self.status,
            "installed": self.installed if self.record else None,
            "reused": self.reused if self.record else None,
            "target": (self.record or {}).get("target"),
            "size": self.size,
            "last_used": _iso(self.last_used),
            "in_use_by": self.leases,
            "path": str(self.path),
        }


def _iso(ts: float) -> str | None:
    if not ts:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _dirs(folder: Path) -> list[str]:
    try:
        return sorted(
            n for n in os.listdir(folder) if (folder / n).is_dir() or (folder / n).is_symlink()
        )
    except OSError:
        return []


def _names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _raw_entries(home: Path) -> Iterable[Entry]:
    base = home / "virtualenv"
    for model in _dirs(base):
        if model in ("v2", "v3", "v4") or model.startswith("."):
            continue
        yield Entry(base / model, model, None, None, "v1", "legacy")
    for model in _dirs(base / "v2"):
        if not model.startswith("."):
            yield Entry(base / "v2" / model, model, None, None, "v2", "legacy")
    for model in _dirs(base / "v3"):
        if (base / "v3" / model).is_symlink():
            yield Entry(base / "v3" / model, model, None, None, "v3", "broken")
            continue
        for version in _dirs(base / "v3" / model):
            yield Entry(base / "v3" / model / version, model, None, version, "v3", "legacy")
    for model in _dirs(base / "v4"):
        if (base / "v4" / model).is_symlink():
            # Never descend through a link: it may lead out of the home.
            yield Entry(base / "v4" / model, model, None, None, "v4", "broken")
            continue
        for engine in _dirs(base / "v4" / model):
            root = base / "v4" / model / engine
            if root.is_symlink():
                yield Entry(root, model, engine, None, "v4", "broken")
                continue
            for name in _names(root):
                if (m := _LEFTOVER.match(name)) is not None:
                    # Any kind of file: a plain file there is as much a leftover.
                    yield Entry(root / name, model, engine, m.group(1), "v4", "partial")
                elif not (root / name).is_dir() and not (root / name).is_symlink():
                    continue
                elif _VERSION_DIR.match(name):
                    yield Entry(root / name, model, engine, name, "v4")
                elif _XY_DIR.match(name):
                    yield Entry(root / name, model, engine, name, "v4", "legacy")


def _measure(path: Path, entry: Entry, seen: set[tuple[int, int]]) -> None:
    """Bytes on disk below ``path``. ``entry.size`` charges a hard-linked file to
    the first environment listed (``seen``); ``own`` and ``shared`` keep what
    :func:`footprint` needs to know what removing environments really frees."""
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for item in it:
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(Path(item.path))
                        continue
                    size = st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
                    if st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        entry.shared[key] = size
                        if key in seen:
                            continue
                        seen.add(key)
                    else:
                        entry.own += size
                    entry.size += size
        except OSError:
            continue


def footprint(entries: Iterable[Entry]) -> int:
    """What ``entries`` take on disk together, each hard-linked file once."""
    own = 0
    shared: dict[tuple[int, int], int] = {}
    for e in entries:
        own += e.own
        shared.update(e.shared)
    return own + sum(shared.values())


def _last_used(entry: Entry) -> float:
    candidates = [entry.path / RECORD_NAME, entry.path]
    folder = lease_dir(entry.path)
    if folder.is_dir() and not folder.is_symlink():  # never listed through a link
        candidates += list(folder.iterdir())
    times = []
    for p in candidates:
        with contextlib.suppress(OSError):
            times.append(os.stat(p, follow_symlinks=False).st_mtime)
    return max(times, default=0.0)


def scan(
    paths: Paths,
    *,
    is_stale: Callable[[Entry], bool] | None = None,
    sizes: bool = True,
) -> list[Entry]:
    """Every environment under the home, with status, size and last use."""
    seen: set[tuple[int, int]] = set()
    out = []
    for entry in _raw_entries(paths.home):
        if entry.path.is_symlink() or not _inside(paths.home, entry.path):
            # Never followed: it may point out of the home.
            entry.status = "broken"
            out.append(entry)
            continue
        elif entry.layout == "v4" and entry.status == "ok":
            entry.record = read_record(entry.path)
            if entry.record is None:
                entry.status = "broken"
            elif is_stale is not None and is_stale(entry):
                entry.status = "stale"
        if sizes:
            _measure(entry.path, entry, seen)
        entry.last_used = _last_used(entry)
        entry.leases = live_leases(entry.path) if entry.layout == "v4" else []
        out.append(entry)
    return out


def spec_staleness(paths: Paths) -> Callable[[Entry], bool]:
    """A check: does the environment's lock still match its spec?"""
    from .plan import make_plan
    from .request import Request

    cache: dict[tuple[str, str, str, str | None], str | None] = {}

    def current_fingerprint(model: str, engine: str, python: str, target: str | None) -> str | None:
        key = (model, engine, python, target)
        if key not in cache:
            try:
                plan = make_plan(
                    paths,
                    Request(
                        model=model,
                        engine=None if engine == "default" else engine,
                        python=python,
                        use_overrides=False,
                        target=target,  # built from a target's lock: its plan
                    ),
                    inspect_host=False,
                )
                cache[key] = plan.fingerprint()
            except ModelenvError:
                cache[key] = None  # the spec or the target is gone or invalid
        return cache[key]

    def is_stale(entry: Entry) -> bool:
        record = entry.record or {}
        base = record.get("base", {}).get("executable")
        if base and not os.path.exists(base):
            return True  # its base interpreter is gone (pipx uninstall): create rebuilds it
        python = str(record.get("python", ""))
        target = record.get("target")
        current = current_fingerprint(
            entry.model, entry.engine or "default", python, str(target) if target else None
        )
        return current is None or current != record.get("lock_fingerprint")

    return is_stale


def _inside(home: Path, path: Path) -> bool:
    """Does the folder holding ``path`` resolve inside the home? The store itself
    (home/virtualenv) may be a link to a bigger disk: that is where create
    builds, so it is inside; links below it are never followed."""
    return within(home, path.parent) or within(home / "virtualenv", path.parent)


def check_inside(home: Path, path: Path) -> None:
    """Refuse to touch anything that resolves outside the home."""
    if not _inside(home, path):
        raise ModelenvError(f"refusing to remove {path}: it resolves outside {home}")


def remove_entry(
    home: Path,
    entry: Entry,
    *,
    force: bool = False,
    wait: float | None = None,
    say: Callable[[str], None] | None = None,
) -> int:
    """Delete one environment; returns the bytes freed. Takes its file lock first
    (waiting as :func:`envlock.env_lock` does). Raises :class:`ModelenvError`
    naming what could not be removed and why."""
    check_inside(home, entry.path)
    if entry.leases and not force:
        raise _in_use(entry.path, entry.leases)
    lock = entry.lock_file
    try:
        if lock is None:
            return _delete(entry, force)
        with env_lock(lock, f"removing {entry.path}", wait=wait, say=say):
            # A process may have taken a lease while we waited for the lock.
            entry.leases = live_leases(entry.path)
            if entry.leases and not force:
                raise _in_use(entry.path, entry.leases)
            return _delete(entry, force)
    except OSError as exc:
        raise os_error(exc, f"cannot remove {entry.path}") from None


def _in_use(path: Path, pids: list[int]) -> ModelenvError:
    return ModelenvError(
        f"{path} is in use by process {', '.join(map(str, pids))}",
        hint="stop it first, or pass --force",
    )


def _cannot(path: Path, why: str) -> ModelenvError:
    return ModelenvError(
        f"cannot remove {path}: {why}", hint="fix the cause (or remove it by hand) and run again"
    )


def _delete(entry: Entry, force: bool) -> int:
    path = entry.path
    if not os.path.lexists(path):
        return 0
    if path.is_symlink() or not path.is_dir():
        why = remove_path(path)  # the link only; never what it points to
        if why is not None:
            raise _cannot(path, why)
        return 0 if path.is_symlink() else entry.size
    if entry.status == "partial":
        # A uv left running by a killed build goes first (see building.cleanup_leftovers).
        from .children import stop_users

        still = stop_users(str(path))
        if still:
            raise _cannot(path, f"still used by process {', '.join(map(str, still))}")
    # Rename first: the environment disappears from its final path in one step.
    in_place = entry.layout != "v4" or entry.status == "partial"
    doomed = path if in_place else path.with_name(f".{path.name}.old-{os.getpid()}")
    if doomed != path:
        why = remove_path(doomed)
        if why is not None:
            raise _cannot(doomed, why)
        os.rename(path, doomed)
        # ensure_env leases first and then checks the path: a lease that came
        # in just before the rename wins, and the environment goes back.
        users = live_leases(path)
        if users and not force:
            os.rename(doomed, path)
            raise _in_use(path, users)
    why = remove_path(doomed)
    leases_why = remove_path(lease_dir(path))
    if why is not None:
        if doomed != path:
            why += f"; {path} is gone, the rest stays as a leftover gc reports"
        raise _cannot(doomed, why)
    if leases_why is not None:
        raise _cannot(lease_dir(path), leases_why)
    return entry.size


def _safe_component(name: str) -> bool:
    """A name that can only ever mean one folder below the home. Wider than a spec
    name: other tools' homes have names like 'Qwen2-VL-Instruct'."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


def select(
    entries: Iterable[Entry], model: str | None, engine: str | None, python: str | None
) -> list[Entry]:
    if model is not None and not _safe_component(model):
        raise UsageError(
            f"invalid model name {model!r}: path separators, '..' and leading dots are refused"
        )
    out = []
    for e in entries:
        if model is not None and e.model != model:
            continue
        if engine is not None and (e.engine or "default") != engine:
            continue
        version = e.python or ""
        if python is not None and version != python and not version.startswith(python + "."):
            continue
        out.append(e)
    return out


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GiB', '1024' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtb]?)(?:i?b)?\s*", text.lower())
    if m is None:
        raise UsageError(f"invalid size {text!r}: expected a number with K, M, G or T (e.g. 20G)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def format_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
