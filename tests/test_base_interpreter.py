"""Which interpreter environments are layered on.

The command line layers them on the interpreter beneath the virtual
environment modelenv is installed in (a pipx, ``uv tool`` or project venv),
so that modelenv's own packages never leak into a model's environment, unless
that venv is the one asked for (``--base-python``, ``MODELENV_BASE_PYTHON``).
``ensure_env()`` keeps the calling interpreter: a model server wants its own
packages. These tests run modelenv from the test suite's own venv, which has
modelenv installed in it: exactly the case of a venv-installed modelenv.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import compiler
from compiler.host import inspect_interpreter
from compiler.paths import beneath_venv
from compiler.spec.targets import load_targets

from .conftest import run_cli, run_modelenv, write_spec
from .test_materialise import SPEC, XY, idx, make_base

BENEATH = beneath_venv()

pytestmark = pytest.mark.skipif(
    BENEATH is None, reason="the tests must run from a virtual environment"
)

# modelenv's own package: importable in the venv it is installed in, nowhere else.
PROBE = (
    "import importlib.util, json, sys;"
    " print(json.dumps([sys._base_executable, importlib.util.find_spec('compiler') is None]))"
)


@pytest.fixture()
def locked(project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capsys, "lock", *idx(wheelhouse))
    assert code == 0, err
    return project


def record_base(env_path: Path) -> str:
    record = json.loads((env_path / "modelenv-record.json").read_text())
    return str(record["base"]["executable"])


def test_the_command_line_layers_on_the_interpreter_beneath_its_venv(
    locked: Path, wheelhouse: Path
) -> None:
    assert sys.prefix != sys.base_prefix  # modelenv runs from a venv
    done = run_modelenv("create", "m", *idx(wheelhouse), cwd=locked)
    assert done.returncode == 0, done.stderr
    env_path = Path(done.stdout.strip().splitlines()[-1])
    base = record_base(env_path)
    assert base == BENEATH
    assert not os.path.abspath(base).startswith(os.path.join(sys.prefix, ""))

    ran = run_modelenv("run", "m", *idx(wheelhouse), "--", "python", "-c", PROBE, cwd=locked)
    assert ran.returncode == 0, ran.stderr
    _, compiler_missing = json.loads(ran.stdout)
    assert compiler_missing, "modelenv's own venv leaked into the model's environment"

    shown = run_modelenv("show", "m", "--json", cwd=locked)
    assert json.loads(shown.stdout)["base_interpreter"]["path"] == BENEATH


def test_the_venv_itself_when_asked_for(locked: Path, wheelhouse: Path) -> None:
    for how in (["--base-python", sys.executable], []):
        env = {**os.environ, "MODELENV_BASE_PYTHON": sys.executable} if not how else None
        done = run_modelenv("create", "m", *idx(wheelhouse), *how, cwd=locked, env=env)
        assert done.returncode == 0, done.stderr
        env_path = Path(done.stdout.strip().splitlines()[-1])
        assert record_base(env_path) == sys.executable


def test_ensure_env_keeps_the_calling_interpreter(
    locked: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    env = compiler.ensure_env("m", python=XY)
    assert env is not None
    assert record_base(env.path) == sys.executable
    # The command line then layers the same model on the interpreter beneath
    # (--force: this process holds a lease on the environment).
    done = run_modelenv("create", "m", *idx(wheelhouse), "--force", cwd=locked)
    assert done.returncode == 0, done.stderr
    assert record_base(env.path) == BENEATH


def test_list_marks_an_environment_whose_base_is_gone_stale(
    locked: Path, wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pipx uninstall removes the venv an environment was layered on: list must
    not call it ok while doctor reports the base gone."""
    base = make_base(tmp_path / "tool-venv")
    code, out, err = run_cli(capsys, "create", "m", *idx(wheelhouse), "--base-python", str(base))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "list", "--json")
    assert [e["status"] for e in json.loads(out)["environments"]] == ["ok"]
    shutil.rmtree(tmp_path / "tool-venv")
    code, out, _ = run_cli(capsys, "list", "--json")
    assert [e["status"] for e in json.loads(out)["environments"]] == ["stale"]


def test_target_capture_describes_the_interpreter_create_layers_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It captured modelenv's own venv (pydantic, pytest, modelenv itself):
    # not the host 'create' then layers on, so the target could never match it.
    code, _out, err = run_cli(capsys, "target", "capture", "here")
    assert code == 0, err
    assert f"capturing   {BENEATH}\n" in err
    target = load_targets(project / "specs")["here"]
    assert target.capture.interpreter == BENEATH
    assert BENEATH is not None
    assert set(target.packages) <= set(inspect_interpreter(BENEATH).packages)
    assert "modelenv" not in target.packages
