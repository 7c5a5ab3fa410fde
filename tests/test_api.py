"""`compiler.ensure_env`: the API a model server calls at launch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import compiler
import compiler.uv
from compiler import leases
from compiler.errors import ModelenvError, UsageError
from compiler.store import Environment

from .conftest import run_cli, write_spec
from .test_materialise import (
    SPEC,
    XY,
    XYZ,
    dist_infos,
    env_dir,
    home,
    idx,
    in_env,
    make_base,
    version_in,
)


@pytest.fixture()
def model(
    project: Path,
    wheelhouse: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Model m, locked; the index settings ensure_env inherits point at the wheelhouse."""
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capsys, "lock", *idx(wheelhouse))
    assert code == 0, err
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    return project


def no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError(f"uv ran: {args}")

    monkeypatch.setattr(compiler.uv, "run", refuse)


def test_ensure_env_builds_and_describes_the_environment(model: Path) -> None:
    env = compiler.ensure_env("m")
    assert isinstance(env, Environment)
    assert env.path == env_dir() == home() / "virtualenv" / "v4" / "m" / "default" / XYZ
    assert env.python == env.path / "bin" / "python"
    assert env.python.exists()
    assert env.bin_dir == env.path / "bin"
    assert env.record["lock_source"] == "committed"
    assert env.record["model"] == "m" and env.record["python"] == XY

    base = {"PATH": "/usr/bin:/bin", "PYTHONHOME": "/elsewhere", "KEEP": "1"}
    variables = env.env_vars(base)
    assert variables["VIRTUAL_ENV"] == str(env.path)
    assert variables["PATH"] == f"{env.path / 'bin'}{os.pathsep}/usr/bin:/bin"
    assert "PYTHONHOME" not in variables
    assert variables["KEEP"] == "1"
    assert base["PYTHONHOME"] == "/elsewhere"  # the caller's mapping is not changed
    assert env.env_vars()["VIRTUAL_ENV"] == str(env.path)  # default: os.environ

    proc = subprocess.run(
        ["python", "-c", "import sys, beta, alpha; print(sys.prefix, alpha.__version__)"],
        env=env.env_vars(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(env.path), "1.0.0"]


def test_ensure_env_on_an_up_to_date_environment_runs_no_uv(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = compiler.ensure_env("m")
    assert first is not None
    no_uv(monkeypatch)
    second = compiler.ensure_env("m")
    assert second == first


def test_ensure_env_uses_what_the_cli_built(
    model: Path,
    wheelhouse: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command line layers on the interpreter beneath its venv unless asked
    # for this one, which ensure_env uses (tests/test_base_interpreter.py).
    code, out, err = run_cli(
        capsys, "create", "m", *idx(wheelhouse), "--base-python", sys.executable
    )
    assert code == 0, err
    no_uv(monkeypatch)
    env = compiler.ensure_env("m", engine="default", python=XY)
    assert env is not None
    assert env.path == Path(out.strip().splitlines()[-1])


def test_ensure_env_with_explicit_folders(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    own_home = tmp_path / "own-home"
    env = compiler.ensure_env("m", specs=model / "specs", locks=model / "locks", home=own_home)
    assert env is not None
    assert env.path == own_home / "virtualenv" / "v4" / "m" / "default" / XYZ
    assert env.record["lock_source"] == "committed"
    # (locking m above kept its probe of the base interpreter in that home's cache)
    assert not (home() / "virtualenv").exists()
    assert (own_home / "cache" / "interpreters").is_dir()


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_disabled_by_the_environment_variable(
    model: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODELENV_ENABLE_VIRTUAL_ENV", value)
    no_uv(monkeypatch)
    assert compiler.ensure_env("m") is None
    assert compiler.ensure_env("no-such-model") is None  # not even looked at
    assert not (home() / "virtualenv").exists()


def test_disabled_by_the_argument(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELENV_ENABLE_VIRTUAL_ENV", "1")
    no_uv(monkeypatch)
    assert compiler.ensure_env("m", enable=False) is None
    assert not (home() / "virtualenv").exists()


def test_the_argument_wins_over_the_environment_variable(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELENV_ENABLE_VIRTUAL_ENV", "0")
    env = compiler.ensure_env("m", enable=True)
    assert env is not None and env.python.exists()


def test_an_unknown_model_is_a_usage_error(model: Path) -> None:
    with pytest.raises(UsageError) as info:
        compiler.ensure_env("no-such-model")
    assert info.value.exit_code == 2
    assert "unknown model 'no-such-model'" in str(info.value)
    assert "m" in str(info.value)
    assert not (home() / "virtualenv").exists()


def test_an_unknown_engine_is_a_usage_error(model: Path) -> None:
    with pytest.raises(UsageError, match="has no engine 'vllm'"):
        compiler.ensure_env("m", engine="vllm")


def test_a_failed_build_raises_a_modelenv_error(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    with pytest.raises(ModelenvError) as info:
        compiler.ensure_env("m")
    assert "alpha" in str(info.value) or "beta" in str(info.value)
    assert not env_dir().exists()


@pytest.mark.parametrize("how", ["argument", "variable"])
def test_skip_installed_can_be_turned_off(
    model: Path, tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    monkeypatch.setenv("MODELENV_BASE_PYTHON", str(base))
    env = compiler.ensure_env("m")
    assert env is not None
    assert env.record["reused"] == ["alpha==1.0.0"]
    assert dist_infos(env.path, "alpha") == []
    if how == "argument":
        env = compiler.ensure_env("m", skip_installed=False)
    else:
        monkeypatch.setenv("MODELENV_VIRTUAL_ENV_SKIP_INSTALLED", "0")
        env = compiler.ensure_env("m")
    assert env is not None
    assert env.record["reused"] == []
    assert dist_infos(env.path, "alpha") == ["alpha-1.0.0.dist-info"]


def test_a_long_running_process_sees_host_changes(
    model: Path, tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    monkeypatch.setenv("MODELENV_BASE_PYTHON", str(base))
    env = compiler.ensure_env("m")
    assert env is not None
    assert env.record["reused"] == ["alpha==1.0.0"]
    assert version_in(env.path, "alpha") == "1.0.0"
    # Someone removes alpha from the host while the server keeps running.
    subprocess.run(
        [compiler.uv.uv_binary(), "pip", "uninstall", "--quiet", "--python", str(base), "alpha"],
        check=True,
        capture_output=True,
    )
    env = compiler.ensure_env("m")
    assert env is not None
    proc = in_env(env.path, "import alpha")
    assert proc.returncode == 0, proc.stderr
    assert "alpha==1.0.0" in env.record["installed"]


def test_a_new_process_sees_host_changes(
    model: Path, tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same host change as above, seen by a fresh process: rebuilt correctly."""
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    monkeypatch.setenv("MODELENV_BASE_PYTHON", str(base))
    env = compiler.ensure_env("m")
    assert env is not None and env.record["reused"] == ["alpha==1.0.0"]
    subprocess.run(
        [compiler.uv.uv_binary(), "pip", "uninstall", "--quiet", "--python", str(base), "alpha"],
        check=True,
        capture_output=True,
    )
    code = (
        "import compiler\n"
        "env = compiler.ensure_env('m')\n"
        "print(env.record['installed'], env.record['reused'])\n"
    )

    def fresh_process() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=model,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            check=False,
        )

    # While this process (the "server") still holds its lease, nobody rebuilds
    # the environment under it.
    proc = fresh_process()
    assert proc.returncode != 0
    assert f"must be rebuilt, but process {os.getpid()} is using it" in proc.stderr
    # Once it is done with it, a fresh process rebuilds it correctly.
    leases.release(leases.lease_dir(env.path) / str(os.getpid()))
    proc = fresh_process()
    assert proc.returncode == 0, proc.stderr
    assert "alpha==1.0.0" in proc.stdout.split("]")[0]
    assert version_in(env_dir(), "alpha") == "1.0.0"
