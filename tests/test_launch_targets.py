"""Launch: which lock. A target's committed lock is used, with no resolution,
on a host that matches it; one line says which target matched, or which came
closest and how it differs; the host's packages are reused, never copied."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import compiler
import compiler.lockchoice
import compiler.locking
from compiler.plan import Plan

from .basevenv import shared_torch_hosts
from .conftest import run_cli, run_modelenv, write_spec
from .test_delta import own_dist_infos
from .test_materialise import created_path, env_dir, in_env, record
from .wheels import make_wheel

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
[env]
python = ["{PY}"]
packages = ["#system_torch#", "beta", "gpu-extra ; has_cuda", "cpu-extra ; not has_cuda"]
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> dict[str, Path]:
    """The CPU and CUDA torch images of basevenv.torch_hosts."""
    return shared_torch_hosts(tmp_path_factory, uv_cache)


def cli(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code, out, err = run_cli(capfd, *argv)
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


@pytest.fixture()
def locked(
    project: Path, hosts: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> dict[str, Path]:
    """Targets cpu and gpu captured from their images, model m locked for both."""
    for name in ("cpu", "gpu"):
        code, _, err = cli(capfd, "target", "capture", name, "--python", str(hosts[name]))
        assert code == 0, err
    write_spec(project, "m", SPEC)
    code, _, err = cli(capfd, "lock", "--no-index", "--find-links", str(hosts["wheels"]))
    assert code == 0, err
    assert (project / "locks/m/default/cpu.txt").is_file()
    return hosts


def no_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(plan: Plan, *args: object, **kw: object) -> None:
        raise AssertionError(f"a lock was resolved for {plan.spec.name}")

    monkeypatch.setattr(compiler.locking, "compile_lock", refuse)


def create(
    capfd: pytest.CaptureFixture[str], hosts: dict[str, Path], base: str, *extra: str
) -> tuple[int, str, str]:
    # The index is unreachable: whatever is installed must come from find-links
    # (tests that do not check that set UV_OFFLINE, so that uv does not try).
    index = ("--index-url", "http://127.0.0.1:9/simple", "--find-links", str(hosts["wheels"]))
    return cli(capfd, "create", "m", "--base-python", str(hosts[base]), *index, *extra)


def test_a_matching_host_uses_its_target_lock_without_resolving(
    locked: dict[str, Path], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_resolution(monkeypatch)
    code, out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    assert "this host matches target cpu\n" in err
    # Every file is pinned by its hash: the wheels in find-links do, and the
    # (unreachable) index is never asked.
    assert "unreachable" not in err
    assert "created m [default, py" in err and "from target cpu's lock" in err
    env = created_path(out)
    rec = record(env)
    assert rec["target"] == "cpu"
    assert rec["lock_source"] == "committed"
    # The host's torch and alpha are reused, never copied; the counts are the
    # dist-infos really in the environment; gpu-extra was never in cpu's lock.
    assert rec["reused"] == ["alpha==1.0.0", "torch==2.0.0+cpu"]
    assert rec["installed"] == ["beta==2.0.0", "cpu-extra==1.0.0"]
    assert own_dist_infos(env) == rec["installed"]
    assert "2 installed, 2 reused from the host" in err
    proc = in_env(env, "import torch; print(torch.__version__, torch.__file__)")
    version, where = proc.stdout.split()
    assert version == "2.0.0+cpu"
    assert where.startswith(str(locked["cpu"].parent.parent))
    # Up to date: no target is matched again.
    code, out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    assert "up to date" in err and "target" not in err
    code, out, _err = cli(capfd, "list", "--json")
    assert code == 0
    assert [e["target"] for e in json.loads(out)["environments"]] == ["cpu"]


def test_a_host_with_cuda_matches_the_cuda_target(
    locked: dict[str, Path],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    no_resolution(monkeypatch)
    code, out, err = create(capfd, locked, "gpu")
    assert code == 0, err
    assert "this host matches target gpu\n" in err
    rec = record(created_path(out))
    assert rec["target"] == "gpu"
    assert rec["installed"] == ["beta==2.0.0", "gpu-extra==1.0.0"]


def test_no_matching_target_says_which_came_closest_then_resolves_locally(
    locked: dict[str, Path],
    project: Path,
    tmp_path: Path,
    uv_cache: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    (project / "specs/_targets/cpu.toml").unlink()
    code, out, err = create(capfd, locked, "cpu", "--no-index")
    assert code == 0, err
    lines = err.splitlines()
    assert (
        "no target matches this host; the closest, gpu, differs: cuda_version none here,"
        " 12.8 in the target; has_cuda false here, true in the target;"
        " torch 2.0.0+cpu here, 2.0.0+cu128 in the target"
    ) in lines
    assert "resolving a local lock for this host (this needs the package index)" in lines
    rec = record(created_path(out))
    assert rec["target"] is None
    assert rec["lock_source"] == "local"
    # Fact markers were evaluated for this host (no CUDA) in the local lock.
    assert rec["installed"] == ["beta==2.0.0", "cpu-extra==1.0.0"]
    assert rec["reused"] == ["alpha==1.0.0", "torch==2.0.0+cpu"]


def test_a_named_target_is_used_as_asked_and_differences_are_said(
    locked: dict[str, Path],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    no_resolution(monkeypatch)
    monkeypatch.setenv("MODELENV_TARGET", "gpu")
    code, out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    assert "warning: this host differs from target gpu: cuda_version none here" in err
    rec = record(created_path(out))
    assert rec["target"] == "gpu"
    # The host's CPU torch does not satisfy torch==2.0.0+cu128: installed.
    assert "torch==2.0.0+cu128" in rec["installed"]
    # --target wins over the variable; a change of target rebuilds.
    code, out, err = create(capfd, locked, "cpu", "--target", "cpu")
    assert code == 0, err
    assert "rebuilt" in err and "from target cpu's lock" in err


def test_an_unknown_target_is_a_usage_error(
    locked: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = create(capfd, locked, "cpu", "--target", "cpuu")
    assert code == 2
    assert out == ""
    assert "unknown target 'cpuu' (did you mean 'cpu'?); targets: cpu, gpu" in err


def test_ensure_env_takes_a_target(
    locked: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_resolution(monkeypatch)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(locked["wheels"]))
    env = compiler.ensure_env("m", base_python=locked["cpu"], target="cpu")
    assert env is not None
    assert env.record["target"] == "cpu"


def test_a_local_lock_evaluates_fact_markers_for_the_live_host(
    locked: dict[str, Path], project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (project / "specs/_targets/gpu.toml").unlink()
    code, out, err = create(capfd, locked, "gpu", "--no-index")
    assert code == 0, err
    assert "no target matches this host; the closest, cpu, differs:" in err
    rec = record(created_path(out))
    assert rec["lock_source"] == "local"
    # This host has CUDA (its torch says 12.8): 'gpu-extra ; has_cuda' applies.
    assert rec["installed"] == ["beta==2.0.0", "gpu-extra==1.0.0"]


def test_a_recaptured_target_makes_its_lock_stale_at_launch_too(
    locked: dict[str, Path], project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    target = project / "specs/_targets/cpu.toml"
    text = target.read_text()
    assert 'alpha = "1.0.0"' in text
    target.write_text(text.replace('alpha = "1.0.0"', 'alpha = "1.0.1"'))
    code, out, err = create(capfd, locked, "cpu", "--no-index")
    assert code == 0, err
    # Only #system_NAME# packages decide the match: alpha does not.
    assert "this host matches target cpu\n" in err
    assert (
        "the committed lock does not apply: the lock for target cpu locks/m/default/cpu.txt"
        " is stale (target cpu was captured again since)\n"
    ) in err
    rec = record(created_path(out))
    assert rec["lock_source"] == "local" and rec["target"] is None


def test_when_the_matched_targets_lock_does_not_apply_another_matching_target_is_used(
    locked: dict[str, Path],
    project: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two targets captured from the same image both match it: when the first
    one's lock is missing (or stale, or edited), the other's is used before
    any local resolution."""
    code, _, err = cli(capfd, "target", "capture", "cpu2", "--python", str(locked["cpu"]))
    assert code == 0, err
    code, _, err = cli(capfd, "lock", "--no-index", "--find-links", str(locked["wheels"]))
    assert code == 0, err
    (project / "locks/m/default/cpu.txt").unlink()
    no_resolution(monkeypatch)
    code, out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    assert "this host matches target cpu (and cpu2)\n" in err
    assert "the lock for target cpu locks/m/default/cpu.txt is missing" in err
    assert "using target cpu2, which this host also matches" in err
    rec = record(created_path(out))
    assert (rec["target"], rec["lock_source"]) == ("cpu2", "committed")


def test_run_takes_a_target(
    locked: dict[str, Path], project: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    proc = run_modelenv(
        "run",
        "m",
        "--base-python",
        str(locked["cpu"]),
        "--no-index",
        "--find-links",
        str(locked["wheels"]),
        "--target",
        "cpu",
        "--",
        "python",
        "-c",
        "import torch, beta; print(torch.__version__, beta.__version__)",
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2.0.0+cpu", "2.0.0"]
    assert record(env_dir())["target"] == "cpu"


def test_a_relocked_target_lock_is_seen_at_the_next_launch(
    locked: dict[str, Path],
    project: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    no_network: None,
) -> None:
    code, _out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    # Which target matches is known only on the slow path, so the target's lock
    # is not part of the request: the record keeps its identity instead.
    newer = tmp_path / "newer"
    make_wheel(newer, "beta", "2.0.1", requires=["alpha>=1.0"])
    wheels = ("--no-index", "--find-links", str(locked["wheels"]), "--find-links", str(newer))
    code, _out, err = cli(
        capfd, "lock", "m", "--target", "cpu", "--upgrade-package", "beta", *wheels
    )
    assert code == 0, err
    assert "beta==2.0.1" in (project / "locks/m/default/cpu.txt").read_text()
    code, out, err = create(capfd, locked, "cpu", "--find-links", str(newer))
    assert code == 0, err
    assert "rebuilt" in err
    assert "beta==2.0.1" in record(created_path(out))["installed"]


def test_a_target_lock_checked_out_again_with_the_same_bytes_costs_one_check(
    locked: dict[str, Path],
    project: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    """The target's lock rewritten with its own bytes (a git checkout): the
    next launch checks its bytes, keeps the environment and notes the new
    identity; the one after is the launch path's again."""
    from compiler import launch

    code, out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    env = created_path(out)
    argv = ["create", "m", "--base-python", str(locked["cpu"])]
    args = launch.parse_fast(argv)
    assert args is not None and launch._fast(args) is not None
    lock = project / "locks/m/default/cpu.txt"
    data = lock.read_bytes()
    lock.unlink()
    lock.write_bytes(data)
    assert launch._fast(args) is None
    no_resolution(monkeypatch)
    code, out, err = create(capfd, locked, "cpu")
    assert code == 0, err
    assert err.startswith("up to date") and "target" not in err  # nothing matched again
    assert created_path(out) == env
    assert record(env)["lock_file"][1] == [lock.stat().st_ino, len(data), lock.stat().st_mtime_ns]
    assert launch._fast(args) is not None


def test_list_says_an_environment_built_from_a_target_lock_is_ok_until_its_target_changes(
    locked: dict[str, Path], project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # list compared the record's fingerprint with the universal plan's, so
    # every environment built from a target's lock was listed as stale.
    code, _out, err = create(capfd, locked, "cpu", "--no-index")
    assert code == 0, err

    def statuses() -> list[tuple[str | None, str]]:
        code, out, _err = cli(capfd, "list", "--json")
        assert code == 0
        return [(e["target"], e["status"]) for e in json.loads(out)["environments"]]

    assert statuses() == [("cpu", "ok")]
    target = project / "specs/_targets/cpu.toml"
    target.write_text(target.read_text().replace('alpha = "1.0.0"', 'alpha = "1.0.1"'))
    assert statuses() == [("cpu", "stale")]  # recaptured: create builds it again
    target.unlink()
    assert statuses() == [("cpu", "stale")]  # the target is gone


@pytest.mark.parametrize("how", ["matched", "named"])
def test_an_up_to_date_target_environment_imports_neither_pydantic_nor_jinja2(
    locked: dict[str, Path], project: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # The fast path never matches targets again, nor reads target files.
    target = ", target='cpu'" if how == "named" else ""
    code = (
        "import sys, compiler\n"
        f"env = compiler.ensure_env('m', base_python={str(locked['cpu'])!r}{target})\n"
        "print(env.record['target'], env.record['lock_source'])\n"
        "print(sorted(m for m in ('pydantic', 'jinja2', 'compiler.spec.targets',"
        " 'compiler.targeting') if m in sys.modules))\n"
    )
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(locked["wheels"]))

    def ensure() -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=project, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        lines: list[str] = proc.stdout.splitlines()
        return lines

    assert ensure()[0] == "cpu committed"  # built: the slow path
    assert ensure() == ["cpu committed", "[]"]


def test_modelenv_target_is_for_the_host_so_a_model_not_locked_for_it_still_launches(
    locked: dict[str, Path],
    project: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # MODELENV_TARGET is set once for an image; a model that leaves that
    # target out ([env] targets = [], as bge-m3 does) could not launch at all.
    write_spec(project, "n", f'[env]\npython = ["{PY}"]\npackages = ["beta"]\ntargets = []\n')
    code, _, err = cli(capfd, "lock", "n", "--no-index", "--find-links", str(locked["wheels"]))
    assert code == 0, err
    monkeypatch.setenv("MODELENV_TARGET", "cpu")
    argv = ("create", "n", "--base-python", str(locked["cpu"]), "--no-index")
    code, out, err = cli(capfd, *argv, "--find-links", str(locked["wheels"]))
    assert code == 0, err
    assert err.splitlines()[:2] == [
        f"n [default, py{PY}] is not locked for target cpu ($MODELENV_TARGET); matching the host",
        f"no target is for n [default, py{PY}]",
    ]
    rec = record(created_path(out))
    assert (rec["target"], rec["lock_source"]) == (None, "committed")
    # Asked for on the command line, it is still an error; so is an unknown name.
    monkeypatch.delenv("MODELENV_TARGET")
    code, _, err = cli(capfd, *argv, "--target", "cpu", "--force")
    assert code == 2 and f"target 'cpu' (Python {PY}) is not one n [default, py{PY}]" in err
    monkeypatch.setenv("MODELENV_TARGET", "cpux")
    code, _, err = cli(capfd, *argv, "--force")
    assert code == 2
    assert "unknown target 'cpux' ($MODELENV_TARGET) (did you mean 'cpu'?)" in err


def test_when_several_targets_match_the_one_closest_in_packages_is_this_host() -> None:
    # Images that differ only in packages no #system_NAME# pins all match; the
    # first by name won, whatever else it had installed.
    from compiler.host import HostFacts
    from compiler.targeting import match_target

    def host(name: str, **packages: str) -> HostFacts:
        facts = {"has_cuda": False, "cuda_version": None, "has_npu": False}
        return HostFacts(name, "3.11.7", "x86_64-manylinux_2_36", {}, packages, facts)

    live = host("live", torch="2.0.0+cpu", alpha="1.0.0", vllm="0.11.2")
    targets = {
        "a-plain": host("target a-plain", torch="2.0.0+cpu", alpha="1.1.0"),
        "b-serving": host("target b-serving", torch="2.0.0+cpu", alpha="1.0.0", vllm="0.11.2"),
        "c-gpu": host("target c-gpu", torch="2.0.0+cu128", alpha="1.0.0", vllm="0.11.2"),
    }
    assert match_target(live, targets, ["torch"]).matched == "b-serving"
    assert match_target(live, targets, []).matched == "b-serving"
    targets["a-serving"] = host("target a-serving", torch="2.0.0+cpu", alpha="1.0", vllm="0.11.2")
    assert match_target(live, targets, ["torch"]).matched == "a-serving"  # 1.0 == 1.0.0: a tie
    match = match_target(live, {"c-gpu": targets["c-gpu"]}, ["torch"])
    assert (match.matched, match.closest) == (None, "c-gpu")


def test_ensure_env_says_which_target_matched_when_it_builds(
    locked: dict[str, Path], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model server saw nothing: the line is the issue's "one line says
    # which target matched", and resolving locally needs the index.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(locked["wheels"]))
    capfd.readouterr()
    env = compiler.ensure_env("m", base_python=locked["cpu"])
    assert env is not None and env.record["target"] == "cpu"
    out, err = capfd.readouterr()
    assert out == ""
    assert "modelenv: this host matches target cpu\n" in err.splitlines(keepends=True)
    compiler.ensure_env("m", base_python=locked["cpu"])
    assert capfd.readouterr() == ("", "")  # up to date: nothing to say
    compiler.ensure_env("m", base_python=locked["gpu"], target="cpu")
    err = capfd.readouterr().err
    assert err.startswith("modelenv: warning: this host differs from target cpu: ")
