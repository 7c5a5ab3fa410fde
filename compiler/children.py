"""Child processes (uv) that never outlive modelenv.

A child started from the main thread runs in its own process group, so that
it and whatever it starts (a build backend uv runs) can be stopped together;
one started from another thread (lock's parallel resolutions) stays in
modelenv's group, where the terminal's Ctrl-C reaches it, since only the main
thread sees signals. While a child of the main thread runs, SIGTERM and
SIGHUP raise :class:`~compiler.errors.Terminated` in modelenv, as SIGINT
raises KeyboardInterrupt, when nothing else handles them (their handler is the
default: a server calling ``ensure_env`` that set its own is left alone). On
any exception while the child runs (those, a timeout, Ctrl-C), the group gets
SIGTERM, then SIGKILL, each followed by a bounded wait; the exception then
goes on, so that the caller's cleanup (an unfinished build's folder) runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from .errors import Terminated

__all__ = ["STOP_WAIT", "run", "stop"]

# Seconds to wait for the group after each of SIGTERM and SIGKILL: uv exits at
# once on SIGTERM; a child that ignores it still goes on SIGKILL.
STOP_WAIT = 5.0
_SIGNALS = ("SIGTERM", "SIGHUP")


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, text=True)``, stdin closed; output captured when
    ``capture``, else on modelenv's own streams. Raises OSError when it cannot
    start, :class:`subprocess.TimeoutExpired` past ``timeout``, and whatever
    interrupted the wait, each after the child's group was stopped."""
    import threading

    pipe = subprocess.PIPE if capture else None
    # Only the main thread gets signals (and Ctrl-C's KeyboardInterrupt): a
    # child started from another (lock's parallel resolutions) stays in
    # modelenv's process group, where the terminal's Ctrl-C reaches it directly.
    grouped = os.name == "posix" and threading.current_thread() is threading.main_thread()
    with _signals_raise() as arm:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
            text=True,
            **(_own_group() if grouped else {}),  # type: ignore[call-overload]
        )
        try:
            arm()
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            stop(proc, group=grouped)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out or "", err or "")


def _own_group() -> dict[str, object]:
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"start_new_session": True}  # pragma: no cover - 3.10


def stop(proc: subprocess.Popen[str], *, group: bool = True) -> None:
    """Stop ``proc`` and, when it leads one (``group``), its process group:
    SIGTERM, then SIGKILL, each followed by a wait of at most
    :data:`STOP_WAIT` seconds."""
    if not group or os.name != "posix":
        for end in (proc.terminate, proc.kill):
            with contextlib.suppress(OSError):
                end()
            try:
                proc.wait(timeout=STOP_WAIT)
                return
            except subprocess.TimeoutExpired:
                continue
        return
    import signal

    for signum in (signal.SIGTERM, signal.SIGKILL):
        # The group outlives its leader while what it started runs; its id
        # cannot be reused until then.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        try:
            proc.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            continue
        if signum == signal.SIGTERM:
            # The leader is gone: what it started and that ignored SIGTERM goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def _signals_raise() -> Iterator[Callable[[], None]]:
    """SIGTERM and SIGHUP raise Terminated once the child is started and
    ``arm()`` called (before that they are held: a raise inside Popen could
    leave a child no one stops). Only in the main thread, and only for a
    signal whose handler is the default; restored on the way out."""
    import signal
    import threading

    state = {"armed": False, "raised": False, "pending": 0}

    def handler(signum: int, _frame: object) -> None:
        if state["raised"]:
            return  # stopping the child already: a second signal must not cut it short
        if state["armed"]:
            state["raised"] = True
            raise Terminated(signum)
        state["pending"] = state["pending"] or signum

    def arm() -> None:
        if state["pending"]:
            state["raised"] = True
            raise Terminated(state["pending"])
        state["armed"] = True

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for name in _SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
                previous[signum] = signal.signal(signum, handler)
    try:
        yield arm
    finally:
        state["armed"] = False
        for signum, old in previous.items():
            signal.signal(signum, old)  # type: ignore[arg-type]
    if state["pending"] and not state["raised"]:
        raise Terminated(state["pending"])  # came after the child finished
