"""Environments you can trust: the closure is checked before a build goes live,
local locks do not inherit pins, and drift is found by doctor and repaired.

Issue #12, failures 2 (a lock missing a dependency), 3 (pins of an earlier
request stuck) and 4 (drift went unnoticed and doctor did not say how to fix).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from compiler.lockfile import body_of
from compiler.store import read_record

from .conftest import run_cli, write_spec
from .test_materialise import XY, XYZ, idx, in_env, lock_file, make_base
from .test_verify import rewrite_body
from .wheels import make_wheel


def drop_alpha(lock: Path) -> None:
    """Take alpha (which beta requires) out of the lock's body, checksum and
    all: a lock still naming every requirement of the spec, yet incomplete."""
    body = re.sub(r"^alpha==.*?(?=^\S)", "", body_of(lock.read_text()), flags=re.M | re.S)
    rewrite_body(lock, body)


def installed(env: Path, name: str) -> str:
    proc = in_env(env, f"from importlib.metadata import version; print(version({name!r}))")
    return proc.stdout.strip() if proc.returncode == 0 else "absent"


@pytest.fixture()
def built(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    return Path(out.splitlines()[-1])


def test_a_lock_missing_a_dependency_is_refused_and_the_old_environment_stays(
    project: Path, wheelhouse: Path, built: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    record = read_record(built)
    lock = lock_file(project)
    # beta requires alpha: a lock without alpha still names every requirement
    # of the spec, so only the build can see that it is incomplete.
    drop_alpha(lock)
    assert run_cli(capfd, "lock", "--check")[0] == 0
    code, _out, err = run_cli(capfd, "create", "m", "--force", *idx(wheelhouse))
    assert code == 1
    assert (
        "m [default, py" in err and "the lock does not give every package what it requires" in err
    )
    assert "The package `beta` requires `alpha>=1.0`, but it's not installed" in err
    assert "the previous environment, if any, is untouched" in err
    assert read_record(built) == record
    assert (installed(built, "alpha"), installed(built, "beta")) == ("1.0.0", "2.0.0")
    assert [p.name for p in built.parent.iterdir() if ".build-" in p.name] == []


def test_a_missing_dependency_counts_what_the_host_provides(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse), "--base-python", str(base))
    assert code == 0, err  # alpha is reused from the host: uv pip check alone would object
    assert "1 installed, 1 reused from the host" in err


def test_the_host_lends_nothing_without_system_site_packages(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # What the host lends is judged from the base interpreter's probe (no second
    # probe of the new environment): without system site-packages it lends nothing.
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    lock = lock_file(project)
    drop_alpha(lock)
    args = ("create", "m", *idx(wheelhouse), "--base-python", str(base))
    code, _out, err = run_cli(capfd, *args)
    assert code == 0, err  # with system site-packages, the host's alpha serves beta
    assert "1 installed, 0 reused from the host" in err
    write_spec(
        project,
        "m",
        f'[env]\npython = ["{XY}"]\npackages = ["beta"]\nsystem_site_packages = false\n',
    )
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    drop_alpha(lock)
    code, _out, err = run_cli(capfd, *args)
    assert code == 1
    assert "The package `beta` requires `alpha>=1.0`, but it's not installed" in err


def test_pins_of_an_earlier_request_do_not_stick(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    make_wheel(wheelhouse, "alpha", "1.1.0")
    # The host has gamma, the committed lock does not: every build is local.
    base = make_base(tmp_path / "base", wheelhouse, "gamma==0.5.0")
    write_spec(
        project, "m", f'[env]\npython = ["{XY}"]\npackages = ["alpha>=1", "#system_gamma#"]\n'
    )
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    assert "alpha==1.1.0" in lock_file(project).read_text()
    args = ("create", "m", *idx(wheelhouse), "--base-python", str(base))
    code, out, err = run_cli(capfd, *args, "-p", "alpha==1.0.0")
    assert code == 0, err
    env = Path(out.splitlines()[-1])
    assert installed(env, "alpha") == "1.0.0"
    code, out, err = run_cli(capfd, *args)
    assert code == 0, err
    assert "host versions differ from the committed lock" in err
    assert Path(out.splitlines()[-1]) == env
    assert installed(env, "alpha") == "1.1.0"  # the committed pin, not the earlier -p


def test_drift_is_reported_with_its_fix_and_repaired(
    project: Path, wheelhouse: Path, built: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    python = str(built / "bin" / "python")
    newer = tmp_path / "newer"
    make_wheel(newer, "alpha", "1.1.0")
    from .test_manage import uv_pip

    uv_pip("install", "--python", python, "--no-index", "--find-links", str(newer), "alpha==1.1.0")
    uv_pip("uninstall", "--python", python, "beta")
    # The launch path stays stat-only: it does not look at dist-infos.
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert (code, err.splitlines()[0]) == (0, f"up to date: m [default, py{XY}]")
    code, out, _err = run_cli(capfd, "list")
    assert " ok " in out
    code, out, _err = run_cli(capfd, "list", "--verify")
    assert " drifted " in out
    code, out, err = run_cli(capfd, "doctor")
    assert code == 1
    assert out.splitlines() == [
        f"problem m [default, py{XYZ}]: {built}",
        "    alpha: locked at 1.0.0, found 1.1.0 in the environment",
        "    beta: locked at 2.0.0, not installed",
        "    fix: modelenv doctor --fix m",
    ]

    record = read_record(built)
    assert record is not None
    code, out, err = run_cli(capfd, "doctor", "--fix", "m", *idx(wheelhouse))
    assert code == 0, out + err
    assert out.splitlines()[-1] == (
        f"repaired m [default, py{XYZ}]: rebuilt from its lock copy, 2 installed"
    )
    assert err.strip() == "0 healthy, 1 repaired, 0 with problems"
    assert (installed(built, "alpha"), installed(built, "beta")) == ("1.0.0", "2.0.0")
    after = read_record(built)
    assert after is not None
    assert (after["key"], after["lock_sha256"]) == (record["key"], record["lock_sha256"])
    assert [p.name for p in built.parent.iterdir() if p.name.startswith(".")] == [f".{XYZ}.lock"]
    assert run_cli(capfd, "doctor")[0] == 0
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert err.splitlines()[0] == f"up to date: m [default, py{XY}]"


def test_doctor_fix_refuses_what_a_repair_cannot_mend(
    project: Path, wheelhouse: Path, built: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from .test_manage import uv_pip

    uv_pip("uninstall", "--python", str(built / "bin" / "python"), "beta")
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta", "gamma"]\n')
    code, out, _err = run_cli(capfd, "doctor", "--fix", *idx(wheelhouse))
    assert code == 1
    assert out.splitlines()[-1] == (
        f"    not repaired: m [default, py{XY}]: its spec or base interpreter changed since it"
        " was built; it needs a new build, not a repair (modelenv create m --engine default"
        f" --python {XY} --force)"
    )
    assert installed(built, "beta") == "absent"  # untouched: create rebuilds it


def test_a_repair_keeps_the_committed_locks_stat_from_the_build(
    project: Path, wheelhouse: Path, built: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A repair builds from the lock copy, not the committed lock: a relock
    since the build (here: the same bytes, rewritten) must still show as a
    change after the repair, as it would have before it."""
    import os

    from .test_manage import uv_pip

    record = read_record(built)
    assert record is not None and record["lock_file"] is not None
    lock = lock_file(project)
    lock.write_bytes(lock.read_bytes())
    os.utime(lock, ns=(1, 1))
    uv_pip("uninstall", "--python", str(built / "bin" / "python"), "beta")
    code, out, err = run_cli(capfd, "doctor", "--fix", "m", *idx(wheelhouse))
    assert code == 0, out + err
    assert installed(built, "beta") == "2.0.0"
    after = read_record(built)
    assert after is not None and after["lock_file"] == record["lock_file"]


def test_a_lock_rewritten_after_its_check_is_never_built(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text built from is the text checked: a lock rewritten between the
    check and the read (here: its alpha entry dropped) is refused."""
    import compiler.lockchoice
    import compiler.verify

    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    lock = lock_file(project)
    real = compiler.verify.examine

    def examine_then_rewrite(*args: object, **kw: object) -> object:
        check = real(*args, **kw)  # type: ignore[arg-type]
        drop_alpha(lock)
        return check

    monkeypatch.setattr(compiler.verify, "examine", examine_then_rewrite)
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 1
    assert "changed while it was being read" in err
    assert not list(
        (Path(os.environ["MODELENV_HOME"]) / "virtualenv").rglob("modelenv-record.json")
    )


def _uv_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    import compiler.uv

    calls: list[tuple[str, ...]] = []
    real = compiler.uv.run

    def run(args: list[str], **kw: Any) -> compiler.uv.UvResult:
        calls.append(tuple(args))
        return real(args, **kw)

    monkeypatch.setattr(compiler.uv, "run", run)
    return calls


def test_the_install_checks_the_closure_itself(
    project: Path,
    wheelhouse: Path,
    built: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uv pip install --strict checks what it installed as uv pip check does:
    a build runs no second uv to ask, yet still refuses an incomplete lock."""
    calls = _uv_calls(monkeypatch)
    lock = lock_file(project)
    drop_alpha(lock)
    code, _out, err = run_cli(capfd, "create", "m", "--force", *idx(wheelhouse))
    assert code == 1
    assert "The package `beta` requires `alpha>=1.0`, but it's not installed" in err
    assert "warning:" not in err and "Resolved" not in err
    installs = [c for c in calls if c[:2] == ("pip", "install")]
    assert len(installs) == 1 and "--strict" in installs[0]
    assert not [c for c in calls if c[:2] == ("pip", "check")]


def test_a_live_install_is_checked_by_uv_pip_check(
    project: Path,
    wheelhouse: Path,
    built: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal uv's messages (its --strict warnings too) go to the screen,
    unread: the closure is then asked of uv pip check, and still refused. (An
    install first tries what uv has without the index, captured: only with
    --offline, or when that fails, is it live.)"""
    from compiler.ui import UI

    monkeypatch.setattr(UI, "is_tty", property(lambda _self: True))
    calls = _uv_calls(monkeypatch)
    lock = lock_file(project)
    drop_alpha(lock)
    code, _out, err = run_cli(capfd, "create", "m", "--force", "--offline", *idx(wheelhouse))
    assert code == 1
    assert "the lock does not give every package what it requires" in err
    assert [c for c in calls if c[:2] == ("pip", "check")]
    assert read_record(built) is not None  # the old environment stays
