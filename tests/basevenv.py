"""Real base interpreters for tests: a uv venv with tiny wheels installed, as a
model-server image would have torch and numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
