"""Stored identities refreshed (`compiler.refresh`): after a touch or a git
checkout that leaves a file's bytes as they were, one launch checks the bytes
and writes the new identities into the record; the next is stat-only again.
Never at the cost of a stale environment looking current."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from compiler import launch, refresh, store
from compiler.lockfile import sha256_text
from compiler.paths import Paths
from compiler.request import Request
from compiler.store import RECORD_NAME, find_current, read_record, seal

from .conftest import cli_base_env, run_cli, write_spec
from .test_launch import COMMAND, imported_modules
from .test_materialise import XY, XYZ, created_path, idx
from .wheels import make_wheel

# What `modelenv create m` asks for: layered on the interpreter beneath the venv.
CLI_REQUEST = Request(model="m", base_beneath_venv=True)
SPEC = f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n'


@pytest.fixture()
def built(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Path:
    """Model m locked and built with an overrides file in use; uv replaced by
    one that only notes that it ran (an up-to-date launch never runs uv)."""
    write_spec(project, "m", SPEC)
    home = Path(os.environ["MODELENV_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "overrides.toml").write_text("# nothing for m on this machine\n")
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    fake = tmp_path / "fake-uv"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "uv-ran"}\nexit 3\n')
    fake.chmod(0o755)
    monkeypatch.setenv("MODELENV_UV", str(fake))
    return created_path(out)


def fast(*argv: str) -> bool:
    """Would the launch path serve ``modelenv ARGV`` (stat calls only)?"""
    args = launch.parse_fast(list(argv))
    assert args is not None
    return launch._fast(args) is not None


def modelenv(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def the_files(project: Path) -> dict[str, Path]:
    home = Path(os.environ["MODELENV_HOME"])
    return {
        "spec": project / "specs" / "m.toml",
        "engines": project / "specs" / "_engines.toml",
        "lock": project / "locks" / "m" / "default" / f"py{XY}.txt",
        "overrides": home / "overrides.toml",
    }


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize("which", ["spec", "engines", "lock", "overrides"])
@pytest.mark.parametrize("how", ["touch", "rewrite"])
def test_one_slow_launch_after_a_touch_then_fast_again(
    built: Path, project: Path, tmp_path: Path, which: str, how: str
) -> None:
    path = the_files(project)[which]
    before = read_record(built)
    assert before is not None and fast("create", "m")
    if how == "touch":
        os.utime(path, ns=(1, 1))
    else:  # as git checkout does: a new file with the same bytes
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
    assert not fast("create", "m")
    proc = modelenv(project, "create", "m")  # the full check, from the bytes
    assert proc.returncode == 0, proc.stderr
    assert COMMAND in imported_modules(proc.stderr)  # the command served it
    assert Path(proc.stdout.strip()) == built and "up to date" in proc.stderr
    assert not (tmp_path / "uv-ran").exists()  # nothing rebuilt, no uv
    after = read_record(built)
    assert after is not None
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed <= {"launch", "lock_file", "checksum"}
    assert fast("create", "m") and fast("run", "m", "true")
    for argv in (("create", "m"), ("run", "m", "true")):
        proc = modelenv(project, *argv)
        assert proc.returncode == 0, proc.stderr
        assert COMMAND not in imported_modules(proc.stderr)  # the launch path served it


def test_a_git_checkout_back_and_forth_needs_one_check(built: Path, project: Path) -> None:
    """Switching to a branch where the spec and lock differ and back rewrites
    both with the bytes they had: one launch checks them, the next is fast."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "specs", "locks")
    git(project, "commit", "-q", "-m", "m")
    git(project, "checkout", "-q", "-b", "other")
    files = the_files(project)
    files["spec"].write_text(files["spec"].read_text() + "# another branch\n")
    files["lock"].write_text(files["lock"].read_text() + "# another branch\n")
    git(project, "commit", "-q", "-am", "other")
    git(project, "checkout", "-q", "main")
    assert not fast("create", "m")
    proc = modelenv(project, "create", "m")
    assert proc.returncode == 0 and "up to date" in proc.stderr, proc.stderr
    assert fast("run", "m", "true")


def test_a_checkout_of_a_branch_with_another_lock_rebuilds(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other way round: a branch whose committed lock pins other versions
    (the spec the same) is never served the environment built from this one,
    by the launch path, the command line or ensure_env(); switching back
    rebuilds again."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    write_spec(project, "m", SPEC)
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "specs", "locks")
    git(project, "commit", "-q", "-m", "m")
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    env = created_path(out)
    make_wheel(wheelhouse, "alpha", "1.1.0")
    git(project, "checkout", "-q", "-b", "other")
    assert run_cli(capfd, "lock", "--upgrade", *idx(wheelhouse))[0] == 0
    assert "alpha==1.1.0" in the_files(project)["lock"].read_text()
    git(project, "commit", "-q", "-am", "relock")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    alpha = "import importlib.metadata as m; print(m.version('alpha'))"

    assert not fast("run", "m", "true")
    api = subprocess.run(
        [sys.executable, "-c", "import compiler; e = compiler.ensure_env('m'); print(e.path)"],
        cwd=project,
        env=cli_base_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert api.returncode == 0, api.stderr
    assert Path(api.stdout.strip()) == env
    proc = modelenv(project, "run", "m", "python", "-c", alpha)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1.1.0"

    git(project, "checkout", "-q", "main")
    assert not fast("run", "m", "true")
    proc = modelenv(project, "run", "m", "python", "-c", alpha)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1.0.0"  # rebuilt from this branch's lock
    assert fast("run", "m", "true")


def test_an_edit_after_the_bytes_were_checked_is_never_hidden(
    built: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identities are taken before the bytes are read: a spec edited just after
    the check leaves a record that names the older file, so the next launch
    checks again and finds the edit."""
    spec = the_files(project)["spec"]
    os.utime(spec, ns=(1, 1))
    real = store.request_key

    def then_edit(*args: object, **kw: object) -> str:
        key = real(*args, **kw)  # type: ignore[arg-type]
        spec.write_text(spec.read_text().replace('"beta"', '"beta", "gamma"'))
        return key

    monkeypatch.setattr(store, "request_key", then_edit)
    assert find_current(Paths.resolve(), CLI_REQUEST, skip_installed=True) is not None
    monkeypatch.setattr(store, "request_key", real)
    assert not fast("create", "m")
    assert find_current(Paths.resolve(), CLI_REQUEST, skip_installed=True) is None


def test_an_edit_while_the_build_plans_is_never_hidden(
    built: Path,
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spec saved while create plans (probing the interpreter takes a while):
    the environment kept or built from the plan must not be recorded as
    current for the spec saved since, by its key or by its identities."""
    import compiler.materialise

    monkeypatch.delenv("MODELENV_UV")  # this one may build
    spec = the_files(project)["spec"]
    spec.write_text(spec.read_text() + "# a comment: revalidated, not rebuilt\n")
    real = compiler.materialise._live_plan

    def plan_then_edit(*args: object, **kw: object) -> object:
        plan = real(*args, **kw)  # type: ignore[arg-type]
        spec.write_text(spec.read_text().replace('"beta"', '"beta", "gamma"'))
        return plan

    monkeypatch.setattr(compiler.materialise, "_live_plan", plan_then_edit)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    monkeypatch.setattr(compiler.materialise, "_live_plan", real)
    assert not fast("create", "m")
    assert find_current(Paths.resolve(), CLI_REQUEST, skip_installed=True) is None
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    assert "gamma==0.5.0" in " ".join(read_record(built)["installed"])  # type: ignore[index]


def test_nothing_is_written_while_another_process_holds_the_lock(
    built: Path, project: Path
) -> None:
    """A build, repair or removal holds the environment's lock: the refresh
    does not wait for it, and is left to a later launch."""
    os.utime(the_files(project)["spec"], ns=(1, 1))
    before = (built / RECORD_NAME).read_bytes()
    with FileLock(str(built.parent / f".{XYZ}.lock")):
        proc = modelenv(project, "create", "m")
        assert proc.returncode == 0 and "up to date" in proc.stderr, proc.stderr
        assert (built / RECORD_NAME).read_bytes() == before
        assert not fast("create", "m")
    proc = modelenv(project, "create", "m")
    assert proc.returncode == 0, proc.stderr
    assert fast("create", "m")


def test_a_record_rewritten_meanwhile_is_kept(
    built: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild that swapped in its environment between the check and the
    refresh has written its own record: the refresh never overwrites it."""
    os.utime(the_files(project)["spec"], ns=(1, 1))
    theirs = seal({**(read_record(built) or {}), "created": "by a concurrent rebuild"})
    real = refresh.read_record

    def rebuilt_meanwhile(path: Path) -> dict[str, object] | None:
        (built / RECORD_NAME).write_text(json.dumps(theirs, indent=2))
        return real(path)

    monkeypatch.setattr(refresh, "read_record", rebuilt_meanwhile)
    assert find_current(Paths.resolve(), CLI_REQUEST, skip_installed=True) is not None
    assert read_record(built) == theirs


def test_an_environment_reached_through_a_link_is_not_refreshed(
    built: Path, project: Path, tmp_path: Path
) -> None:
    """An engine folder that is a link out of the home: the record there is
    not read (read_own), let alone written."""
    root = built.parent
    moved = tmp_path / "elsewhere"
    shutil.move(str(root), moved)
    root.symlink_to(moved)
    os.utime(the_files(project)["spec"], ns=(1, 1))
    before = (moved / XYZ / RECORD_NAME).read_bytes()
    find_current(Paths.resolve(), CLI_REQUEST, skip_installed=True)
    assert (moved / XYZ / RECORD_NAME).read_bytes() == before


# ---------------------------------------------------------------- a lock's bytes


def lock_record(path: Path, text: str) -> dict[str, object]:
    return {"lock_file": [str(path), store.stat_key(path)], "lock_sha256": sha256_text(text)}


def test_a_lock_with_a_new_identity_and_the_same_bytes_is_unchanged(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    lock = locks / "t.txt"
    lock.write_text("alpha==1.0\n")
    rec = lock_record(lock, "alpha==1.0\n")
    assert refresh.lock_file_now(locks, rec) == (True, rec["lock_file"])
    os.utime(lock, ns=(1, 1))
    assert refresh.lock_file_now(locks, rec) == (True, [str(lock), store.stat_key(lock)])
    lock.write_bytes(b"alpha==1.0\r\n")  # a checkout with CRLF: read as the build reads it
    assert refresh.lock_file_now(locks, rec)[0]
    lock.write_text("alpha==2.0\n")  # same size, other bytes
    assert refresh.lock_file_now(locks, rec) == (False, None)
    lock.unlink()
    assert refresh.lock_file_now(locks, rec) == (False, None)


def test_a_lock_reached_through_a_link_out_of_locks_is_a_change(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("alpha==1.0\n")
    rec = lock_record(outside, "alpha==1.0\n")
    link = locks / "t.txt"
    link.symlink_to(outside)
    rec["lock_file"] = [str(link), [0, 0, 0]]
    assert refresh.lock_file_now(locks, rec) == (False, None)


def test_a_spec_edited_while_ensure_planned_is_never_taken_for_the_one_built(
    built: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the spec's Python could not be read before the plan (caught
    mid-write), the key could only be taken after it: from bytes that may be
    newer than the plan's. Such a key is never one a request finds."""
    from compiler import materialise

    paths = Paths.resolve()
    spec = project / "specs" / "m.toml"
    spec.write_text(spec.read_text() + "# planned\n")
    edited = spec.read_text().replace('["beta"]', '["beta", "alpha"]')
    real_plan = materialise._live_plan

    def plan_then_edit(paths: Paths, request: Request) -> object:
        plan = real_plan(paths, request)
        spec.write_text(edited)  # after the plan read the spec, before the key
        return plan

    monkeypatch.setattr(materialise, "resolve_python", lambda _paths, _request: None)
    monkeypatch.setattr(materialise, "_live_plan", plan_then_edit)
    report = materialise.ensure(paths, CLI_REQUEST)
    assert report.action == "revalidated"
    assert spec.read_text() == edited
    assert find_current(paths, CLI_REQUEST, skip_installed=True) is None
