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
from pathlib import Path

from .fastio import lease_folder, open_folder, read_lease, take_lease
from .fastio import start_time as _start_time

__all__ = ["lease_dir", "live_leases", "pid_alive", "release", "take"]


def lease_dir(env_path: Path) -> Path:
    return Path(lease_folder(str(env_path)))


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


def take(env_path: Path, pid: int | None = None) -> Path:
    """Record that process ``pid`` (default: this one) uses the environment
    (:func:`compiler.fastio.take_lease`, which the launch path calls directly)."""
    return Path(take_lease(str(env_path), pid))


def release(path: Path) -> None:
    """Drop a lease; never fails (the command it guarded has finished)."""
    dir_fd = open_folder(path.parent)
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
    dir_fd = open_folder(lease_dir(env_path))
    if dir_fd is None:
        return []
    pids = []
    try:
        for name in os.listdir(dir_fd):
            if not name.isdigit():
                continue
            started = read_lease(dir_fd, name)
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
