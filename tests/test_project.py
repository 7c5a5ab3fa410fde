"""Project discovery (walking up from the current folder) and [tool.modelenv]."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from compiler.project import discover

from .conftest import run_cli, write_spec

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f'[env]\npython = ["{PY}"]\npackages = ["gamma"]\n'


def idx(wheelhouse: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(wheelhouse))


@pytest.fixture()
def locked(project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", SPEC)
    code, _, err = run_cli(capsys, "lock", *idx(wheelhouse))
    assert code == 0, err
    return project


def test_commands_find_the_project_from_a_subfolder(
    locked: Path,
    wheelhouse: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deep = locked / "docs" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert discover().root == locked
    assert run_cli(capsys, "lock", "--check") == (0, "", "1 lock up to date\n")
    assert run_cli(capsys, "validate")[0] == 0
    code, out, err = run_cli(capsys, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "list", "--json")
    assert [e["status"] for e in json.loads(out)["environments"]] == ["ok"]


def test_no_project_above_keeps_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    monkeypatch.chdir(empty)
    project = discover()
    if project.root is not None:  # a specs/ folder above the temporary folder
        pytest.skip(f"{project.root} looks like a project")
    code, out, err = run_cli(capsys, "lock", "--check")
    assert (code, out) == (2, "")
    assert err.startswith("modelenv: error: no specs in specs\n")


def test_tool_modelenv_sets_folders_index_and_jobs(
    tmp_path: Path,
    wheelhouse: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.toml").write_text(f'[model]\nname = "m"\n\n{SPEC}')
    (root / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n\n[tool.modelenv]\n"
        'specs = "models"\nlocks = "pins"\nhome = "envs"\n'
        f"no-index = true\nfind-links = [{json.dumps(os.path.relpath(wheelhouse, root))}]\n"
        "jobs = 3\n"
    )
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    code, out, err = run_cli(capsys, "lock")  # the index comes from [tool.modelenv]
    assert code == 0, err
    assert (root / "pins" / "m" / "default" / f"py{PY}.txt").is_file()
    code, out, _ = run_cli(capsys, "show", "m", "--json")
    index = json.loads(out)["index"]
    source = f"{root / 'pyproject.toml'} [tool.modelenv]"
    assert index["no_index"] == {"value": True, "source": source}
    assert index["find_links"]["value"] == [str(wheelhouse)]
    # The environment, then the command line, win over [tool.modelenv].
    monkeypatch.setenv("UV_NO_INDEX", "0")
    code, out, _ = run_cli(capsys, "show", "m", "--json")
    assert json.loads(out)["index"]["no_index"]["source"] == "UV_NO_INDEX"
    monkeypatch.delenv("UV_NO_INDEX")
    # home: [tool.modelenv] is below $MODELENV_HOME (set by the test isolation).
    code, out, _ = run_cli(capsys, "list", "--json")
    assert json.loads(out)["home"] == os.environ["MODELENV_HOME"]
    monkeypatch.delenv("MODELENV_HOME")
    code, out, _ = run_cli(capsys, "list", "--json")
    assert json.loads(out)["home"] == str(root / "envs")
    code, out, _ = run_cli(capsys, "--home", str(tmp_path / "h"), "list", "--json")
    assert json.loads(out)["home"] == str(tmp_path / "h")


def test_jobs_precedence(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler.commands import lock

    assert lock._jobs(None) == min(16, 4 * (os.cpu_count() or 1))
    assert lock._jobs(None) > (os.cpu_count() or 1)
    (project / "pyproject.toml").write_text("[tool.modelenv]\njobs = 5\n")
    assert lock._jobs(None) == 5
    monkeypatch.setenv("MODELENV_JOBS", "7")
    assert lock._jobs(None) == 7
    assert lock._jobs(2) == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "jbos = 2\n",
            "pyproject.toml: tool.modelenv.jbos: unknown key (did you mean 'jobs'?);"
            " known keys: specs, locks, home, index-url, extra-index-url, find-links,"
            " no-index, jobs, python-downloads",
        ),
        ('jobs = "2"\n', "pyproject.toml: tool.modelenv.jobs: expected an integer, got '2'"),
        ("jobs = 0\n", "pyproject.toml: tool.modelenv.jobs: must be 1 or more, got 0"),
        (
            'find-links = "w"\n',
            "pyproject.toml: tool.modelenv.find-links: expected an array of strings, got 'w'",
        ),
    ],
)
def test_bad_tool_modelenv_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    (project / "pyproject.toml").write_text("[tool.modelenv]\n" + table)
    code, out, err = run_cli(capsys, "lock", "--check")
    assert (code, out) == (2, "")
    assert err == f"modelenv: error: {message}\n"


def test_check_suggests_commands_with_the_given_folders(
    locked: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (locked / "specs").rename(locked / "my specs")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        capsys, "lock", "--check", "--specs", str(locked / "my specs"), "--locks", "L"
    )
    assert code == 1
    specs = str(locked / "my specs")
    assert out == (
        f"L/m/default/py{PY}.txt: missing; run: modelenv lock m --engine default"
        f" --python {PY} --specs '{specs}' --locks L\n"
    )
    assert err == (
        "1 of 1 lock missing, stale, edited or invalid"
        f" (fix: modelenv lock --specs '{specs}' --locks L)\n"
    )


def test_check_json(locked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "lock", "--check", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "schema_version": 1,
        "ok": True,
        "total": 1,
        "counts": {},
        "problems": [],
    }
    write_spec(locked, "m", SPEC.replace("gamma", "beta"))
    (locked / "locks" / "x" / "default").mkdir(parents=True)
    (locked / "locks" / "x" / "default" / f"py{PY}.txt").write_text("")
    code, out, err = run_cli(capsys, "lock", "--check", "--json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["counts"] == {"stale": 1, "orphaned": 1}
    assert doc["problems"] == [
        {
            "path": f"locks/m/default/py{PY}.txt",
            "status": "stale",
            "message": "stale",
            "model": "m",
            "engine": "default",
            "python": PY,
            "target": None,
            "fix": f"modelenv lock m --engine default --python {PY}",
            "details": [],
        },
        {
            "path": f"locks/x/default/py{PY}.txt",
            "status": "orphaned",
            "message": "no spec variant produces it",
            "model": None,
            "engine": None,
            "python": None,
            "target": None,
            "fix": "modelenv lock --prune",
            "details": [],
        },
    ]
    assert run_cli(capsys, "lock", "--json")[0] == 2
