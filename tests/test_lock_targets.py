"""Locks per target: resolved for the target's Python and platform, its
versions preferred, #system_NAME# pinned to them, host facts evaluated."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .basevenv import shared_torch_hosts
from .conftest import run_cli, write_spec

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
[env]
python = ["{PY}"]
packages = ["#system_torch#", "beta", "gpu-extra ; has_cuda", "cpu-extra ; not has_cuda"]
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> dict[str, Path]:
    """The CPU and CUDA torch images of basevenv.torch_hosts (alpha 1.1.0 is newest)."""
    return shared_torch_hosts(tmp_path_factory, uv_cache, newer_alpha=True)


def _capture(capsys: pytest.CaptureFixture[str], name: str, python: Path, *extra: str) -> None:
    code, _, err = run_cli(capsys, "target", "capture", name, "--python", str(python), *extra)
    assert code == 0, err


def _lock(capsys: pytest.CaptureFixture[str], wheels: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "lock", "--no-index", "--find-links", str(wheels), *extra)


def _pins(path: Path) -> set[str]:
    return {
        line.split(" ")[0]
        for line in path.read_text().splitlines()
        if line and not line[0].isspace() and not line.startswith("#")
    }


def test_lock_per_target(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    _capture(capsys, "gpu", hosts["gpu"])
    write_spec(project, "m", SPEC)
    code, _, err = _lock(capsys, hosts["wheels"])
    assert code == 0, err
    assert "locked      m [default, target cpu] -> locks/m/default/cpu.txt (4 packages)" in err
    cpu = project / "locks/m/default/cpu.txt"
    gpu = project / "locks/m/default/gpu.txt"
    assert (project / f"locks/m/default/py{PY}.txt").is_file()  # the universal lock stays
    # #system_torch# pinned to each target's build, local label kept; alpha kept
    # at the host's 1.0.0 although 1.1.0 is newer; fact markers chose the extras.
    assert _pins(cpu) == {
        "alpha==1.0.0", "beta==2.0.0", "cpu-extra==1.0.0", "torch==2.0.0+cpu",
    }  # fmt: skip
    assert _pins(gpu) == {
        "alpha==1.0.0", "beta==2.0.0", "gpu-extra==1.0.0", "torch==2.0.0+cu128",
    }  # fmt: skip
    text = cpu.read_text()
    assert "# modelenv-target: cpu\n" in text
    assert "# target:  cpu (" in text
    assert "#   gpu-extra ; has_cuda -> left out: its host facts do not hold" in text
    assert "modelenv lock m --engine default --target cpu" in text
    code, _, err = run_cli(capsys, "lock", "--check")
    assert code == 0, err
    assert "3 locks up to date" in err

    # Recapturing a changed image makes its locks stale, and --check names it.
    _capture(capsys, "cpu", hosts["gpu"], "--fact", "has_cuda=false")
    code, out, _ = run_cli(capsys, "lock", "--check")
    assert code == 1
    assert out == (
        "locks/m/default/cpu.txt: stale: target cpu changed since it was locked (recaptured);"
        " run: modelenv lock m --engine default --target cpu\n"
    )
    code, _, err = _lock(capsys, hosts["wheels"], "--target", "cpu")
    assert code == 0, err
    assert "torch==2.0.0+cu128" in _pins(cpu) and "cpu-extra==1.0.0" in _pins(cpu)


def test_spec_restricts_targets_and_system_must_exist(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    _capture(capsys, "gpu", hosts["gpu"])
    write_spec(project, "m", SPEC.replace("[env]\n", '[env]\ntargets = ["gpu"]\n'))
    write_spec(project, "n", f'[env]\npython = ["{PY}"]\npackages = ["#system_gamma#"]\n')
    code, _, err = _lock(capsys, hosts["wheels"], "m", "n")
    assert code == 1
    assert (
        "modelenv: error: n [default, target cpu]: #system_gamma# (specs/n.toml [env]):"
        " target 'cpu' has no gamma" in err
    )
    assert "n [default, target gpu]: #system_gamma#" in err
    assert sorted(p.name for p in (project / "locks/m/default").iterdir()) == [
        "gpu.txt",
        f"py{PY}.txt",
    ]
    code, out, err = run_cli(capsys, "lock", "--check", "m")
    assert code == 0, out + err


def test_target_python_must_be_listed(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    other = "3.10" if PY != "3.10" else "3.12"
    write_spec(project, "m", f'[env]\npython = ["{other}"]\npackages = ["beta"]\n')
    code, _, err = run_cli(capsys, "lock", "--check", "--target", "cpu")
    assert code == 0 and "0 locks up to date" in err  # no lock for a Python it does not list


def test_targets_the_spec_cannot_use(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    other = "3.10" if PY != "3.10" else "3.12"
    write_spec(
        project, "m", f'[env]\npython = ["{other}"]\npackages = ["beta"]\ntargets = ["cpu"]\n'
    )
    write_spec(project, "n", '[env]\npackages = ["beta"]\ntargets = []\n')
    code, out, _ = run_cli(capsys, "validate")
    assert code == 1
    assert out == (
        f"specs/m.toml: env.targets[0]: target 'cpu' is Python {PY}, which env.python does not"
        f" list ({other}); add '{PY}' to env.python or drop the target\n"
    )
    code, _, err = run_cli(capsys, "lock", "n", "--target", "cpu")
    assert code == 2
    assert "model 'n' is not locked for target 'cpu' (its env.python and targets keys)" in err


def test_engine_variants_choose_their_targets(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    _capture(capsys, "gpu", hosts["gpu"])
    write_spec(
        project,
        "m",
        f'[env]\npython = ["{PY}"]\npackages = ["beta"]\n\n'
        '[engines.transformers]\ntargets = ["gpu"]\n\n[engines.vllm]\ntargets = []\n',
    )
    code, out, _ = run_cli(capsys, "lock", "--check")
    assert code == 1
    missing = sorted(line.split(":")[0] for line in out.splitlines())
    assert missing == sorted(
        [
            "locks/m/default/cpu.txt",
            "locks/m/default/gpu.txt",
            f"locks/m/default/py{PY}.txt",
            "locks/m/transformers/gpu.txt",
            f"locks/m/transformers/py{PY}.txt",
            f"locks/m/vllm/py{PY}.txt",
        ]
    )
    write_spec(project, "m", '[env]\npackages = ["beta"]\n\n[engines.vllm]\ntargets = ["gpus"]\n')
    code, out, _ = run_cli(capsys, "validate")
    assert code == 1
    assert out.startswith("specs/m.toml: engines.vllm.targets[0]: unknown target 'gpus'")


def test_show_for_a_target(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    write_spec(project, "m", SPEC)
    code, out, err = run_cli(capsys, "show", "m", "--target", "cpu", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["target"]["name"] == "cpu" and doc["target"]["facts"]["has_cuda"] is False
    assert [r["requirement"] for r in doc["requirements"]] == [
        "torch==2.0.0+cpu", "beta", None, "cpu-extra",
    ]  # fmt: skip
    code, out, _ = run_cli(capsys, "show", "m", "--target", "cpu")
    assert code == 0
    assert "base:    target cpu (Python " in out
    assert (
        "  (gpu-extra)" in out
        and "gpu-extra ; has_cuda: left out, its host facts do not hold" in out
    )


def test_prune_removes_target_locks_only(
    project: Path, hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _capture(capsys, "cpu", hosts["cpu"], "--fact", "has_cuda=false")
    write_spec(project, "m", SPEC)
    assert _lock(capsys, hosts["wheels"])[0] == 0
    notes = project / "locks/m/default/notes.txt"
    notes.write_text("mine\n")
    (project / "specs/_targets/cpu.toml").unlink()
    code, out, _ = run_cli(capsys, "lock", "--check")
    assert code == 1
    assert (
        out == "locks/m/default/cpu.txt: no spec variant produces it; run: modelenv lock --prune\n"
    )
    code, _, err = run_cli(capsys, "lock", "--prune", "--offline")
    assert code == 0, err
    assert not (project / "locks/m/default/cpu.txt").exists() and notes.exists()
