"""The ``modelenv-validate`` pre-commit hook, run by the real pre-commit tool.

``pre-commit try-repo`` installs modelenv from a git repository into an
environment of its own (with pip, from the package index the machine's pip
configuration names) and runs the hook on the files given.

The hook repository is a one-commit snapshot of this working tree (tracked and
untracked files, less what .gitignore excludes) rather than the working tree
itself: ``try-repo`` on a dirty tree commits only the changes to tracked files,
so a new, not yet added module would be missing from what it installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ENGINES, REPO

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")

pytestmark = [
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


@pytest.fixture()
def hook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment pre-commit runs in: the test's isolated HOME, but this
    machine's pip configuration, so that pip can reach its package index."""
    monkeypatch.delenv("PIP_CONFIG_FILE", raising=False)
    return {
        **os.environ,
        **IDENTITY,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
    }


@pytest.fixture()
def hook_repo(tmp_path: Path) -> Path:
    """This working tree, committed as is into a repository of its own."""
    snapshot = tmp_path / "hook-repo"
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
    return snapshot


@pytest.fixture()
def user_repo(tmp_path: Path) -> Path:
    """A project that uses the hook: specs/ with an engines file, a good and a bad spec."""
    repo = tmp_path / "user-repo"
    specs = repo / "specs"
    specs.mkdir(parents=True)
    (specs / "_engines.toml").write_text(ENGINES)
    (specs / "good.toml").write_text(
        '[model]\nname = "good"\n\n[env]\npackages = ["numpy"]\n\n[engines."llama.cpp"]\n'
    )
    (specs / "bad.toml").write_text(
        '[model]\nname = "bad"\n\n[env]\npython = ["3.7"]\npackages = ["numpy"]\n'
    )
    (repo / "notes.md").write_text("not a spec\n")
    git("init", "-q", ".", cwd=repo)
    git("add", "-A", cwd=repo)
    return repo


def try_repo(
    hook_repo: Path, user_repo: Path, env: dict[str, str], *files: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(hook_repo), "modelenv-validate", "--files", *files],
        cwd=user_repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_hook_fails_on_a_bad_spec(
    hook_repo: Path, user_repo: Path, hook_env: dict[str, str]
) -> None:
    done = try_repo(
        hook_repo, user_repo, hook_env, "specs/bad.toml", "specs/good.toml", "specs/_engines.toml"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "modelenv validate" in output
    assert "Failed" in output
    assert (
        "specs/bad.toml: env.python[0]: unsupported Python version '3.7':"
        " modelenv needs 3.8 or newer\n"
    ) in output
    assert "1 of 3 files invalid (1 problem)" in output
    assert "specs/good.toml" not in output
    assert "Traceback" not in output


def test_hook_passes_a_good_spec(
    hook_repo: Path, user_repo: Path, hook_env: dict[str, str]
) -> None:
    done = try_repo(
        hook_repo, user_repo, hook_env, "specs/good.toml", "specs/_engines.toml", "notes.md"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Passed" in output
    assert "specs/bad.toml" not in output
