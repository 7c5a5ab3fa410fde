"""Hostile input: links out of locks/ and specs/ (git commits links), a FIFO
where a spec belongs, and OS failures, each a clear error (exit 1 or 2, a
ModelenvError from the API), never a hang or an "internal error"."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

import compiler
from compiler import building, locking
from compiler.errors import ModelenvError
from compiler.store import LOCK_NAME

from .conftest import run_cli, run_modelenv, write_spec
from .test_hostile_home import OUTSIDE_FILES, assert_untouched, link
from .test_manage import hand_made_v4, touch_tree, v4
from .test_materialise import SPEC, XY, XYZ, idx


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    return touch_tree(tmp_path / "outside", {**OUTSIDE_FILES, f"py{XY}.txt": "# not a lock\n"})


def assert_outside_untouched(outside: Path) -> None:
    (outside / f"py{XY}.txt").unlink()
    assert_untouched(outside)


@pytest.fixture()
def locked(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    return project / "locks"


# ---------------------------------------------------------------- links out of locks/ and specs/


@pytest.mark.parametrize("argv", [["lock", "--prune"], ["lock", "--check"], ["lock"]])
def test_a_link_out_of_locks_is_an_error_naming_it(
    locked: Path,
    wheelhouse: Path,
    outside: Path,
    capfd: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    shared = link(locked / "m" / "shared", outside)
    code, _out, err = run_cli(capfd, *argv, *idx(wheelhouse))
    assert code == 1
    assert f"1 symbolic link in {locked} leads out of it:\n    {shared} -> {outside}" in err
    assert_outside_untouched(outside)


def test_create_never_reads_a_committed_lock_through_a_link_out_of_locks(
    locked: Path, wheelhouse: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (outside / "default").mkdir()
    (locked / "m" / "default" / f"py{XY}.txt").rename(outside / "default" / f"py{XY}.txt")
    model = link(locked / "m", outside)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert f"{model / 'default' / f'py{XY}.txt'} leads out of {locked}" in err


def test_a_spec_linked_out_of_specs_is_refused(
    project: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    target = outside / "x.toml"
    target.write_text('[model]\nname = "x"\n\n' + SPEC)
    link(project / "specs" / "x.toml", target)
    code, out, err = run_cli(capfd, "validate")
    assert code == 1
    assert "specs/x.toml: a symbolic link leading out of specs" in out + err
    code, _out, err = run_cli(capfd, "create", "x")
    assert code == 1
    assert "specs/x.toml: a symbolic link leading out of specs" in err


# ---------------------------------------------------------------- only regular files


def test_a_fifo_where_a_spec_belongs_never_hangs(project: Path) -> None:
    os.mkfifo(project / "specs" / "x.toml")
    proc = run_modelenv("create", "x", cwd=project, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "specs/x.toml: not a regular file (a named pipe)" in proc.stderr
    os.mkfifo(project / "over.toml")
    write_spec(project, "m", SPEC)
    proc = run_modelenv("show", "m", "--overrides", "over.toml", cwd=project, timeout=120)
    assert proc.returncode != 0
    assert "over.toml: not a regular file (a named pipe)" in proc.stderr


def test_a_fifo_among_the_files_modelenv_finds_by_itself_never_hangs(
    project: Path, tmp_path: Path
) -> None:
    """pip's config files, the project's pyproject.toml and the specs completion
    reads are found, not named: a named pipe there is passed over."""
    write_spec(project, "m", SPEC)
    os.mkfifo(tmp_path / "pip.conf")
    os.mkfifo(project / "pyproject.toml")
    env = {**os.environ, "PIP_CONFIG_FILE": str(tmp_path / "pip.conf")}
    proc = run_modelenv("show", "m", cwd=project, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    (project / "specs" / "_engines.toml").unlink()
    os.mkfifo(project / "specs" / "_engines.toml")
    proc = run_modelenv("completion", "--names", "engines", cwd=project, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["default"]


# ---------------------------------------------------------------- OS errors


def test_a_home_that_is_a_file(
    locked: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELENV_HOME", "/etc/passwd")
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert "Not a directory (/etc/passwd/virtualenv)" in err
    assert "internal error" not in err
    for argv in (["list"], ["gc"]):
        code, _out, err = run_cli(capfd, *argv)
        assert code == 0, err
    with pytest.raises(ModelenvError, match="Not a directory"):
        compiler.ensure_env("m")


def test_a_base_python_that_is_not_python(
    locked: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELENV_BASE_PYTHON", "/bin/echo")
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert "the base interpreter /bin/echo is not a Python interpreter" in err
    with pytest.raises(ModelenvError, match="is not a Python interpreter"):
        compiler.ensure_env("m")


def test_deeply_nested_json_to_import(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    deep = project / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, _out, err = run_cli(capfd, "import", "xinference", str(deep))
    assert code == 2
    assert "deep.json: nested too deeply to read" in err


@pytest.mark.parametrize("kind", ["folder", "loop"])
def test_a_lock_file_that_is_not_a_file(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str], kind: str
) -> None:
    lock = v4("m").with_name(f".{XYZ}.lock")
    lock.parent.mkdir(parents=True)
    if kind == "folder":
        lock.mkdir()
    else:
        lock.symlink_to(lock)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    what = "is a folder" if kind == "folder" else "is a symbolic link"
    assert f"modelenv: error: the lock file {lock} {what}" in err
    with pytest.raises(ModelenvError, match=what):
        compiler.ensure_env("m")


def _fail(err: int, name: str) -> OSError:
    return OSError(err, os.strerror(err), name)


@pytest.mark.parametrize("victim", [LOCK_NAME, "modelenv-record.json"])
def test_a_full_disk_while_writing_the_lock_copy_or_the_record(
    locked: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    victim: str,
) -> None:
    real = building.atomic_write

    def full(path: Path, text: str) -> None:
        if path.name == victim:
            raise _fail(errno.ENOSPC, str(path))
        real(path, text)

    monkeypatch.setattr(building, "atomic_write", full)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert "No space left on device" in err
    assert "hint: free some disk space" in err
    assert not v4("m").exists()


def test_a_read_only_home(
    locked: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Root ignores permissions: the failures are injected where the OS raises them."""
    env = hand_made_v4("old")
    real_mkdir, real_rename = Path.mkdir, os.rename

    def mkdir(self: Path, *args: object, **kw: object) -> None:
        if "virtualenv" in str(self):
            raise _fail(errno.EROFS, str(self))
        real_mkdir(self, *args, **kw)  # type: ignore[arg-type]

    def rename(src: object, dst: object, *args: object, **kw: object) -> None:
        if "virtualenv" in str(src):
            raise _fail(errno.EROFS, str(src))
        real_rename(src, dst, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(os, "rename", rename)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert "Read-only file system" in err
    assert "hint: the filesystem is read-only" in err
    for argv in (["remove", "old"], ["gc"]):
        code, _out, err = run_cli(capfd, *argv)
        assert code == 1, err
        assert "Read-only file system" in err
        assert "internal error" not in err
    assert env.exists()


def test_a_read_only_locks_folder(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_spec(project, "m", SPEC)

    def read_only(path: Path, text: str) -> None:
        raise _fail(errno.EROFS, str(path))

    monkeypatch.setattr(locking, "atomic_write", read_only)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 1
    assert "Read-only file system" in err
    assert "internal error" not in err


def test_the_api_raises_modelenv_error_for_os_errors(
    locked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELENV_HOME", str(Path(sys.executable)))  # a file
    with pytest.raises(ModelenvError):
        compiler.ensure_env("m")


def test_the_api_outside_the_project_names_the_specs_folder_it_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelenvError) as info:
        compiler.ensure_env("minilm-onnx")
    assert str(info.value) == (
        f"unknown model 'minilm-onnx': the specs folder {tmp_path / 'specs'} does not exist\n"
        "  hint: run from the project folder, or name the folder: --specs DIR,"
        " ensure_env(..., specs=DIR) or MODELENV_SPECS"
    )
