"""Leases: which live processes use an environment, so that remove and gc
leave it alone. Light on purpose: ``ensure_env`` takes one at every launch.

A lease is a file ``.<X.Y.Z>.leases/<pid>`` beside the environment holding the
process's start time, so that a recycled pid does not keep a lease alive.

The lease folder is never followed when it is a link: a link there could lead
out of the home, and reading or deleting through it would touch files that
are not modelenv's.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from .store import RECORD_NAME

__all__ = ["lease_dir", "live_leases", "mark_used", "pid_alive", "release", "take"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


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


def pid_alive(pid: int) -> bool:
    """Does process ``pid`` exist? A pid no system can have (a lease file named
    99999999999999999999) does not."""
    if not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _alive(pid: int, started: str) -> bool:
    if not pid_alive(pid):
        return False
    now = _start_time(pid)
    # Where the start time is known, the lease must name it: an empty or
    # different one was left by an earlier process with the same pid.
    return not now or now == started


def _open_folder(folder: Path) -> int | None:
    """The lease folder as a file descriptor, never through a link; None when
    it is missing or not a real folder."""
    try:
        return os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except (OSError, ValueError):
        return None


def _read_lease(dir_fd: int, name: str) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def _make_folder(folder: Path) -> int | None:
    """Open the lease folder, creating it; whatever else stands there (a file, a
    link) is replaced: it is not a lease folder, and a link is removed, never followed."""
    fd = _open_folder(folder)
    if fd is not None:
        return fd
    with contextlib.suppress(OSError):
        if (os.path.lexists(folder) and not os.path.isdir(folder)) or os.path.islink(folder):
            os.unlink(folder)
        folder.mkdir(exist_ok=True)
    return _open_folder(folder)


def take(env_path: Path, pid: int | None = None) -> Path:
    """Record that process ``pid`` (default: this one) uses the environment."""
    pid = os.getpid() if pid is None else pid
    folder = lease_dir(env_path)
    path = folder / str(pid)
    started = _start_time(pid)
    dir_fd = _open_folder(folder)
    if dir_fd is not None:
        try:
            if _read_lease(dir_fd, str(pid)) == started:
                return path  # ours already: the launch path stops at one read
        finally:
            os.close(dir_fd)
    # Missing, or left by an earlier process with the same pid: (re)write it.
    # Best effort: a read-only home must not stop a model from starting.
    dir_fd = _make_folder(folder)
    if dir_fd is None:
        return path
    tmp = f".{pid}.tmp"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=dir_fd
        )
        try:
            os.write(fd, started.encode("ascii"))
        finally:
            os.close(fd)
        os.replace(tmp, str(pid), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def release(path: Path) -> None:
    """Drop a lease; never fails (the command it guarded has finished)."""
    dir_fd = _open_folder(path.parent)
    if dir_fd is None:
        return
    try:
        os.unlink(path.name, dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def live_leases(env_path: Path) -> list[int]:
    """Pids of live processes holding a lease; stale leases are removed on the way."""
    dir_fd = _open_folder(lease_dir(env_path))
    if dir_fd is None:
        return []
    pids = []
    try:
        for name in os.listdir(dir_fd):
            if not name.isdigit():
                continue
            started = _read_lease(dir_fd, name)
            if started is None:
                continue
            if _alive(int(name), started):
                pids.append(int(name))
            else:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return sorted(pids)


def mark_used(env_path: Path) -> None:
    """Note the time of use (the record's mtime): gc evicts the least recently used."""
    with contextlib.suppress(OSError, NotImplementedError):
        os.utime(env_path / RECORD_NAME, follow_symlinks=False)
