"""The pre-commit hooks, run by the real pre-commit tool.

A user's project names this repository in its ``.pre-commit-config.yaml``;
``pre-commit run`` (what ``git commit`` runs) installs modelenv from it into an
environment of its own (with pip, from the package index the machine's pip
configuration names) and runs the hooks on what is staged.

The hook repository is a one-commit snapshot of this working tree (tracked and
untracked files, less what .gitignore excludes) rather than the working tree
itself, so that a new, not yet added module is in what pre-commit installs.
The snapshot and pre-commit's home (its store of hook environments) are made
once per test run and shared by every test and every pytest-xdist worker, so
modelenv is installed once (pre-commit locks its store while it installs).
``pre-commit try-repo`` would install it afresh, into a temporary store, at
every call.

The hooks check the whole project on every commit: a deleted spec, an engine
removed from ``_engines.toml`` and a deleted lock are each caught.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, built_once, run_cli, shared_tmp

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")

pytestmark = [
    pytest.mark.slow,  # the first test installs modelenv with pip
    pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(not (REPO / ".git").exists(), reason="not a git checkout"),
]

IDENTITY = {
    "GIT_AUTHOR_NAME": "modelenv tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "modelenv tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}
HOOKS = ("modelenv-validate", "modelenv-lock-check")


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **IDENTITY},
    )
    return done.stdout


@pytest.fixture(scope="module")
def hook_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment pre-commit runs in: an isolated HOME, no pip, uv or modelenv
    variables, but this machine's pip configuration file, so that pip can reach
    its package index when pre-commit installs the hook."""
    home = tmp_path_factory.mktemp("pre-commit-user")
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "MODELENV_", "VIRTUAL_ENV", "CONDA_"))
    }
    return {
        **keep,
        **IDENTITY,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # Shared by the workers: modelenv is installed into it once.
        "PRE_COMMIT_HOME": str(shared_tmp(tmp_path_factory) / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
        "UV_PYTHON_DOWNLOADS": "never",
        "MODELENV_HOME": str(home / "modelenv-home"),
    }


def snapshot_working_tree(snapshot: Path) -> None:
    """This working tree, committed as is into a repository of its own."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # tracked but deleted in the working tree: skip
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file()
    git("init", "-q", ".", cwd=snapshot)
    git("add", "-A", cwd=snapshot)
    git("commit", "-q", "-m", "snapshot of the working tree", cwd=snapshot)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The snapshot of the working tree, made once per test run."""
    return built_once(tmp_path_factory, "hook-repo", snapshot_working_tree)


TINY_ENGINES = '[tiny]\npackages = ["gamma"]\n'
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture()
def user_repo(
    hook_repo: Path,
    tmp_path: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """A committed project that uses the hooks: two specs (one with an engine
    variant), an engines file, their up-to-date locks, a file that is no spec,
    and a pre-commit configuration naming the hook repository's commit."""
    repo = tmp_path / "user-repo"
    specs = repo / "specs"
    specs.mkdir(parents=True)
    (specs / "_engines.toml").write_text(TINY_ENGINES)
    (specs / "one.toml").write_text(
        f'[model]\nname = "one"\n\n[env]\npython = ["{PY}"]\npackages = ["beta"]\n\n'
        "[engines.tiny]\n"
    )
    (specs / "two.toml").write_text(
        f'[model]\nname = "two"\n\n[env]\npython = ["{PY}"]\npackages = ["alpha"]\n'
    )
    (repo / "notes.md").write_text("not a spec\n")
    rev = git("rev-parse", "HEAD", cwd=hook_repo).strip()
    hooks = "".join(f"      - id: {hook}\n" for hook in HOOKS)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n{hooks}"
    )
    monkeypatch.chdir(repo)
    code, _, err = run_cli(capsys, "lock", "--no-index", "--find-links", str(wheelhouse))
    assert code == 0, err
    assert sorted(str(p.relative_to(repo)) for p in repo.glob("locks/*/*/*.txt")) == [
        f"locks/one/default/py{PY}.txt",
        f"locks/one/tiny/py{PY}.txt",
        f"locks/two/default/py{PY}.txt",
    ]
    git("init", "-q", ".", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "project", cwd=repo)
    return repo


def commit_hooks(user_repo: Path, env: dict[str, str], hook: str | None = None) -> tuple[int, str]:
    """``pre-commit run`` (every hook of the configuration, or only ``hook``) on
    what is staged, as ``git commit`` runs it."""
    done = subprocess.run(
        [str(PRE_COMMIT), "run", *([hook] if hook else []), "--verbose"],
        cwd=user_repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    return done.returncode, output


def test_hooks_pass_a_good_project(user_repo: Path, hook_env: dict[str, str]) -> None:
    (user_repo / "notes.md").write_text("a change that touches no spec\n")
    git("add", "notes.md", cwd=user_repo)
    code, output = commit_hooks(user_repo, hook_env)
    assert code == 0, output
    assert output.count("Passed") == 2, output
    assert "Skipped" not in output
    assert "3 files valid" in output
    assert "3 locks up to date" in output


def test_a_bad_spec_fails_validate(user_repo: Path, hook_env: dict[str, str]) -> None:
    (user_repo / "specs" / "two.toml").write_text(
        '[model]\nname = "two"\n\n[env]\npython = ["3.7"]\npackages = ["alpha"]\n'
    )
    git("add", "-A", cwd=user_repo)
    code, output = commit_hooks(user_repo, hook_env, "modelenv-validate")
    assert code == 1, output
    assert "Failed" in output
    assert (
        "specs/two.toml: env.python[0]: unsupported Python version '3.7':"
        " modelenv needs 3.8 or newer\n"
    ) in output
    assert "1 of 3 files invalid (1 problem)" in output


def test_a_deleted_spec_fails_the_lock_check(user_repo: Path, hook_env: dict[str, str]) -> None:
    git("rm", "-q", "specs/two.toml", cwd=user_repo)
    code, output = commit_hooks(user_repo, hook_env)
    assert code == 1, output
    assert "Skipped" not in output
    assert (
        f"locks/two/default/py{PY}.txt: no spec variant produces it; run: modelenv lock --prune"
    ) in output


def test_an_engine_removed_from_engines_file_fails_validate(
    user_repo: Path, hook_env: dict[str, str]
) -> None:
    (user_repo / "specs" / "_engines.toml").write_text("")
    git("add", "-A", cwd=user_repo)
    code, output = commit_hooks(user_repo, hook_env, "modelenv-validate")
    assert code == 1, output
    assert "specs/one.toml: engines.tiny: unknown engine 'tiny'" in output


def test_a_deleted_lock_fails_the_lock_check(user_repo: Path, hook_env: dict[str, str]) -> None:
    git("rm", "-q", f"locks/one/tiny/py{PY}.txt", cwd=user_repo)
    code, output = commit_hooks(user_repo, hook_env)
    assert code == 1, output
    assert f"locks/one/tiny/py{PY}.txt: missing; run: modelenv lock one" in output
