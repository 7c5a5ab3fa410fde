"""--json documents: every one carries schema_version; validate and doctor shapes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import run_cli, write_spec
from .test_materialise import SPEC, XY, idx


def test_validate_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "good", '[env]\npackages = ["a"]\n')
    code, out, err = run_cli(capsys, "validate", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "schema_version": 1,
        "ok": True,
        "files": 2,
        "invalid": 0,
        "problems": [],
    }
    write_spec(project, "bad", '[env]\npython = ["3.7"]\npackages = ["a"]\n')
    code, out, err = run_cli(capsys, "validate", "--json")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "schema_version": 1,
        "ok": False,
        "files": 3,
        "invalid": 1,
        "problems": [
            {
                "file": "specs/bad.toml",
                "field": "env.python[0]",
                "message": "unsupported Python version '3.7': modelenv needs 3.8 or newer",
            }
        ],
    }


def test_doctor_json_and_filters(
    project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "doctor", "--json")
    home = os.environ["MODELENV_HOME"]
    assert (code, json.loads(out)) == (
        0,
        {"schema_version": 1, "home": home, "ok": True, "environments": []},
    )
    write_spec(project, "m", SPEC)
    assert run_cli(capsys, "lock", *idx(wheelhouse))[0] == 0
    code, out, err = run_cli(capsys, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    path = out.strip().splitlines()[-1]
    code, out, err = run_cli(capsys, "doctor", "--json", "--engine", "default", "--python", XY)
    assert code == 0, err
    (env,) = json.loads(out)["environments"]
    assert env == {
        "model": "m",
        "engine": "default",
        "python": env["python"],
        "path": path,
        "ok": True,
        "problems": [],
    }
    assert env["python"].startswith(XY + ".")
    code, out, err = run_cli(capsys, "doctor", "m", "--engine", "vllm")
    assert (code, out) == (0, "")
    assert err == f"no environments under {home} for m engine vllm\n"


def test_every_json_document_has_a_schema_version(
    project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", SPEC)
    assert run_cli(capsys, "lock", *idx(wheelhouse))[0] == 0
    for argv in (
        ("show", "m", "--json"),
        ("list", "--json"),
        ("validate", "--json"),
        ("doctor", "--json"),
        ("lock", "--check", "--json"),
    ):
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, (argv, err)
        assert next(iter(json.loads(out))) == "schema_version", argv
        assert json.loads(out)["schema_version"] == 1
