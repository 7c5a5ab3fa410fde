"""Command-line conventions: examples in every help, MODEL help, plurals,
warnings, remove --dry-run, shell completion, and one table of variables."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cli import COMMANDS

from .conftest import REPO, run_cli, write_spec
from .test_materialise import SPEC, idx

BIN = str(Path(sys.executable).parent)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_help_has_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert re.search(r"^examples?:\n  modelenv ", out, re.MULTILINE), out
    for line in out.splitlines():
        if line.strip().startswith("MODEL "):
            assert len(line.split()) > 1, f"MODEL has no help text: {line!r}"


def test_plurals(project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "m", SPEC)
    assert run_cli(capsys, "lock", *idx(wheelhouse))[0] == 0
    assert run_cli(capsys, "lock", "--check")[2] == "1 lock up to date\n"
    assert run_cli(capsys, "validate")[2] == "2 files valid\n"
    assert run_cli(capsys, "create", "m", *idx(wheelhouse))[0] == 0
    err = run_cli(capsys, "list")[2]
    assert re.fullmatch(r"1 environment, [0-9.]+ \S+\n", err), err


def test_warnings_start_the_same_way(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spec(project, "m", '[env]\npackages = ["beta"]\n')
    code, _, err = run_cli(capsys, "show", "m", "-p", "!nothing")
    assert code == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings and all(line.startswith("modelenv: warning: ") for line in warnings)
    source = "\n".join(p.read_text() for p in (REPO / "compiler").rglob("*.py"))
    assert not re.search(r"""f?["']warning: """, source), "a warning without the common prefix"


def test_remove_dry_run_removes_nothing(
    project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", SPEC)
    assert run_cli(capsys, "lock", *idx(wheelhouse))[0] == 0
    code, out, _ = run_cli(capsys, "create", "m", *idx(wheelhouse))
    env = Path(out.strip().splitlines()[-1])
    code, out, err = run_cli(capsys, "remove", "m", "--dry-run")
    assert code == 0, err
    assert re.fullmatch(rf"would remove {re.escape(str(env))} \([0-9.]+ \S+\)\n", out), out
    assert err.startswith("would remove 1, would free ")
    assert env.is_dir()
    code, out, err = run_cli(capsys, "remove", "m")
    assert code == 0, err
    assert not env.exists()


@pytest.fixture()
def completion_project(project: Path) -> Path:
    (project / "specs" / "_engines.toml").write_text('[vllm]\npackages = ["x"]\n')
    write_spec(project, "got-ocr2", '[env]\npackages = ["a"]\n\n[engines.llama]\n')
    write_spec(project, "bge-m3", '[env]\npackages = ["a"]\n')
    (project / "docs").mkdir()
    return project


def bash_complete(project: Path, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last one being completed)."""
    script = subprocess.run(
        [sys.executable, "-m", "compiler", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    quoted = " ".join(f"'{w}'" for w in words)
    probe = (
        f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _modelenv;"
        ' printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        cwd=project / "docs",
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return sorted(filter(None, done.stdout.splitlines()))


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion(completion_project: Path) -> None:
    if not (Path(BIN) / "modelenv").exists():
        pytest.skip("the modelenv command is not installed beside this interpreter")
    p = completion_project
    assert "show" in bash_complete(p, "modelenv", "")
    assert bash_complete(p, "modelenv", "sh") == ["show"]
    assert bash_complete(p, "modelenv", "show", "") == ["bge-m3", "got-ocr2"]
    assert bash_complete(p, "modelenv", "create", "g") == ["got-ocr2"]
    assert bash_complete(p, "modelenv", "run", "got-ocr2", "--engine", "") == [
        "default",
        "llama",
        "vllm",
    ]
    assert bash_complete(p, "modelenv", "lock", "--ch") == ["--check"]
    assert bash_complete(p, "modelenv", "remove", "--dr") == ["--dry-run"]
    assert bash_complete(p, "modelenv", "--specs", "specs", "doctor", "b") == ["bge-m3"]
    assert bash_complete(p, "modelenv", "completion", "") == ["bash", "fish", "zsh"]


def test_zsh_and_fish_scripts(completion_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, zsh, _ = run_cli(capsys, "completion", "zsh")
    assert code == 0
    assert zsh.startswith("#compdef modelenv\n")
    assert "bashcompinit" in zsh and "complete -o default -F _modelenv modelenv" in zsh
    code, fish, _ = run_cli(capsys, "completion", "fish")
    assert code == 0
    assert "complete -c modelenv -n __fish_use_subcommand -a lock -d " in fish
    assert "(modelenv completion --names models 2>/dev/null)" in fish
    assert "complete -c modelenv -n '__fish_seen_subcommand_from lock' -l check" in fish
    assert run_cli(capsys, "completion", "--names", "models")[1] == "bge-m3\ngot-ocr2\n"
    assert run_cli(capsys, "completion", "--names", "engines")[1] == "default\nllama\nvllm\n"
    assert run_cli(capsys, "completion")[0] == 2


def test_every_variable_is_in_the_readme_table() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- modelenv-variables -->", 1)[1].split("<!-- /modelenv-variables", 1)[
        0
    ]
    source = "\n".join(p.read_text() for p in (REPO / "compiler").rglob("*.py"))
    used = set(re.findall(r"MODELENV_[A-Z_]+[A-Z]", source))
    documented = set(re.findall(r"`(MODELENV_[A-Z_]+)`", table))
    assert used - documented == set()
    assert documented - used == set()


def test_doctor_json_is_a_document(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run_cli(capsys, "doctor", "--json")
    assert code == 0 and json.loads(out)["environments"] == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_never_runs_what_a_spec_names(completion_project: Path) -> None:
    """bash's compgen -W expands its word list: an engine key or a spec file
    name such as "$(cmd)" in a cloned project must not run at a Tab."""
    if not (Path(BIN) / "modelenv").exists():
        pytest.skip("the modelenv command is not installed beside this interpreter")
    p = completion_project
    marker = p / "docs" / "PWNED"
    write_spec(p, "evil", '[env]\npackages = ["a"]\n\n[engines."$(touch PWNED)"]\n')
    (p / "specs" / "$(touch PWNED).toml").write_text('[env]\npackages = ["a"]\n')
    assert bash_complete(p, "modelenv", "run", "got-ocr2", "--engine", "") == [
        "default",
        "llama",
        "vllm",
    ]
    assert bash_complete(p, "modelenv", "create", "") == ["bge-m3", "evil", "got-ocr2"]
    assert not marker.exists()
