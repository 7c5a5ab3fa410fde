"""The base interpreter named once: ``base_python=`` in ``ensure_env()`` and
``base_python`` in the overrides file (``[global]`` or ``[models.M]``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import compiler

from .conftest import run_cli, write_spec
from .test_materialise import XY, create, created_path, home, locked, make_base, record

__all__ = ["locked"]  # the fixture, used by name


@pytest.fixture()
def base(tmp_path: Path, wheelhouse: Path) -> Path:
    return make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")


def write_overrides(text: str) -> Path:
    path = home() / "overrides.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("section", ["global", "models.m"])
def test_the_overrides_file_names_the_base_interpreter(
    locked: Path,
    wheelhouse: Path,
    base: Path,
    capfd: pytest.CaptureFixture[str],
    section: str,
) -> None:
    write_overrides(f'[{section}]\nbase_python = "{base}"\n')
    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    rec = record(created_path(out))
    assert rec["base"]["executable"] == str(base)
    assert rec["reused"] == ["alpha==1.0.0"]


def test_a_relative_base_python_is_relative_to_the_overrides_file(
    locked: Path, wheelhouse: Path, base: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = write_overrides(
        f'[models.m]\nbase_python = "{os.path.relpath(base, home())}"\n'
        '[global]\nbase_python = "/nonexistent/python"\n'
    )
    assert path.parent == home()
    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    # The model's section wins over [global].
    assert record(created_path(out))["base"]["executable"] == str(base)


def test_the_command_line_wins_over_the_overrides_file(
    locked: Path, wheelhouse: Path, base: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_overrides('[global]\nbase_python = "/nonexistent/python"\n')
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    assert record(created_path(out))["base"]["executable"] == str(base)


def test_a_missing_base_python_names_the_file_and_section(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = write_overrides('[models.m]\nbase_python = "/nonexistent/python"\n')
    code, out, err = create(capfd, wheelhouse)
    assert code == 2, err
    assert out == ""
    assert (
        f"base interpreter /nonexistent/python (base_python in {path} [models.m]) does not exist"
        in err
    )


def test_an_empty_base_python_is_a_located_error(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = write_overrides('[global]\nbase_python = ""\n')
    code, _out, err = run_cli(capfd, "show", "m")
    assert code != 0
    assert f"{path}: global.base_python: invalid interpreter ''" in err


def test_ensure_env_takes_the_base_interpreter(
    locked: Path, wheelhouse: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    env = compiler.ensure_env("m", base_python=base)
    assert env is not None
    assert env.record["base"]["executable"] == str(base)
    assert env.record["reused"] == ["alpha==1.0.0"]
    # The same call again is the fast path: the same environment.
    again = compiler.ensure_env("m", base_python=str(base))
    assert again is not None and again.path == env.path


# ---------------------------------------------------------------- #system_NAME# without the package


def test_building_on_a_host_without_a_system_package_is_an_error(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bare = make_base(tmp_path / "bare")
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["#system_alpha#", "beta"]\n')
    code, out, err = create(capfd, wheelhouse, "--base-python", str(bare))
    assert code == 1
    assert out == ""
    assert err == (
        f"modelenv: error: #system_alpha# (specs/m.toml [env]): the base interpreter {bare}"
        " has no alpha\n"
        "  hint: name the interpreter that has it (--base-python PATH, base_python= in"
        " ensure_env(), or base_python in the overrides file), install alpha into it, or let"
        " modelenv install its own with -p alpha\n"
    )
    assert not (home() / "virtualenv").exists() or not any((home() / "virtualenv").rglob("bin"))
    # The way out the hint names: -p alpha replaces the placeholder.
    code, out, err = create(capfd, wheelhouse, "--base-python", str(bare), "-p", "alpha")
    assert code == 0, err
    assert record(created_path(out))["installed"] == ["alpha==1.0.0", "beta==2.0.0"]


def test_a_system_package_whose_marker_excludes_the_host_is_not_needed(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bare = make_base(tmp_path / "bare")
    write_spec(
        project,
        "m",
        f'[env]\npython = ["{XY}"]\n'
        'packages = ["#system_alpha# ; sys_platform == \'win32\'", "gamma"]\n',
    )
    code, out, err = create(capfd, wheelhouse, "--base-python", str(bare))
    assert code == 0, err
    assert record(created_path(out))["installed"] == ["gamma==0.5.0"]
