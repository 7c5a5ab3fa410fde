"""The per-environment file lock: one builder at a time, and no silent or
endless wait for it.

``.<X.Y.Z>.lock`` beside an environment is held (``flock``) by whoever builds,
rebuilds or deletes it. The holder writes its pid and what it does into the
file, so that a waiter can say whom it waits for. A wait is announced after a
second and bounded (``--wait SECONDS``, ``MODELENV_LOCK_TIMEOUT``, default
:data:`DEFAULT_WAIT`); past the bound it fails with a message naming the holder.

The lock file is opened without following links: a link there could lead out
of the home, and opening it for writing would touch a file that is not ours.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ModelenvError, UsageError

__all__ = ["DEFAULT_WAIT", "WAIT_VAR", "env_lock", "lock_if_free", "wait_seconds"]

DEFAULT_WAIT = 600.0  # seconds: a cold build of a large model fits; a stuck one does not
WAIT_VAR = "MODELENV_LOCK_TIMEOUT"
_ANNOUNCE_AFTER = 1.0
_POLL = 0.05


def wait_seconds(explicit: float | None = None) -> float:
    """How long to wait for another process's lock: ``--wait``, else
    ``MODELENV_LOCK_TIMEOUT``, else :data:`DEFAULT_WAIT`."""
    if explicit is not None:
        value, source = explicit, "--wait"
    else:
        raw = os.environ.get(WAIT_VAR, "").strip()
        if not raw:
            return DEFAULT_WAIT
        source = WAIT_VAR
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{source} takes a number of seconds, 0 or more; got {value!r}")
    return value


def _open(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise ModelenvError(
                f"the lock file {path} is a symbolic link;"
                " modelenv never follows links in its home",
                hint="remove the link (no build can be running through it)",
            ) from None
        if exc.errno == errno.EISDIR:
            raise ModelenvError(
                f"the lock file {path} is a folder", hint="remove it; it holds nothing of value"
            ) from None
        from .fsutil import os_error

        raise os_error(exc, f"cannot open the lock file {path}") from None


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it: 'pid N, which is building ...'."""
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    pid, _, what = text.partition("\n")
    if not pid.strip().isdigit():
        return "another process"
    state = ""
    with (
        contextlib.suppress(OSError, IndexError),
        open(f"/proc/{pid.strip()}/stat", encoding="ascii", errors="replace") as f,
    ):
        if f.read().rsplit(")", 1)[1].split()[0] == "T":
            state = " (stopped)"
    what = what.strip()
    return f"pid {pid.strip()}{state}" + (f", which is {what}" if what else "")


@contextlib.contextmanager
def env_lock(
    path: Path,
    what: str,
    *,
    wait: float | None = None,
    say: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock at ``path`` while doing ``what`` ("building m [default, py3.11.7]")."""
    limit = wait_seconds(wait)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: filelock's msvcrt lock, bounded
        with _windows_lock(path, limit):
            yield
        return

    fd = _open(path)
    try:
        start = time.monotonic()
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            except OSError as exc:
                from .fsutil import os_error

                raise os_error(exc, f"cannot lock {path}") from None
            waited = time.monotonic() - start
            if waited >= limit:
                raise ModelenvError(
                    f"gave up after {limit:g} s waiting for {_holder(fd)} to release {path}",
                    hint="if that process is stuck, stop it; or wait longer with --wait SECONDS"
                    f" or {WAIT_VAR}",
                )
            if not announced and waited >= _ANNOUNCE_AFTER:
                announced = True
                (say or _stderr)(
                    f"waiting for {_holder(fd)} (lock {path});"
                    f" giving up after {limit:g} s (--wait, {WAIT_VAR})"
                )
            time.sleep(min(_POLL, max(limit - waited, 0.001)))
        _note(fd, what)
        try:
            yield
        finally:
            _note(fd, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def lock_if_free(path: Path, what: str) -> Iterator[bool]:
    """Hold the lock at ``path`` if no one does, without waiting: yields whether
    it is held. For work that can be left to a later call (refreshing a record),
    never for a build. A lock file that cannot be opened is not held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: such work is left undone
        yield False
        return
    try:
        fd = _open(path)
    except ModelenvError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: held by another process (or this one)
            yield False
            return
        _note(fd, what)
        try:
            yield True
        finally:
            _note(fd, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _windows_lock(path: Path, limit: float) -> Iterator[None]:  # pragma: no cover
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(path), timeout=limit):
            yield
    except Timeout:
        raise ModelenvError(
            f"gave up after {limit:g} s waiting for another process to release {path}",
            hint=f"wait longer with --wait SECONDS or {WAIT_VAR}",
        ) from None


def _note(fd: int, what: str | None) -> None:
    # Best effort: a full disk must not stop a build that already holds the lock.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        if what is not None:
            os.pwrite(fd, f"{os.getpid()}\n{what}\n".encode(), 0)


def _stderr(message: str) -> None:
    import sys

    print(f"modelenv: {message}", file=sys.stderr, flush=True)
