"""GOT-OCR2 on a real model-server-like host: a base venv holding the CPU torch
2.13.0 from the wheelhouse matches the bundled target cpu-torch, so its
committed lock is used and the host's torch is never copied (run with:
pytest -m network)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.uv import uv_binary

from .conftest import REPO, run_cli, run_modelenv
from .test_materialise import BASE_INTERPRETER, XY, created_path, record, site_packages

WHEELS = Path("/opt/wheels")
PYPI = ("--index-url", "https://pypi.org/simple")


def _target_version(name: str) -> str:
    import tomllib

    data = tomllib.loads((REPO / "specs/_targets/cpu-torch.toml").read_text())
    version: str = data["packages"][name]
    return version


@pytest.mark.network
@pytest.mark.skipif(
    XY != "3.11" or not list(WHEELS.glob("torch-2.13.0+cpu-*.whl")),
    reason="the bundled target is Python 3.11 with the CPU torch from /opt/wheels",
)
def test_got_ocr2_on_a_host_with_cpu_torch_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    for name in ("got-ocr2.toml", "_engines.toml", "_targets/cpu-torch.toml"):
        (project / "specs" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "specs" / name, project / "specs" / name)
    lock = project / "locks/got-ocr2/default/cpu-torch.txt"
    lock.parent.mkdir(parents=True)
    shutil.copy(REPO / "locks/got-ocr2/default/cpu-torch.txt", lock)
    monkeypatch.chdir(project)

    # The host: what 'pip install torch==2.13.0 numpy' gives on this machine.
    base = tmp_path / "base"
    uv = uv_binary()
    subprocess.run(
        [uv, "venv", "--quiet", "--python", str(BASE_INTERPRETER), str(base)],
        check=True,
        capture_output=True,
    )
    python = base / "bin" / "python"
    numpy = f"numpy=={_target_version('numpy')}"
    install = ["pip", "install", "--quiet", "--python", str(python), "--find-links", str(WHEELS)]
    subprocess.run(
        [uv, *install, *PYPI, "torch==2.13.0+cpu", numpy],
        check=True,
        capture_output=True,
    )

    code, out, err = run_cli(capfd, "create", "got-ocr2", "--base-python", str(python), *PYPI)
    assert code == 0, err
    assert "this host matches target cpu-torch" in err
    assert "from target cpu-torch's lock" in err
    env = created_path(out)
    rec = record(env)
    assert rec["target"] == "cpu-torch"
    assert "torch==2.13.0+cpu" in rec["reused"]
    assert not list(site_packages(env).glob("torch-*.dist-info"))
    assert not (site_packages(env) / "torch").exists()
    installed = sorted(p.name for p in site_packages(env).glob("*.dist-info"))
    assert len(installed) == len(rec["installed"]), installed

    proc = run_modelenv(
        "run",
        "got-ocr2",
        "--base-python",
        str(python),
        *PYPI,
        "--",
        "python",
        "-c",
        "import torch, transformers; print(torch.__version__, transformers.__version__)",
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2.13.0+cpu", "4.37.2"]
