"""Targets: capture from a real base interpreter, list, show, validate."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from compiler.capture import build_target, invalid_versions
from compiler.errors import ModelenvError
from compiler.host import HostFacts, host_facts, python_platform
from compiler.spec.targets import load_targets

from .basevenv import base_venv
from .conftest import run_cli, write_spec
from .wheels import make_wheel

XYZ = ".".join(str(p) for p in sys.version_info[:3])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> str:
    """A base interpreter as on a model server: a torch-like package with a local
    label (whose torch/version.py says CUDA 12.8) and alpha."""
    root = tmp_path_factory.mktemp("targets")
    wheels = root / "wheels"
    make_wheel(wheels, "torch", "2.0.0+cu128", files={"torch/version.py": "cuda: str = '12.8'\n"})
    make_wheel(wheels, "alpha", "1.0.0")
    return base_venv(root / "base", wheels, ["torch", "alpha"], uv_cache)


def test_capture_list_show(project: Path, base: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "target", "capture", "gpu", "--python", base, "--description", "a GPU image",
        "--extra-index-url", "https://download.pytorch.org/whl/cu128",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "specs/_targets/gpu.toml"
    assert "has_cuda=true, cuda_version=12.8" in err
    text = (project / "specs/_targets/gpu.toml").read_text()
    assert 'torch = "2.0.0+cu128"' in text and 'alpha = "1.0.0"' in text
    assert 'cuda_from = "torch"' in text
    assert 'extra_urls = ["https://download.pytorch.org/whl/cu128"]' in text
    target = load_targets(project / "specs")["gpu"]
    assert target.python.version == XYZ
    assert target.python.platform  # e.g. x86_64-manylinux_2_36
    assert target.facts.as_facts() == {"has_cuda": True, "cuda_version": "12.8", "has_npu": False}
    assert "platform_release" not in target.markers  # the kernel, not the image

    code, out, _ = run_cli(capsys, "target", "list")
    assert code == 0 and out.splitlines()[1].split()[:5] == [
        "gpu",
        XYZ,
        target.python.platform,
        "12.8",
        str(len(target.packages)),
    ]
    code, out, _ = run_cli(capsys, "target", "show", "gpu")
    assert code == 0 and "torch==2.0.0+cu128" in out and "description: a GPU image" in out
    code, _, err = run_cli(capsys, "target", "show", "gpux")
    assert code == 2 and "unknown target 'gpux' (did you mean 'gpu'?)" in err
    code, out, _ = run_cli(capsys, "validate")
    assert code == 0


def test_facts_override_and_recapture(
    project: Path, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "target", "capture", "cpu", "--python", base, "--fact", "has_cuda=false"
    )
    assert code == 0, err
    facts = load_targets(project / "specs")["cpu"].facts
    assert (facts.has_cuda, facts.cuda_version) == (False, None)
    code, _, err = run_cli(capsys, "target", "capture", "cpu", "--python", base, "--fact",
                           "has_cuda=false")  # fmt: skip
    assert "unchanged   its locks stay valid" in err
    code, _, err = run_cli(
        capsys, "target", "capture", "cpu", "--python", base, "--fact", "cuda_version=13.0"
    )
    assert code == 0 and "changed     facts changed" in err
    assert load_targets(project / "specs")["cpu"].facts.has_cuda is True


def test_a_relative_find_links_is_stored_relative_to_the_target_file(
    project: Path, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # '--find-links wheelhouse' means ./wheelhouse, as for every other command;
    # the file's relative paths are read relative to specs/_targets/, so it was
    # stored as specs/_targets/wheelhouse, and the target's locks failed.
    make_wheel(project / "wheelhouse", "alpha", "1.0.0")
    gone = project / "no-such-folder"
    code, _, err = run_cli(
        capsys, "target", "capture", "t", "--python", base, "--find-links", "wheelhouse"
    )
    assert code == 0, err
    code, _, err = run_cli(
        capsys, "target", "capture", "u", "--python", base, "--find-links", str(gone),
        "--find-links", "https://example.org/wheels/",
    )  # fmt: skip
    assert code == 0, err
    assert (
        f"modelenv: warning: --find-links {gone}: no such folder here; kept (locking leaves it"
        " out where it is missing)\n"
    ) in err
    targets = load_targets(project / "specs")
    assert [t.index.find_links for t in targets.values() if t.index] == [
        ("../../wheelhouse",),
        (str(gone), "https://example.org/wheels/"),  # as given
    ]
    write_spec(project, "m", '[env]\npackages = ["alpha"]\n')
    code, _, err = run_cli(capsys, "lock", "--target", "t", "--no-index")
    assert code == 0, err
    assert "alpha==1.0.0" in (project / "locks/m/default/t.txt").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fact", "has_cuda=maybe"], "--fact 'has_cuda=maybe': has_cuda is true or false"),
        (["--fact", "cuda=12"], "unknown fact 'cuda'"),
        (["--fact", "cuda_version=x"], "'x' is not a version"),
        (["--index-url", "https://u:secret@e.org/simple"], "keep credentials out"),
    ],
)
def test_capture_usage_errors(
    project: Path, base: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "target", "capture", "t", "--python", base, *argv)
    assert code == 2 and message in err and "secret" not in err
    assert "capturing" not in err  # checked before the interpreter is probed
    assert not (project / "specs/_targets/t.toml").exists()


def test_the_common_options_follow_an_action_too(
    project: Path, base: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 'target capture NAME -q' was "unrecognized arguments: -q", as no other
    # command says.
    code, out, err = run_cli(capsys, "target", "capture", "t", "--python", base, "-q")
    assert (code, out, err) == (0, "specs/_targets/t.toml\n", "")
    other = tmp_path / "other-specs"
    code, out, err = run_cli(capsys, "target", "capture", "u", "--python", base, "--specs",
                             str(other))  # fmt: skip
    assert code == 0, err
    assert (other / "_targets/u.toml").is_file()
    code, out, _ = run_cli(capsys, "target", "list", "--specs", str(other))
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["NAME", "u"]
    code, out, _ = run_cli(capsys, "target", "show", "t", "-v")
    assert code == 0 and out.startswith("target t\n")


def test_bad_names(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "target", "capture", "py3.11")
    assert code == 2
    assert err == (
        "modelenv: error: invalid target name 'py3.11': names starting 'py' and a digit are"
        " kept for the universal locks (py<X.Y>.txt)\n"
    )
    code, _, err = run_cli(capsys, "target", "capture", "../x")
    assert code == 2 and "path separators" in err


def test_capture_never_writes_through_a_link_out_of_specs(
    project: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (project / "specs" / "_targets").symlink_to(outside)
    code, _, err = run_cli(capsys, "target", "capture", "t", "--python", sys.executable)
    assert code == 1
    assert "leads out of" in err and "through a symbolic link" in err
    assert list(outside.iterdir()) == []


def test_validate_target_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = project / "specs/_targets"
    folder.mkdir()
    (folder / "bad.toml").write_text(
        '[python]\nversion = "3.11"\nplatform = "x86_64-manylinx_2_28"\n\n'
        '[facts]\nhas_cuda = false\ncuda_version = "12.8"\nhas_gpu = true\n\n'
        '[packages]\nTorch = "2.0.0"\n'
    )
    write_spec(project, "m", '[env]\npackages = ["alpha"]\ntargets = ["bda", "bad"]\n')
    code, out, err = run_cli(capsys, "validate")
    assert code == 1
    assert out.splitlines() == [
        "specs/m.toml: env.targets[0]: unknown target 'bda' (did you mean 'bad'?); targets in"
        " specs/_targets: bad (capture one with 'modelenv target capture NAME')",
        "specs/_targets/bad.toml: python.version: invalid Python version '3.11': expected X.Y.Z,"
        ' for example "3.11.9"',
        "specs/_targets/bad.toml: python.platform: unknown platform 'x86_64-manylinx_2_28':"
        " expected a value of 'uv pip compile --python-platform', for example"
        ' "x86_64-manylinux_2_28" or "aarch64-apple-darwin"',
        "specs/_targets/bad.toml: facts.has_gpu: unknown key 'has_gpu' (did you mean 'has_npu'?)",
        "specs/_targets/bad.toml: packages: package name 'Torch' is not normalised: write 'torch'",
    ]
    assert "2 of 3 files invalid" in err


@pytest.mark.parametrize(
    ("markers", "libc", "platform"),
    [
        ({"sys_platform": "linux", "platform_machine": "x86_64"}, ["glibc", "2.36"],
         "x86_64-manylinux_2_36"),
        ({"sys_platform": "linux", "platform_machine": "aarch64"}, ["glibc", "2.12"],
         "aarch64-manylinux_2_17"),
        ({"sys_platform": "linux", "platform_machine": "x86_64"}, ["glibc", "2.41"],
         "x86_64-manylinux_2_40"),
        ({"sys_platform": "linux", "platform_machine": "x86_64"}, ["", ""],
         "x86_64-unknown-linux-musl"),
        ({"sys_platform": "darwin", "platform_machine": "arm64"}, ["", ""],
         "aarch64-apple-darwin"),
        ({"sys_platform": "win32", "platform_machine": "AMD64"}, ["", ""],
         "x86_64-pc-windows-msvc"),
    ],
)  # fmt: skip
def test_python_platform(markers: dict[str, str], libc: list[str], platform: str) -> None:
    assert python_platform(markers, libc) == platform


def test_cuda_toolkit_fallback(
    base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uv_cache: Path
) -> None:
    (tmp_path / "version.json").write_text('{"cuda": {"version": "12.9.1"}}')
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi
    bare = base_venv(tmp_path / "bare", tmp_path, [], uv_cache)
    facts = host_facts.__wrapped__(bare)  # uncached
    assert facts.facts == {"has_cuda": True, "cuda_version": "12.9", "has_npu": False}
    assert facts.cuda_source == str(tmp_path / "version.json")
    # torch decides when it is installed, whatever the machine has.
    facts = host_facts.__wrapped__(base)
    assert facts.facts["cuda_version"] == "12.8" and facts.cuda_source == "torch"


@pytest.mark.parametrize("kind", ["fifo", "deep", "folder"])
def test_cuda_toolkit_file_that_is_not_a_version_file(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler.host import _toolkit_cuda

    path = tmp_path / "version.json"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: reading it would wait forever
    elif kind == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000)
    else:
        path.mkdir()
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    assert _toolkit_cuda() == (None, "")


def test_host_facts_from_target(
    project: Path, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "target", "capture", "t", "--python", base)
    assert code == 0, err
    host = HostFacts.from_target("t", load_targets(project / "specs")["t"])
    assert host.source == "target t" and host.version_of("torch") == "2.0.0+cu128"
    assert host.evaluate('has_cuda and cuda_version >= "12" and sys_platform == "linux"') is (
        sys.platform == "linux"
    )
    assert not host.evaluate('platform_release == "x" or not has_cuda')


def _host(**changes: object) -> HostFacts:
    values: dict[str, object] = {
        "source": "/img/bin/python",
        "python": "3.11.9",
        "platform": "x86_64-manylinux_2_28",
        "markers": {"sys_platform": "linux"},
        "packages": {"torch": "2.0.0+cpu"},
        "facts": {"has_cuda": False, "cuda_version": None, "has_npu": False},
    }
    values.update(changes)
    return HostFacts(**values)  # type: ignore[arg-type]


def test_build_target_leaves_out_invalid_versions() -> None:
    host = _host(packages={"torch": "2.0.0+cpu", "odd": "1.0-foo-bar"})
    assert invalid_versions(host) == {"odd": "1.0-foo-bar"}
    assert build_target(host).packages == {"torch": "2.0.0+cpu"}


def test_build_target_on_a_platform_uv_cannot_resolve_for() -> None:
    with pytest.raises(ModelenvError) as info:
        build_target(_host(platform="ppc64le-unknown-linux-gnu"))
    assert str(info.value).startswith(
        "cannot describe this interpreter as a target:"
        " python.platform: unknown platform 'ppc64le-unknown-linux-gnu'"
    )
