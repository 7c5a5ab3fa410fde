"""Variants: ``[default]`` (the engine-less variant's own entries, or none) and
``[engines.X] defaults`` (take or refuse _engines.toml), as show, lock and
validate see them (docs/spec.md, "Variants")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.spec import load_engines, load_spec

from .conftest import run_cli, write_spec


def show(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "show", *args, "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def written(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["written"], item["layer"]) for item in doc["requirements"]]


def test_default_table_is_only_for_the_default_variant(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    write_spec(
        project,
        "m",
        '[env]\npackages = ["alpha"]\n\n[default]\npackages = ["beta"]\n\n'
        '[engines.vllm]\npackages = ["gamma"]\n',
    )
    assert written(show(capsys, "m")) == [("alpha", "env"), ("beta", "default")]
    assert written(show(capsys, "m", "--engine", "vllm")) == [
        ("vllm>=0.11.2", "engine vllm"),
        ("alpha", "env"),
        ("gamma", "engines.vllm"),
    ]


def test_default_table_alone_makes_the_default_variant(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    write_spec(
        project,
        "m",
        '[default]\npackages = ["beta"]\n\n[engines.vllm]\npackages = ["gamma"]\n',
    )
    assert written(show(capsys, "m")) == [("beta", "default")]
    specs = project / "specs"
    assert load_spec(specs / "m.toml", load_engines(specs)).variants() == [None, "vllm"]


def test_engine_defaults_false_leaves_out_the_engine_packages(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    write_spec(
        project,
        "m",
        '[engines.vllm]\ndefaults = false\npackages = ["gamma"]\n\n'
        '[engines.transformers]\npackages = ["beta"]\n',
    )
    assert written(show(capsys, "m", "--engine", "vllm")) == [("gamma", "engines.vllm")]
    assert written(show(capsys, "m", "--engine", "transformers")) == [
        ("transformers>=4.53.3", "engine transformers"),
        ("accelerate>=0.28.0", "engine transformers"),
        ("beta", "engines.transformers"),
    ]


def test_disabled_default_variant(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    write_spec(
        project,
        "m",
        '[env]\npackages = ["alpha"]\n\n[default]\nenabled = false\n\n'
        "[engines.vllm]\ndefaults = false\n",
    )
    assert written(show(capsys, "m", "--engine", "vllm")) == [("alpha", "env")]
    code, _, err = run_cli(capsys, "show", "m")
    assert code == 2
    assert (
        "model 'm' has no default variant ([default] enabled = false); choose an engine: vllm"
        in err
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[default]\nenabled = false\npackages = ["alpha"]\n\n[engines.vllm]\n',
            "default.enabled: the default variant is disabled, yet [default] lists packages"
            " or constraints; remove them, or remove enabled = false",
        ),
        (
            '[env]\npackages = ["alpha"]\n\n[default]\nenabled = false\n',
            "default.enabled: the default variant is disabled and the spec has no"
            " [engines.NAME] table; add one, or remove enabled = false",
        ),
        (
            '[default]\npackages = ["alpha", "Alpha>=1"]\n',
            "default.packages",
        ),
        ('[default]\nenabled = "no"\npackages = ["alpha"]\n', "default.enabled"),
        ('[default]\npackage = ["alpha"]\n', "did you mean 'packages'"),
        ("[engines.vllm]\ndefaults = 0\n", "engines.vllm.defaults"),
    ],
)
def test_invalid_variant_tables(
    capsys: pytest.CaptureFixture[str], project: Path, body: str, message: str
) -> None:
    write_spec(project, "m", body)
    code, out, err = run_cli(capsys, "validate")
    assert code == 1
    assert message in out + err
