"""Edge cases found in review: names and versions that could escape their folders,
settings that could leak into locks, inputs that must not force a rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import compiler
from compiler.errors import UsageError
from compiler.store import RECORD_NAME, read_record

from .conftest import run_cli, write_spec

XY = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n'


def idx(wheelhouse: Path) -> list[str]:
    return ["--no-index", "--find-links", str(wheelhouse)]


@pytest.fixture()
def built(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", SPEC)
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    return Path(out.strip().splitlines()[-1])


@pytest.mark.parametrize("python", ["3.11/../x", "/tmp/evil.sh", "3", "python3.11"])
def test_a_python_that_is_not_x_y_is_refused_before_anything_runs(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], python: str
) -> None:
    write_spec(project, "m", '[env]\npackages = ["beta"]\n')  # lists no Python: any X.Y
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    for command in ("show", "create"):
        code, _out, err = run_cli(
            capfd, command, "m", "--python", python.replace("/tmp/evil.sh", str(evil))
        )
        assert code == 2
        assert "invalid Python version" in err
    assert not marker.exists()
    with pytest.raises(UsageError, match="invalid Python version"):
        compiler.ensure_env("m", python=str(evil))


@pytest.mark.parametrize("name", ["../m", "m/../../x", ".hidden"])
def test_ensure_env_refuses_path_tricks_in_names(project: Path, name: str) -> None:
    with pytest.raises(UsageError, match="invalid model name"):
        compiler.ensure_env(name)
    with pytest.raises(UsageError, match="invalid engine name"):
        compiler.ensure_env("m", engine=name)


def test_ensure_env_refuses_a_string_for_packages(project: Path) -> None:
    with pytest.raises(UsageError, match="not one string"):
        compiler.ensure_env("m", packages="numpy")  # type: ignore[arg-type]


def test_an_engine_named_default_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "_engines.toml").write_text('[default]\npackages = ["alpha"]\n')
    write_spec(project, "m", '[env]\npackages = ["beta"]\n\n[engines.default]\npackages = []\n')
    code, out, _err = run_cli(capsys, "validate")
    assert code == 1
    why = "'default' names the engine-less variant; give the engine another name"
    assert out.splitlines() == [
        f"specs/m.toml: engines.default: {why}",
        f"specs/_engines.toml: default: {why}",
    ]


def test_editor_files_in_the_specs_folder_are_not_specs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", '[env]\npackages = ["beta"]\n')
    (project / "specs" / ".#m.toml").symlink_to("nowhere@123")  # an Emacs lock file
    (project / "specs" / "dir.toml").mkdir()
    assert run_cli(capsys, "validate") == (0, "", "2 files valid\n")


def test_lock_check_without_specs_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(capsys, "lock", "--check", "--specs", "nowhere")
    assert code == 2 and "no specs in nowhere" in err


def test_a_malformed_overrides_file_is_a_clean_error_on_the_fast_path(
    built: Path, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = project / "ov.toml"
    for text in ("models = 1\n", "models = [1]\n", "global = 3\n"):
        bad.write_text(text)
        code, _out, err = run_cli(capfd, "create", "m", "--overrides", str(bad), *idx(wheelhouse))
        assert code == 1, err
        assert "modelenv: error: ov.toml:" in err and "internal error" not in err


def test_a_global_python_preference_falls_back_when_the_spec_does_not_list_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", SPEC)
    overrides = project / "ov.toml"
    overrides.write_text('[global]\npython = "3.9"\n')
    code, out, err = run_cli(capsys, "show", "m", "--overrides", str(overrides))
    assert code == 0, err
    assert f"python:  {XY}" in out
    # Named for the model, it is a requirement: an error when not listed.
    overrides.write_text('[models.m]\npython = "3.9"\n')
    code, _out, err = run_cli(capsys, "show", "m", "--overrides", str(overrides))
    assert code == 2 and f"lists Python {XY} (env.python), not 3.9" in err


def test_a_relative_home_gives_absolute_paths(
    built: Path, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capfd,
        "run",
        "m",
        "--home",
        "relhome",
        *idx(wheelhouse),
        "--",
        "sh",
        "-c",
        'cd / && echo "$VIRTUAL_ENV" && python -c "import beta"',
    )
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(
        project / "relhome/virtualenv/v4/m/default"
    ) + "/" + ("{}.{}.{}".format(*sys.version_info[:3]))


def test_a_comment_in_the_spec_revalidates_instead_of_rebuilding(
    built: Path, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inode = built.stat().st_ino
    spec = project / "specs" / "m.toml"
    spec.write_text(spec.read_text() + "# a comment changes the bytes, not the lock\n")
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    assert "revalidated m [default" in err
    assert built.stat().st_ino == inode
    assert run_cli(capfd, "create", "m", *idx(wheelhouse))[2].startswith("up to date")


def test_a_record_edited_by_hand_is_invalid(built: Path) -> None:
    path = built / RECORD_NAME
    text = path.read_text()
    assert read_record(built) is not None
    path.write_text(text.replace('"installed": [', '"installed": ["evil==6.6.6", ', 1))
    assert read_record(built) is None


def test_uv_settings_from_the_environment_do_not_leak_into_locks(
    project: Path,
    wheelhouse: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from .wheels import make_wheel

    make_wheel(wheelhouse, "alpha", "1.1.0")
    write_spec(project, "m", SPEC)
    monkeypatch.setenv("UV_RESOLUTION", "lowest")
    assert run_cli(capsys, "lock", *idx(wheelhouse))[0] == 0
    lock = (project / "locks/m/default" / f"py{XY}.txt").read_text()
    assert "alpha==1.1.0" in lock  # the highest, as on any other machine


def test_a_rebuild_never_happens_under_a_running_model(
    built: Path, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from compiler import leases

    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        leases.take(built, sleeper.pid)
        code, _out, err = run_cli(capfd, "create", "m", "-p", "alpha==1.0.0", *idx(wheelhouse))
        assert code == 1
        assert f"must be rebuilt, but process {sleeper.pid} is using it" in err
        assert read_record(built) is not None  # untouched
        code, _out, err = run_cli(
            capfd, "create", "m", "-p", "alpha==1.0.0", "--force", *idx(wheelhouse)
        )
        assert code == 0, err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not os.path.exists(built.with_name(f".{built.name}.build-staging"))


def test_duplicate_constraints_in_the_engines_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "_engines.toml").write_text(
        '[vllm]\npackages = ["vllm"]\nconstraints = ["numpy<2", "NumPy<3"]\n'
    )
    code, out, _err = run_cli(capsys, "validate")
    assert code == 1
    assert out == (
        "specs/_engines.toml: vllm.constraints[1]: 'numpy' is listed twice"
        " (also at vllm.constraints[0]); keep one entry\n"
    )


def test_one_run_reports_cross_field_problems_beside_schema_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "m.toml").write_text(
        '[model]\nname = "other"\n\n[env]\npython = 3.11\n'
        'packages = ["numpy", "NumPy", 5]\n\n[engines.vlm]\n'
    )
    code, out, _err = run_cli(capsys, "validate")
    assert code == 1
    assert out.splitlines() == [
        "specs/m.toml: env.python: expected an array, got 3.11 (float)",
        "specs/m.toml: env.packages[2]: expected a string, got 5 (integer)",
        "specs/m.toml: model.name: 'other' differs from the file name 'm.toml';"
        " rename the file to 'other.toml' or set name = 'm'",
        "specs/m.toml: env.packages[1]: 'numpy' is listed twice (also at env.packages[0]);"
        " keep one entry",
        "specs/m.toml: engines.vlm: unknown engine 'vlm' (did you mean 'vllm'?);"
        " engines defined in specs/_engines.toml: llama.cpp, transformers, vllm",
    ]
