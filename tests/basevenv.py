"""Real base interpreters for tests: a uv venv with tiny wheels installed, as a
model-server image would have torch and numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.uv import uv_binary


def uv(*args: str, uv_cache: Path) -> None:
    """Run uv isolated from this machine's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(
        UV_CACHE_DIR=str(uv_cache),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    subprocess.run([uv_binary(), *args], check=True, env=env, capture_output=True, text=True)


def base_venv(folder: Path, wheels: Path, packages: list[str], uv_cache: Path) -> str:
    """A venv at ``folder`` with ``packages`` installed from ``wheels``; its python."""
    uv("venv", str(folder), "--python", sys.executable, "--quiet", uv_cache=uv_cache)
    python = str(folder / "bin" / "python")
    if packages:
        uv(
            "pip", "install", "--python", python, "--no-index", "--find-links", str(wheels),
            *packages, "--quiet", uv_cache=uv_cache,
        )  # fmt: skip
    return python


def torch_hosts(root: Path, uv_cache: Path, *, newer_alpha: bool = False) -> dict[str, Path]:
    """A wheelhouse and two base interpreters as on two model-server images:
    CPU torch and CUDA 12.8 torch (local labels, their version.py saying which),
    each with alpha 1.0.0 (``newer_alpha``: although 1.1.0 is in the wheelhouse)."""
    from .wheels import make_wheel

    wheels = root / "wheels"
    make_wheel(wheels, "torch", "2.0.0+cpu", files={"torch/version.py": "cuda = None\n"})
    make_wheel(wheels, "torch", "2.0.0+cu128", files={"torch/version.py": "cuda = '12.8'\n"})
    make_wheel(wheels, "alpha", "1.0.0")
    if newer_alpha:
        make_wheel(wheels, "alpha", "1.1.0")
    make_wheel(wheels, "beta", "2.0.0", requires=["alpha>=1.0"])
    make_wheel(wheels, "gpu-extra", "1.0.0")
    make_wheel(wheels, "cpu-extra", "1.0.0")
    base_venv(root / "cpu", wheels, ["torch==2.0.0+cpu", "alpha==1.0.0"], uv_cache)
    base_venv(root / "gpu", wheels, ["torch==2.0.0+cu128", "alpha==1.0.0"], uv_cache)
    return _torch_hosts_in(root)


def _torch_hosts_in(root: Path) -> dict[str, Path]:
    return {
        "wheels": root / "wheels",
        "cpu": root / "cpu" / "bin" / "python",
        "gpu": root / "gpu" / "bin" / "python",
    }


def shared_torch_hosts(
    tmp_path_factory: pytest.TempPathFactory, uv_cache: Path, *, newer_alpha: bool = False
) -> dict[str, Path]:
    """torch_hosts built once per test run and shared by every test module and
    pytest-xdist worker: tests read these images (capture targets from them,
    layer environments on them), none writes to them."""
    from .conftest import built_once

    name = "torch-hosts-newer-alpha" if newer_alpha else "torch-hosts"
    root = built_once(
        tmp_path_factory, name, lambda folder: _build(folder, uv_cache, newer_alpha=newer_alpha)
    )
    return _torch_hosts_in(root)


def _build(root: Path, uv_cache: Path, *, newer_alpha: bool) -> None:
    torch_hosts(root, uv_cache, newer_alpha=newer_alpha)
