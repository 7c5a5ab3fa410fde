"""A hostile home: links out of it in every folder modelenv reads, writes or
deletes in, lock files that are not files, leases that lie, leftovers that
will not go, and a build that holds the lock forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import compiler
from compiler import fsutil, leases, materialise
from compiler.errors import ModelenvError

from .conftest import run_cli, write_spec
from .test_manage import hand_made_v4, touch_tree, v4, venvs
from .test_materialise import SPEC, XYZ, idx

OUTSIDE_FILES = {"999999": "", "4000000": "", "sub/py-notes.txt": "precious"}


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A folder outside the home holding files modelenv must never touch."""
    return touch_tree(tmp_path / "outside", OUTSIDE_FILES)


def assert_untouched(outside: Path) -> None:
    found = sorted(str(p.relative_to(outside)) for p in outside.rglob("*") if p.is_file())
    assert found == sorted(OUTSIDE_FILES)
    assert (outside / "sub" / "py-notes.txt").read_text() == "precious"


def link(at: Path, to: Path) -> Path:
    if at.is_dir() and not at.is_symlink():
        fsutil.remove_path(at)
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(to, target_is_directory=to.is_dir())
    return at


# ---------------------------------------------------------------- links out of the home


def test_list_gc_and_remove_never_delete_through_a_leases_link(
    project: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("m")
    lease_link = link(leases.lease_dir(env), outside)
    for argv in (["list"], ["list", "--json"], ["gc", "--dry-run"], ["gc"]):
        code, _out, err = run_cli(capfd, *argv)
        assert code == 0, err
        assert_untouched(outside)
    assert leases.live_leases(env) == []
    held = leases.take(env)
    leases.release(held)
    assert_untouched(outside)
    code, _out, err = run_cli(capfd, "remove", "m")
    assert code == 0, err
    assert not os.path.lexists(lease_link)  # the link itself went
    assert_untouched(outside)


def test_a_leases_link_never_receives_a_lease(project: Path, outside: Path) -> None:
    env = hand_made_v4("m")
    link(leases.lease_dir(env), outside)
    held = leases.take(env)
    # The link was replaced by a real folder inside the home; nothing went outside.
    assert leases.lease_dir(env).is_dir() and not leases.lease_dir(env).is_symlink()
    assert held.parent == leases.lease_dir(env)
    assert_untouched(outside)
    leases.release(held)


@pytest.mark.parametrize("kind", ["build", "old"])
def test_gc_removes_a_leftover_link_never_what_it_points_to(
    project: Path, outside: Path, capfd: pytest.CaptureFixture[str], kind: str
) -> None:
    hand_made_v4("m")
    leftover = link(v4("m").with_name(f".{XYZ}.{kind}-999999"), outside)
    code, out, err = run_cli(capfd, "gc")
    assert code == 0, err
    assert f"removed {leftover} (0 B): broken" in out
    assert not os.path.lexists(leftover)
    assert_untouched(outside)


@pytest.fixture()
def locked_spec(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err


@pytest.mark.parametrize("kind", ["build", "old"])
def test_create_cleans_leftover_links_without_following_them(
    locked_spec: None,
    wheelhouse: Path,
    outside: Path,
    capfd: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    leftover = link(v4("m").with_name(f".{XYZ}.{kind}-999999"), outside)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    assert not os.path.lexists(leftover)
    assert_untouched(outside)


def test_a_lock_file_link_is_refused_and_its_target_untouched(
    locked_spec: None, wheelhouse: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    target = outside / "sub" / "py-notes.txt"
    lock = link(v4("m").with_name(f".{XYZ}.lock"), target)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert f"modelenv: error: the lock file {lock} is a symbolic link" in err
    assert_untouched(outside)


def test_an_engine_folder_linked_out_of_the_home_is_refused(
    locked_spec: None, wheelhouse: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    engine = link(venvs() / "v4" / "m" / "default", outside)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert f"modelenv: error: {engine} leads out of {venvs()}" in err
    assert_untouched(outside)
    code, _out, err = run_cli(capfd, "gc")
    assert code == 0, err
    assert_untouched(outside)


def test_a_record_linked_out_of_the_home_is_never_read(
    project: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("m")
    record = env / "modelenv-record.json"
    (outside / "record.json").write_bytes(record.read_bytes())
    record.unlink()
    record.symlink_to(outside / "record.json")
    code, out, err = run_cli(capfd, "list")
    assert code == 0, err
    assert " broken " in out


# ---------------------------------------------------------------- waits


_HOLD = """\
import sys, time
from pathlib import Path
from compiler.envlock import env_lock
with env_lock(Path(sys.argv[1]), sys.argv[2], wait=0):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture()
def holder(locked_spec: None) -> Iterator[subprocess.Popen[str]]:
    """A process holding m's lock as a build does, for as long as the test runs."""
    lock = v4("m").with_name(f".{XYZ}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(lock), f"building m [default, py{XYZ}]"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_create_announces_its_wait_and_gives_up_naming_the_holder(
    holder: subprocess.Popen[str], wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lock = v4("m").with_name(f".{XYZ}.lock")
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse), "--wait", "1.2")
    assert code == 1
    who = f"pid {holder.pid}, which is building m [default, py{XYZ}]"
    assert f"waiting for {who} (lock {lock}); giving up after 1.2 s (--wait" in err
    assert f"modelenv: error: gave up after 1.2 s waiting for {who} to release {lock}" in err
    assert not v4("m").exists()


def _state(pid: int) -> str:
    """The state letter /proc shows for ``pid`` (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_stopped_holder_is_named_as_stopped(
    holder: subprocess.Popen[str], wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        # The process stops once it runs again to take the signal: on a busy
        # machine that is a while after kill() returns.
        deadline = time.monotonic() + 60
        while _state(holder.pid) != "T":
            assert time.monotonic() < deadline, "the holder did not stop in 60 s"
            time.sleep(0.01)
        code, _out, err = run_cli(capfd, "run", "m", *idx(wheelhouse), "--wait", "0", "--", "true")
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    assert code == 1
    assert f"waiting for pid {holder.pid} (stopped), which is building m" in err


def test_ensure_env_announces_its_wait_and_is_bounded_by_modelenv_lock_timeout(
    holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELENV_LOCK_TIMEOUT", "1.2")
    with pytest.raises(ModelenvError, match=f"gave up after 1.2 s waiting for pid {holder.pid}"):
        compiler.ensure_env("m")
    err = capfd.readouterr().err
    assert f"modelenv: waiting for pid {holder.pid}, which is building m [default, py{XYZ}]" in err


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_lock_timeout_is_a_usage_error(
    holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODELENV_LOCK_TIMEOUT", value)
    with pytest.raises(ModelenvError, match="MODELENV_LOCK_TIMEOUT takes a number of seconds"):
        compiler.ensure_env("m")


def test_remove_and_gc_wait_bounded_and_name_the_holder(
    holder: subprocess.Popen[str], capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("m")
    who = f"pid {holder.pid}, which is building m [default, py{XYZ}]"
    code, _out, err = run_cli(capfd, "remove", "m", "--wait", "0.1")
    assert code == 1
    assert f"gave up after 0.1 s waiting for {who}" in err
    code, _out, err = run_cli(capfd, "gc", "--max-size", "0", "--wait", "0.1")
    assert code == 1
    assert f"gave up after 0.1 s waiting for {who}" in err
    assert "0 removed, freed 0 B, 1 could not be removed" in err
    assert env.exists()


# ---------------------------------------------------------------- leftovers


def test_a_leftover_file_is_removed_by_gc(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    hand_made_v4("m")
    leftover = v4("m").with_name(f".{XYZ}.build-999999")
    leftover.write_text("not a folder")
    code, out, err = run_cli(capfd, "gc")
    assert code == 0, err
    assert f"removed {leftover}" in out
    assert not leftover.exists()


def test_a_leftover_that_cannot_go_is_reported_with_exit_1(
    project: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hand_made_v4("m")
    leftover = touch_tree(v4("m").with_name(f".{XYZ}.build-999999"), {"ro/x": "x"})
    real_unlink = os.unlink

    def refuse(path: object, *args: object, **kw: object) -> None:
        if str(path) == "x" or str(path).endswith("/ro/x"):
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", refuse)
    for argv in (["gc"], ["remove", "m"]):
        code, _out, err = run_cli(capfd, *argv)
        assert code == 1, err
        assert f"modelenv: warning: cannot remove {leftover}: Permission denied" in err
        assert leftover.exists()


def test_a_read_only_leftover_folder_is_made_writable_and_removed(tmp_path: Path) -> None:
    leftover = touch_tree(tmp_path / "left", {"ro/x": "x"})
    (leftover / "ro").chmod(0o555)
    assert fsutil.remove_path(leftover) is None
    assert not leftover.exists()


def test_leftovers_never_send_a_valid_environment_to_the_slow_path(
    locked_spec: None,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheelhouse))
    real_ensure = materialise.ensure

    def no_build(*_a: object, **_k: object) -> None:
        raise AssertionError("the slow path ran")

    def leftovers() -> None:
        v4("m").with_name(f".{XYZ}.build-999999").write_text("undeletable")
        (v4("m").with_name(f".{XYZ}.old-999998") / "x").mkdir(parents=True, exist_ok=True)

    for launch in (
        lambda: run_cli(capfd, "create", "m")[0] == 0,
        lambda: compiler.ensure_env("m") is not None,
    ):
        monkeypatch.setattr(materialise, "ensure", real_ensure)
        assert launch()
        leftovers()
        monkeypatch.setattr(materialise, "ensure", no_build)
        assert launch()


def test_a_staging_leftover_that_cannot_go_never_stands_in_the_way_of_a_build(
    locked_spec: None,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Builds of one environment share one staging name; when what a killed
    build left there cannot be removed, the build takes a name of its own."""
    from compiler import building

    assert run_cli(capfd, "create", "m", *idx(wheelhouse))[0] == 0
    stuck = v4("m").with_name(f".{XYZ}.build-staging")
    (stuck / "bin").mkdir(parents=True)
    real_remove = building.remove_path

    def refuse(path: Path) -> str | None:
        return "Permission denied" if path == stuck else real_remove(path)

    monkeypatch.setattr(building, "remove_path", refuse)
    code, out, err = run_cli(capfd, "create", "m", "--force", *idx(wheelhouse))
    assert code == 0, err
    assert f"cannot remove {stuck}, left by a killed build: Permission denied" in err
    assert out.strip().splitlines()[-1] == str(v4("m"))
    assert stuck.is_dir()  # reported and left; the build went elsewhere
    assert sorted(p.name for p in v4("m").parent.iterdir() if ".build-" in p.name) == [stuck.name]


# ---------------------------------------------------------------- leases that lie


def test_an_empty_lease_of_a_live_pid_does_not_block_forever(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("m")
    folder = leases.lease_dir(env)
    folder.mkdir()
    (folder / "1").write_text("")  # pid 1 lives, but did not write this lease
    assert leases.live_leases(env) == []
    code, _out, err = run_cli(capfd, "remove", "m")
    assert code == 0, err
    assert not env.exists()


def test_a_lease_named_after_an_impossible_pid_is_stale(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("m")
    folder = leases.lease_dir(env)
    folder.mkdir()
    (folder / "99999999999999999999").write_text("1")
    assert leases.live_leases(env) == []
    for argv in (["list"], ["gc"], ["remove", "m"]):
        code, _out, err = run_cli(capfd, *argv)
        assert code == 0, err


def test_gc_says_what_it_kept_and_why(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    env = hand_made_v4("m")
    leases.take(env)  # this process uses it
    code, _out, err = run_cli(capfd, "gc", "--max-size", "0")
    assert code == 0, err
    assert (
        f"kept    {env}: least recently used (home over 0 B), but in use by process"
        f" {os.getpid()} (--force removes it)"
    ) in err
    assert err.strip().splitlines()[-1] == "0 removed, freed 0 B, 1 kept"


def test_a_leases_file_does_not_cost_run_its_exit_status(
    locked_spec: None, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    folder = leases.lease_dir(v4("m"))
    fsutil.remove_path(folder)
    folder.write_text("not a folder")
    code, _out, err = run_cli(
        capfd, "run", "m", *idx(wheelhouse), "--", sys.executable, "-c", "raise SystemExit(7)"
    )
    assert code == 7, err


# ---------------------------------------------------------------- every folder it deletes from


@pytest.mark.parametrize(
    "where",
    [
        "virtualenv/m",  # v1
        "virtualenv/v2/m",
        "virtualenv/v3/m",
        "virtualenv/v3/m2/3.10.1",
        "virtualenv/v4/m",
        "virtualenv/v4/m2/default",
        f"virtualenv/v4/m3/default/{XYZ}",
        f"virtualenv/v4/m4/default/.{XYZ}.leases",
        f"virtualenv/v4/m4/default/.{XYZ}.build-999999",
        f"virtualenv/v4/m4/default/.{XYZ}.old-999999",
    ],
)
def test_no_command_deletes_through_a_link_anywhere_in_the_store(
    project: Path, outside: Path, capfd: pytest.CaptureFixture[str], where: str
) -> None:
    hand_made_v4("m4")  # a real environment beside the links
    home = venvs().parent
    link(home / where, outside)
    for argv in (
        ["list"],
        ["gc", "--dry-run"],
        ["doctor"],
        ["gc", "--max-size", "0", "--force"],
        ["remove", "--all", "--force"],
    ):
        run_cli(capfd, *argv)
        assert_untouched(outside)
    assert not os.path.lexists(home / where)  # the link itself is gone
