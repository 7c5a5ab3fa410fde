"""Atomic file operations: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_write",
    "create_new",
    "remove_stale_temps",
    "stale_temps",
    "temp_sibling",
]


@contextlib.contextmanager
def temp_sibling(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` (same filesystem, so ``os.replace`` is atomic),
    removed on the way out unless it was moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the name lets a later run tell a dead writer's leftover (see
    # remove_stale_temps) from a file another process is writing right now.
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read_umask() -> int:
    # Setting the umask to read it is process-wide: another thread creating a
    # file in between would get 0o777. So read it once, at import, where no
    # other modelenv thread runs yet (Linux also shows it in /proc).
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    # mkstemp creates 0600; a spec or lock is an ordinary file (0644 under umask 022).
    os.chmod(path, 0o666 & ~_UMASK)


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step."""
    with temp_sibling(path) as tmp:
        _write_synced(tmp, text.encode("utf-8"))
        os.replace(tmp, path)


def create_new(path: Path, text: str) -> bool:
    """Write ``path`` only if it does not exist, atomically; False when it already did."""
    with temp_sibling(path) as tmp:
        _write_synced(tmp, text.encode("utf-8"))
        try:
            os.link(tmp, path)  # fails if path exists: no check-then-write race
        except FileExistsError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temps(folder: Path, pattern: str = "**/.*.tmp") -> list[Path]:
    """Temporary files under ``folder`` left by writers that died (a SIGKILL
    between write and rename)."""
    out = []
    for tmp in sorted(folder.glob(pattern)):
        parts = tmp.name.split(".")
        # ".NAME.PID.RANDOM.tmp": the pid is the third field from the end.
        pid = parts[-3] if len(parts) >= 4 else ""
        if pid.isdigit() and not _pid_alive(int(pid)) and tmp.is_file():
            out.append(tmp)
    return out


def remove_stale_temps(folder: Path) -> list[Path]:
    removed = []
    for tmp in stale_temps(folder):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed
