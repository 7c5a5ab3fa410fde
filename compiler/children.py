"""Child processes (uv) that never outlive modelenv.

A child stays in modelenv's process group: a signal to the group (a
terminal's Ctrl-C, a supervisor's kill of the group, SIGKILL included)
reaches it as it reaches modelenv. While a child of the main thread runs,
SIGTERM and SIGHUP sent to modelenv alone raise
:class:`~compiler.errors.Terminated` in modelenv, as SIGINT raises
KeyboardInterrupt, when nothing else handles them (their handler is the
default: a server calling ``ensure_env`` that set its own is left alone);
while the child is being started, all three wait until it is known. On
any exception while the child runs (those, a timeout, Ctrl-C), the child and
every process it started (a build backend uv runs; found through /proc) get
SIGTERM, then SIGKILL, each followed by a bounded wait; the exception then
goes on, so that the caller's cleanup (an unfinished build's folder) runs.

A child is never put in a group of its own: a SIGKILL of modelenv's group
would then leave uv running, and an orphaned ``uv pip install`` whose
unfinished environment is cleaned away installs into the base interpreter
(seen in the crash tests). What a SIGKILL of modelenv alone leaves running
is stopped by the next build before it cleans up (:func:`users_of`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from .errors import Terminated
from .fastio import start_time

__all__ = ["STOP_WAIT", "descendants", "run", "stop", "stop_users", "users_of"]

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
    interrupted the wait, each after the child and what it started were stopped."""
    pipe = subprocess.PIPE if capture else None
    with _signals_raise() as arm:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
            text=True,
        )
        try:
            arm()
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            stop(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out or "", err or "")


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop ``proc`` and every process it started: SIGTERM, then SIGKILL,
    each followed by a wait of at most :data:`STOP_WAIT` seconds."""
    import signal

    # Found before the first signal: once ``proc`` is gone, its children are
    # re-parented and can no longer be told from anyone else's. A child already
    # reaped has none left, and its pid may be another process's by now.
    listed = descendants(proc.pid) if proc.poll() is None else []
    # With each one's start time: one that exits on SIGTERM is reaped by init,
    # and its pid may be another process's by the SIGKILL that follows.
    tree = [(pid, start) for pid in listed if (start := start_time(pid))]
    for signum in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
        with contextlib.suppress(OSError):
            proc.send_signal(signum)
        _signal_all(tree, signum)
        try:
            proc.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            continue
        _signal_all(tree, getattr(signal, "SIGKILL", signal.SIGTERM))
        return


def _signal_all(tree: list[tuple[int, str]], signum: int) -> None:
    """Signal each (pid, start time) of ``tree`` still the process listed: its
    start time (/proc/PID/stat, field 22, :func:`compiler.fastio.start_time`)
    tells one process from another given the same pid later."""
    for pid, start in tree:
        if start_time(pid) == start:
            with contextlib.suppress(OSError):
                os.kill(pid, signum)


def _processes(cmdlines: bool = True) -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line, or b"" unless ``cmdlines``) of every
    process /proc shows; empty where there is no /proc. Reading a command line
    takes the process's memory lock, which one stuck in the kernel may hold
    for long (``ps`` hangs there): it is read only where it is needed."""
    found: dict[int, tuple[int, bytes]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            cmdline = b""
            if cmdlines:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmdline = f.read()
            parent = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        found[int(name)] = (parent, cmdline)
    return found


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (Linux; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for child, (parent, _cmdline) in _processes(cmdlines=False).items():
        children.setdefault(parent, []).append(child)
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


def users_of(path: str) -> list[int]:
    """Live processes other than this one whose command line names ``path``
    or a file below it (Linux; elsewhere none): a uv left running by a build
    that was killed names its unfinished environment. However the build spelt
    it: through a link to the home (``~/.modelenv`` a link to a scratch disk,
    ``MODELENV_HOME`` set to where it leads), it is the same folder."""
    own = os.getpid()
    real = os.path.realpath(path)
    name = b"/" + os.fsencode(os.path.basename(path.rstrip("/")))
    out = []
    for pid, (_parent, cmdline) in _processes().items():
        if pid == own or name not in cmdline:
            continue
        if any(_names(arg, name, real) for arg in cmdline.split(b"\0")):
            out.append(pid)
    return out


def _names(arg: bytes, name: bytes, real: str) -> bool:
    """Does the absolute path ``arg`` lead to the folder ``real`` (whose last
    component is ``name``, with its slash) or below it?"""
    if not arg.startswith(b"/"):
        return False  # modelenv gives uv absolute paths
    at = arg.find(name)
    while at >= 0:
        end = at + len(name)
        if (end == len(arg) or arg[end : end + 1] == b"/") and os.path.realpath(
            os.fsdecode(arg[:end])
        ) == real:
            return True
        at = arg.find(name, at + 1)
    return False


def stop_users(path: str) -> list[int]:
    """SIGKILL what :func:`users_of` finds, and wait (at most
    :data:`STOP_WAIT` seconds) for it to go; the pids still there after."""
    import signal
    import time

    users = users_of(path)
    if not users:
        return []
    found = [(pid, start) for pid in users if (start := start_time(pid))]
    _signal_all(found, getattr(signal, "SIGKILL", signal.SIGTERM))
    deadline = time.monotonic() + STOP_WAIT
    while True:
        left = [pid for pid in users if _alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    """Is ``pid`` running (a zombie waiting for its parent is not)?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True


@contextlib.contextmanager
def _signals_raise() -> Iterator[Callable[[], None]]:
    """SIGTERM and SIGHUP raise Terminated, and SIGINT KeyboardInterrupt, once
    the child is started and ``arm()`` called. Before that they are held: a
    raise inside Popen, after the child's exec and before Popen returns it,
    would leave a child no one stops (under load, Ctrl-C landed there and uv
    ran on). Only in the main thread, and only for a signal whose handler is
    the default (Python's own, for SIGINT); restored on the way out."""
    import signal
    import threading

    state = {"armed": False, "raised": False, "pending": 0}

    def interrupt(signum: int) -> BaseException:
        state["raised"] = True
        return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)

    def handler(signum: int, _frame: object) -> None:
        if state["raised"]:
            return  # stopping the child already: a second signal must not cut it short
        if state["armed"]:
            raise interrupt(signum)
        state["pending"] = state["pending"] or signum

    def arm() -> None:
        if state["pending"]:
            raise interrupt(state["pending"])
        state["armed"] = True

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        defaults: dict[str, object] = dict.fromkeys(_SIGNALS, signal.SIG_DFL)
        defaults["SIGINT"] = signal.default_int_handler
        for name, default in defaults.items():
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is default:
                previous[signum] = signal.signal(signum, handler)
    try:
        yield arm
    finally:
        state["armed"] = False
        for signum, old in previous.items():
            signal.signal(signum, old)  # type: ignore[arg-type]
    if state["pending"] and not state["raised"]:
        raise interrupt(state["pending"])  # came after the child finished
