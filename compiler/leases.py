"""Leases: which live processes use an environment, so that remove and gc
leave it alone. Light on purpose: ``ensure_env`` takes one at every launch.

A lease is a file ``.<X.Y.Z>.leases/<pid>`` beside the environment holding the
process's start time, so that a recycled pid does not keep a lease alive.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .store import RECORD_NAME

__all__ = ["lease_dir", "live_leases", "mark_used", "release", "take"]


def lease_dir(env_path: Path) -> Path:
    return env_path.with_name(f".{env_path.name}.leases")


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks (Linux); '' where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            # The command name (field 2) may hold spaces; it ends at the last ')'.
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return not started or _start_time(pid) in ("", started)


def take(env_path: Path, pid: int | None = None) -> Path:
    """Record that process ``pid`` (default: this one) uses the environment."""
    pid = os.getpid() if pid is None else pid
    folder = lease_dir(env_path)
    path = folder / str(pid)
    started = _start_time(pid)
    try:
        if path.read_text(encoding="ascii") == started:
            return path  # ours already: the launch path stops at one read
    except OSError:
        pass
    # Missing, or left by an earlier process with the same pid: (re)write it.
    # Best effort: a read-only home must not stop a model from starting.
    with contextlib.suppress(OSError):
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{pid}.tmp"
        tmp.write_text(started, encoding="ascii")
        os.replace(tmp, path)
    return path


def release(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def live_leases(env_path: Path) -> list[int]:
    """Pids of live processes holding a lease; stale leases are removed on the way."""
    folder = lease_dir(env_path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    pids = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            started = (folder / name).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if _alive(int(name), started):
            pids.append(int(name))
        else:
            release(folder / name)
    return sorted(pids)


def mark_used(env_path: Path) -> None:
    """Note the time of use (the record's mtime): gc evicts the least recently used."""
    with contextlib.suppress(OSError):
        os.utime(env_path / RECORD_NAME)
