"""Helpers shared by the reliability suite: where things are, real modelenv
processes that can be killed, and the invariants every test checks.

Every test here is hermetic: tiny wheels built on the fly (tests/wheels.py),
``--no-index --find-links`` or a local HTTP index on 127.0.0.1, the Python
running the tests, and the isolation of tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from compiler.store import LOCK_NAME, read_record

from ..conftest import run_cli

XY = f"{sys.version_info[0]}.{sys.version_info[1]}"
XYZ = "{}.{}.{}".format(*sys.version_info[:3])

# The exit statuses a user may see: 0 done, 1 failed (the message says why),
# 2 usage. 3 is modelenv's "internal error" (a bug), anything else is wrong.
CLEAN_EXITS = (0, 1, 2)


# ---------------------------------------------------------------- places


def home() -> Path:
    return Path(os.environ["MODELENV_HOME"])


def env_root(model: str = "m", engine: str = "default") -> Path:
    return home() / "virtualenv" / "v4" / model / engine


def env_dir(model: str = "m", engine: str = "default") -> Path:
    return env_root(model, engine) / XYZ


def lock_file(project: Path, model: str = "m", engine: str = "default") -> Path:
    return project / "locks" / model / engine / f"py{XY}.txt"


def idx(wheelhouse: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(wheelhouse))


def leftovers(model: str = "m", engine: str = "default") -> list[str]:
    """What killed builds (or removals) left beside the final directory."""
    root = env_root(model, engine)
    if not root.is_dir():
        return []
    return sorted(n for n in os.listdir(root) if n.startswith((f".{XYZ}.build-", f".{XYZ}.old-")))


_TMP_SIBLING = re.compile(r"^\..+\.tmp$")


def tmp_siblings(folder: Path) -> list[str]:
    """Temporary files of an atomic write (``.py3.11.txt.ab12cd.tmp``) under ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if _TMP_SIBLING.match(p.name)
    )


# ---------------------------------------------------------------- processes


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ.copy()
    env.update(extra or {})
    return env


def spawn(
    project: Path, *argv: str, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``modelenv ARGV`` as a real process, in a process group of its own (so that
    its uv children can be killed with it, or left to run on as orphans)."""
    return subprocess.Popen(
        [sys.executable, "-m", "compiler", *argv],
        cwd=project,
        env=child_env(extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def modelenv(
    project: Path,
    *argv: str,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler", *argv],
        cwd=project,
        env=child_env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a member we may not signal
        return True
    return True


def sigkill(proc: subprocess.Popen[str], *, group: bool, drain: float = 60) -> bool:
    """SIGKILL ``proc`` (with its whole group, or alone); True when it was still
    running. Alone, its orphaned uv children run on: wait until they are gone
    too, so that the next step starts from a quiet store."""
    alive = proc.poll() is None
    try:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=60)
    deadline = time.monotonic() + drain
    while group_alive(proc.pid):
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.02)
    return alive


# ---------------------------------------------------------------- invariants


def assert_clean(code: int, err: str, *, allowed: Sequence[int] = CLEAN_EXITS) -> None:
    """A command ended as a user-facing command should: no traceback, no bug report."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    assert code in allowed, (code, err)
    if code not in (0, 130):
        # A failure says so in modelenv's words (argparse usage errors included).
        assert "modelenv: error:" in err or code == 1, (code, err)


def list_entries(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, err = run_cli(capfd, "list", "--json")
    assert_clean(code, err, allowed=(0,))
    entries: list[dict[str, Any]] = json.loads(out)["environments"]
    return entries


def assert_no_broken_final_environment(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """``list`` shows nothing broken at a final path (leftovers of killed builds are
    'partial', beside it), and every final directory has a record and a Python."""
    entries = list_entries(capfd)
    for e in entries:
        path = Path(e["path"])
        if path.name.startswith("."):
            assert e["status"] == "partial", e
            continue
        assert e["status"] in ("ok", "stale"), e
        assert read_record(path) is not None, f"{path}: no valid record"
        assert (path / "bin" / "python").exists(), f"{path}: no interpreter"
    return entries


def in_env(env: Path, code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def locked_versions(env: Path) -> dict[str, str]:
    """name -> version for every package in the environment's own lock copy."""
    text = (env / LOCK_NAME).read_text(encoding="utf-8")
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", text, re.MULTILINE))


def assert_environment_works(env: Path, expected: Mapping[str, str] | None = None) -> None:
    """Every package of the environment's lock imports at its locked version."""
    versions = dict(expected) if expected is not None else locked_versions(env)
    assert versions, f"{env}: its lock copy names no package"
    checks = "; ".join(
        f"import {name.replace('-', '_')} as m{i}; "
        f"assert m{i}.__version__ == {version!r}, ({name!r}, m{i}.__version__)"
        for i, (name, version) in enumerate(sorted(versions.items()))
    )
    proc = in_env(env, checks + "; print('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (env, proc.stderr)


def created_path(out: str) -> Path:
    return Path(out.strip().splitlines()[-1])
