"""`modelenv new`: writes specs/NAME.toml from the template, valid by
construction, never overwrites, and writes nothing when the spec would be invalid."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from .conftest import run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HINT = "  hint: run 'modelenv validate' to see every problem; docs/spec.md has the format\n"
NEW_HINT = "  hint: nothing was written; fix the -p, --python or --engine arguments\n"


def new(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code, out, err = run_cli(capsys, "new", *args)
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    return code, out, err


def listing(folder: Path) -> dict[str, bytes]:
    """The files of ``folder`` and their contents: also catches stray temporary files."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_new_writes_a_valid_spec(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = new(
        capsys,
        "got-ocr2",
        "-p", "transformers==4.37.2",
        "-p", '#system_torch# ; sys_platform == "linux"',
        "-p", "tiktoken==0.6.0",
        "--python", "3.11",
        "--python", "3.10",
        "--engine", "vllm",
        "--engine", "transformers",
        "--description", 'GOT-OCR 2.0, "general" OCR – ü',
    )  # fmt: skip
    assert (code, out) == (0, "specs/got-ocr2.toml\n")
    assert err == "wrote specs/got-ocr2.toml; lock it with 'modelenv lock got-ocr2'\n"

    path = project / "specs" / "got-ocr2.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "model": {"name": "got-ocr2", "description": 'GOT-OCR 2.0, "general" OCR – ü'},
        "env": {
            "python": ["3.11", "3.10"],
            "packages": [
                "transformers==4.37.2",
                '#system_torch# ; sys_platform == "linux"',
                "tiktoken==0.6.0",
            ],
        },
        "engines": {"transformers": {"packages": []}, "vllm": {"packages": []}},
    }
    assert run_cli(capsys, "validate") == (0, "", "2 files valid\n")
    assert run_cli(capsys, "validate", "specs/got-ocr2.toml") == (0, "", "1 file valid\n")


def test_new_minimal(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new(capsys, "tiny", "-p", "numpy")[0] == 0
    data = tomllib.loads((project / "specs" / "tiny.toml").read_text())
    # Unset keys are left to their defaults (commented out in the file).
    assert data == {"model": {"name": "tiny"}, "env": {"packages": ["numpy"]}}
    assert run_cli(capsys, "validate")[0] == 0


def test_new_repeated_arguments_are_listed_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = new(
        capsys, "m", "-p", "a", "-p", "b", "-p", "a", "--python", "3.11", "--python", "3.11",
        "--engine", "vllm", "--engine", "vllm",
    )  # fmt: skip
    assert code == 0
    data = tomllib.loads((project / "specs" / "m.toml").read_text())
    assert data["env"] == {"python": ["3.11"], "packages": ["a", "b"]}
    assert data["engines"] == {"vllm": {"packages": []}}


def test_new_engine_with_a_dot(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = new(capsys, "bge-m3", "--engine", "llama.cpp", "--engine", "vllm")
    assert (code, out) == (0, "specs/bge-m3.toml\n")
    text = (project / "specs" / "bge-m3.toml").read_text()
    assert '[engines."llama.cpp"]\n' in text
    assert "[engines.vllm]\n" in text
    data = tomllib.loads(text)
    assert data["engines"] == {"llama.cpp": {"packages": []}, "vllm": {"packages": []}}
    assert data["env"] == {"packages": []}
    assert run_cli(capsys, "validate") == (0, "", "2 files valid\n")


def test_new_quiet(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new(capsys, "-q", "m", "-p", "a") == (0, "specs/m.toml\n", "")


def test_new_refuses_to_overwrite(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "specs" / "m.toml"
    path.write_text("# my own spec, not even valid\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = listing(project / "specs")
    code, out, err = new(capsys, "m", "-p", "numpy")
    assert (code, out) == (1, "")
    assert err == "modelenv: error: specs/m.toml already exists; edit it, or remove it first\n"
    assert listing(project / "specs") == before
    assert path.stat().st_mtime_ns == 1_000_000_000


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "Got-OCR2",
            "invalid model name 'Got-OCR2': use lowercase letters, digits, '.', '_' and '-'"
            " (for example 'got-ocr2')",
        ),
        ("a/b", "invalid model name 'a/b': path separators and '..' are not allowed"),
        ("..", "invalid model name '..': path separators and '..' are not allowed"),
        ("../escape", "invalid model name '../escape': path separators and '..' are not allowed"),
        ("", "invalid model name '': it must not be empty"),
        (
            "_engines",
            "invalid model name '_engines': it must start with a lowercase letter or digit"
            " and contain only lowercase letters, digits, '.', '_' and '-'",
        ),
    ],
)
def test_new_rejects_invalid_name(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    before = listing(project / "specs")
    code, out, err = new(capsys, name, "-p", "numpy")
    assert (code, out, err) == (2, "", f"modelenv: error: {message}\n")
    assert listing(project / "specs") == before
    assert sorted(p.name for p in project.iterdir()) == ["specs"]


def test_new_needs_packages_or_engines(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = listing(project / "specs")
    code, out, err = new(capsys, "m", "--python", "3.11")
    assert (code, out) == (2, "")
    assert err == (
        "modelenv: error: a spec needs packages: give at least one -p REQ or --engine E\n"
        "  hint: modelenv new m -p 'transformers==4.37.2'\n"
    )
    assert listing(project / "specs") == before


def test_new_needs_a_name(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = new(capsys)
    assert (code, out) == (2, "")
    assert err.endswith("modelenv: error: the following arguments are required: NAME\n")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        pytest.param(
            ["-p", "numpy", "-p", "transformers>="],
            "specs/m.toml: env.packages[1]: invalid requirement 'transformers>=': expected"
            " semicolon (after name with no version specifier) or end",
            id="requirement",
        ),
        pytest.param(
            ["-p", "#system_#"],
            "specs/m.toml: env.packages[0]: malformed placeholder '#system_#':"
            " '' is not a valid distribution name",
            id="placeholder",
        ),
        pytest.param(
            ["-p", "numpy", "-p", "NumPy<2"],
            "specs/m.toml: env.packages[1]: 'numpy' is listed twice (also at env.packages[0]);"
            " keep one entry",
            id="duplicate",
        ),
        pytest.param(
            ["-p", "numpy", "--python", "3.7"],
            "specs/m.toml: env.python[0]: unsupported Python version '3.7':"
            " modelenv needs 3.8 or newer",
            id="python",
        ),
    ],
)
def test_new_writes_nothing_when_invalid(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    before = listing(project / "specs")
    code, out, err = new(capsys, "m", *args)
    assert (code, out, err) == (1, "", f"modelenv: error: {line}\n{NEW_HINT}")
    assert listing(project / "specs") == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "!numpy"], "a new spec cannot remove packages; drop '!numpy'"),
        (
            ["-p", "numpy", "--engine", "vlm"],
            "unknown engine 'vlm' (did you mean 'vllm'?); engines defined in"
            " specs/_engines.toml: llama.cpp, transformers, vllm",
        ),
        (
            ["--engine", "Vllm"],
            "unknown engine 'Vllm' (did you mean 'vllm'?); engines defined in"
            " specs/_engines.toml: llama.cpp, transformers, vllm",
        ),
    ],
    ids=["removal", "unknown-engine", "engine-name"],
)
def test_new_usage_errors_write_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = listing(project / "specs")
    assert new(capsys, "m", *args) == (2, "", f"modelenv: error: {message}\n")
    assert listing(project / "specs") == before


def test_new_with_a_broken_engines_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "_engines.toml").write_text("[Vllm]\n")
    before = listing(project / "specs")
    code, out, err = new(capsys, "m", "-p", "numpy")
    assert (code, out) == (1, "")
    assert err == (
        "modelenv: error: specs/_engines.toml: Vllm: invalid engine name 'Vllm':"
        " use lowercase letters, digits, '.', '_' and '-' (for example 'vllm')\n" + HINT
    )
    assert listing(project / "specs") == before


def test_new_in_another_specs_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = new(capsys, "--specs", "more/specs", "m", "-p", "numpy")
    assert (code, out) == (0, "more/specs/m.toml\n")
    assert listing(project / "more" / "specs").keys() == {"m.toml"}
    # No _engines.toml there: no engine is known.
    code, _, err = new(capsys, "--specs", "more/specs", "e", "--engine", "vllm")
    assert (code, err) == (
        2,
        "modelenv: error: unknown engine 'vllm'; engines defined in"
        " more/specs/_engines.toml: none\n",
    )
    assert run_cli(capsys, "validate", "more/specs") == (0, "", "1 file valid\n")


def test_new_spec_is_readable_by_others(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(0o022)
    try:
        assert new(capsys, "m", "-p", "numpy")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((project / "specs" / "m.toml").stat().st_mode) == 0o644
