"""uv never outlives modelenv (`compiler.children`): SIGTERM, SIGHUP or SIGINT
sent to modelenv while uv runs stops uv and everything it started, the
unfinished build is removed, and modelenv exits non-zero with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from compiler import children
from compiler.errors import Terminated

from .conftest import write_spec
from .test_materialise import SPEC, XYZ, env_root, lock, modelenv_proc, wait_for_line

# A uv that makes the folder it is asked for, starts a child of its own (as uv
# starts build backends), says so, and waits for ever.
SLOW_UV = """\
#!/bin/sh
if [ "$1" = "--version" ]; then echo "uv 0.9.0"; exit 0; fi
if [ "$1" = "venv" ]; then mkdir -p "$2"; fi
echo $$ > "{dir}/uv.pid"
sleep 300 &
echo $! > "{dir}/child.pid"
echo started >> "{dir}/uv.log"
wait
"""


def gone(pid: int) -> bool:
    """Has ``pid`` exited (a zombie no one reaped yet counts as exited)?"""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:  # pragma: no cover - no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def sleeper(*args: str) -> subprocess.Popen[bytes]:
    """A Python that sleeps with ``args`` on its command line, returned once
    it runs: Popen returns when exec closed its error pipe, before the kernel
    has set the new command line, which /proc then shows empty (seen in CI)."""
    code = "import sys, time; sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(300)"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with proc.stdout:  # it writes nothing more
        up = proc.stdout.readline()
    if up != b"up\n":
        proc.kill()
        proc.wait(timeout=60)
        raise AssertionError(f"the sleeper exited with {proc.returncode}")
    return proc


def wait_gone(pid: int, bound: float = 60) -> bool:
    """Whether ``pid`` exits within ``bound`` seconds (polled: a signalled
    process takes a moment to die, longer on a loaded machine)."""
    deadline = time.monotonic() + bound
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture()
def slow_uv(tmp_path: Path) -> Path:
    folder = tmp_path / "slow-uv"
    folder.mkdir()
    script = folder / "uv"
    script.write_text(SLOW_UV.format(dir=folder))
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("signum", "code", "message"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM, "modelenv: terminated by SIGTERM"),
        (signal.SIGHUP, 128 + signal.SIGHUP, "modelenv: terminated by SIGHUP"),
        (signal.SIGINT, 130, "modelenv: interrupted"),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_to_modelenv_stops_uv_and_removes_the_build(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    slow_uv: Path,
    signum: int,
    code: int,
    message: str,
) -> None:
    write_spec(project, "m", SPEC)
    lock(capfd, wheelhouse)  # with the real uv; the build then runs the slow one
    proc = modelenv_proc(project, "create", "m", extra_env={"MODELENV_UV": str(slow_uv / "uv")})
    try:
        wait_for_line(slow_uv / "uv.log", "started", proc)
        uv_pid = int((slow_uv / "uv.pid").read_text())
        child_pid = int((slow_uv / "child.pid").read_text())
        staging = [n for n in os.listdir(env_root()) if n.startswith(f".{XYZ}.build-")]
        assert staging, "uv venv was to make the staging folder"
        os.kill(proc.pid, signum)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert message in err and "Traceback" not in err, err
    assert wait_gone(uv_pid) and wait_gone(child_pid)
    left = [n for n in os.listdir(env_root()) if n.startswith(f".{XYZ}.build-")]
    assert left == []
    assert not (env_root() / XYZ).exists()


def test_a_timeout_stops_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        children.run(["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], timeout=1)
    assert wait_gone(int(pid_file.read_text()))


def test_a_signal_handler_of_the_callers_is_left_alone(tmp_path: Path) -> None:
    """A server calling ensure_env() that handles SIGTERM itself keeps its
    handler while uv runs; modelenv's applies only where the default would
    have killed the process."""
    code = (
        "import signal, sys\n"
        "from compiler import children\n"
        "seen = []\n"
        "signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))\n"
        "done = children.run(['sh', '-c', 'kill -TERM $PPID; echo finished'])\n"
        "print(done.stdout.strip(), seen == [signal.SIGTERM])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["finished", "True"]


def test_without_a_handler_sigterm_raises_terminated_once_uv_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import sys\n"
        "from compiler import children\n"
        "from compiler.errors import Terminated\n"
        f"script = 'sleep 300 & echo $! > {pid_file}; kill -TERM $PPID; wait'\n"
        "try:\n"
        "    children.run(['sh', '-c', script])\n"
        "except Terminated as exc:\n"
        "    print(exc, exc.exit_code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"terminated by SIGTERM {128 + signal.SIGTERM}"
    assert wait_gone(int(pid_file.read_text()))


def test_a_child_stays_in_modelenvs_group() -> None:
    """A signal to modelenv's process group (Ctrl-C in a terminal, a
    supervisor's kill of the group) reaches uv too, from any thread."""
    import threading

    probe = [sys.executable, "-c", "import os; print(os.getpgrp())"]
    assert int(children.run(probe).stdout) == os.getpgrp()
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(int(children.run(probe).stdout)))
    worker.start()
    worker.join(timeout=120)
    assert seen == [os.getpgrp()]


def test_sigkill_of_modelenvs_group_leaves_no_uv_running(
    project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str], slow_uv: Path
) -> None:
    write_spec(project, "m", SPEC)
    lock(capfd, wheelhouse)
    env = {**os.environ, "MODELENV_UV": str(slow_uv / "uv")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", "create", "m"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (slow_uv / "uv.log").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        uv_pid = int((slow_uv / "uv.pid").read_text())
        child_pid = int((slow_uv / "child.pid").read_text())
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert wait_gone(uv_pid) and wait_gone(child_pid)


def test_the_next_build_stops_a_uv_a_killed_build_left_running(
    project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL to modelenv alone leaves uv running on the unfinished build.
    The next build stops it before it removes that folder: deleting a venv
    under a running `uv pip install` can make uv install into the base
    interpreter (it did, once its pyvenv.cfg was gone)."""
    from .conftest import run_cli
    from .test_materialise import idx

    write_spec(project, "m", SPEC)
    lock(capfd, wheelhouse)
    left = env_root() / f".{XYZ}.build-999999"
    (left / "bin").mkdir(parents=True)
    orphan = sleeper("--python", str(left / "bin" / "python"))
    try:
        assert children.users_of(str(left)) == [orphan.pid]
        code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
        assert code == 0, err
        assert orphan.wait(timeout=60) == -signal.SIGKILL
        assert not left.exists()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait(timeout=60)


def test_stop_of_a_child_already_reaped_signals_no_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a child is reaped its pid may be another process's: what /proc
    shows as that pid's children are not ours (a pid reused meanwhile)."""
    proc = subprocess.Popen(["true"], text=True)
    proc.wait(timeout=60)
    stranger = 2**22 + 1  # a pid no process has: only recorded, never signalled
    monkeypatch.setattr(children, "_processes", lambda **_: {stranger: (proc.pid, b"x")})
    sent: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, _sig: sent.append(pid))
    children.stop(proc)
    assert sent == []


def test_a_uv_left_running_is_found_however_its_build_spelt_the_home(tmp_path: Path) -> None:
    """The killed build may have named the home through a link (~/.modelenv a
    link to a scratch disk, MODELENV_HOME set to where it leads): its uv is
    still found, and a folder that only shares the name is not."""
    real = tmp_path / "scratch" / "modelenv"
    left = real / "virtualenv" / "v4" / "m" / "default" / ".3.11.9.build-999999"
    (left / "bin").mkdir(parents=True)
    alias = tmp_path / "dot-modelenv"
    alias.symlink_to(real)
    aliased = alias / left.relative_to(real)
    other = tmp_path / "elsewhere" / left.name
    other.mkdir(parents=True)
    spelt = sleeper("--python", f"{aliased}/bin/python")
    unrelated = sleeper(str(other))
    try:
        assert children.users_of(str(left)) == [spelt.pid]
        assert children.users_of(str(aliased)) == [spelt.pid]
    finally:
        for proc in (spelt, unrelated):
            proc.kill()
            proc.wait(timeout=60)


def test_a_pid_of_the_tree_reused_before_the_sigkill_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process of the child's tree that exits on SIGTERM is reaped by init,
    and its pid may go to another process before the SIGKILL that follows the
    wait: a pid whose start time is no longer the one listed is not signalled."""
    proc = subprocess.Popen(["sleep", "300"], text=True)
    stranger = 2**22 + 1  # a pid no process has: only recorded, never signalled
    monkeypatch.setattr(children, "_processes", lambda **_: {stranger: (proc.pid, b"x")})
    asked: list[int] = []

    def start_time(pid: int) -> str:
        asked.append(pid)
        # Listed, and still the same at SIGTERM; another process's after.
        return "100" if asked.count(stranger) <= 2 else "200"

    monkeypatch.setattr(children, "start_time", start_time)
    real_kill = os.kill
    sent: list[int] = []

    def kill(pid: int, signum: int) -> None:
        if pid == stranger:
            sent.append(signum)
        else:
            real_kill(pid, signum)

    monkeypatch.setattr(os, "kill", kill)
    children.stop(proc)
    assert proc.returncode == -signal.SIGTERM
    assert sent == [signal.SIGTERM]


def test_the_tree_is_found_without_reading_any_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """stop() runs on every timeout and Ctrl-C: it needs parents only, and a
    command line of a process stuck in the kernel can block its reader."""
    import builtins

    pid_file = tmp_path / "child.pid"
    proc = subprocess.Popen(["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], text=True)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        real_open = builtins.open
        opened: list[str] = []

        def spy(file: Any, *args: Any, **kw: Any) -> Any:
            opened.append(str(file))
            return real_open(file, *args, **kw)

        monkeypatch.setattr(builtins, "open", spy)
        found = children.descendants(proc.pid)
        monkeypatch.undo()
        assert int(pid_file.read_text()) in found
        assert opened and not [name for name in opened if name.endswith("/cmdline")]
    finally:
        children.stop(proc)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_child_is_being_started_still_stops_it(
    monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """Popen returns some time after the child's exec (seen under load: uv
    already wrote its first line). A signal landing in between must wait until
    the child is known and then stop it, not leave it running."""
    real = subprocess.Popen
    started: list[subprocess.Popen[str]] = []

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:
        proc = real(*args, **kwargs)
        started.append(proc)
        os.kill(os.getpid(), signum)  # its handler runs here, still inside "Popen"
        return proc

    monkeypatch.setattr(children.subprocess, "Popen", popen)
    expected = KeyboardInterrupt if signum == signal.SIGINT else Terminated
    try:
        with pytest.raises(expected):
            children.run(["sleep", "300"])
        (proc,) = started
        assert proc.returncode is not None  # stopped and reaped
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
