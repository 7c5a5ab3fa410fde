"""Host facts: which interpreter an environment is layered on, and what it has.

One subprocess per interpreter, cached for the run. Finding an X.Y
interpreter: ``--base-python`` / ``MODELENV_BASE_PYTHON``, else the running
interpreter when its X.Y matches, else ``uv python find``, else the pyenv
versions folder (uv does not see pyenv versions that are not active), else
``pythonX.Y`` on PATH.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelenvError, UsageError
from .paths import version_key

__all__ = ["Interpreter", "find_interpreter", "inspect_interpreter", "probe", "running_xy"]

# Run inside an interpreter: its facts as JSON (used for base interpreters and
# by doctor for environments). Isolated mode (-I) keeps the current folder and
# PYTHON* variables from changing what it sees.
_PROBE = r"""
import json, os, platform, re, sys, sysconfig
from importlib import metadata
pkgs = {}
for d in metadata.distributions():
    name = d.metadata["Name"]
    key = name and re.sub(r"[-_.]+", "-", name).lower()
    if key and key not in pkgs:  # the first on sys.path is the one imported
        pkgs[key] = [d.version, str(d.locate_file(""))]
paths = []
for key in ("purelib", "platlib"):
    p = sysconfig.get_paths().get(key)
    if p and p not in paths:
        paths.append(p)
impl = sys.implementation
def fmt(info):
    v = "%d.%d.%d" % (info.major, info.minor, info.micro)
    return v if info.releaselevel == "final" else v + info.releaselevel[0] + str(info.serial)
markers = {
    "implementation_name": impl.name,
    "implementation_version": fmt(impl.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
print(json.dumps({
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "site_packages": paths,
    "packages": pkgs,
    "markers": markers,
}))
"""


def probe(executable: str, what: str = "interpreter") -> dict[str, Any]:
    """What ``executable`` sees: version, prefixes, site-packages, distributions
    (canonical name -> [version, location]) and PEP 508 marker values."""
    try:
        proc = subprocess.run(
            [executable, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except OSError as exc:
        raise ModelenvError(f"cannot run the {what} {executable}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ModelenvError(f"the {what} {executable} did not answer in 120 s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelenvError(f"the {what} {executable} failed to start: {last}")
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # X.Y.Z
    prefix: str
    base_prefix: str
    site_packages: tuple[str, ...]
    packages: Mapping[str, str]  # canonical name -> version

    @property
    def xy(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def is_venv(self) -> bool:
        return self.prefix != self.base_prefix

    def version_of(self, key: str) -> str | None:
        """The installed version of distribution ``key`` without a local label."""
        version = self.packages.get(key)
        return None if version is None else version.split("+", 1)[0]


def running_xy() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@functools.cache
def inspect_interpreter(executable: str) -> Interpreter:
    from packaging.utils import canonicalize_name

    data = probe(executable, "base interpreter")
    return Interpreter(
        executable=data["executable"] or executable,
        version=data["version"],
        prefix=data["prefix"],
        base_prefix=data["base_prefix"],
        site_packages=tuple(data["site_packages"]),
        packages={canonicalize_name(k): v[0] for k, v in data["packages"].items()},
    )


def find_interpreter(xy: str, base_python: str | None = None) -> Interpreter:
    """The interpreter an X.Y environment is built on; a clear error when none is found."""
    source = "--base-python" if base_python else "MODELENV_BASE_PYTHON"
    base_python = base_python or os.environ.get("MODELENV_BASE_PYTHON") or None
    if base_python:
        path = shutil.which(base_python) or base_python
        if not os.path.exists(path):
            raise UsageError(
                f"base interpreter {base_python} ({source}) does not exist",
                hint=f"point {source} at a Python {xy} interpreter, or leave it unset",
            )
        interp = inspect_interpreter(path)
        if interp.xy != xy:
            raise UsageError(
                f"the base interpreter {base_python} is Python {interp.version}, not {xy}",
                hint=f"pass --python {interp.xy}, or a Python {xy} interpreter as --base-python",
            )
        return interp
    if running_xy() == xy:
        return inspect_interpreter(sys.executable)
    for candidate in _candidates(xy):
        try:
            interp = inspect_interpreter(candidate)
        except ModelenvError:
            continue
        if interp.xy == xy:
            return interp
    raise ModelenvError(
        f"no Python {xy} interpreter found (looked with 'uv python find', in the pyenv"
        f" versions folder and for python{xy} on PATH)",
        hint=f"install Python {xy} (for example 'uv python install {xy}') or pass --base-python",
    )


def _candidates(xy: str) -> list[str]:
    found: list[str] = []
    uv_found = _uv_python_find(xy)
    if uv_found:
        found.append(uv_found)
    found += _pyenv_pythons(xy)
    on_path = shutil.which(f"python{xy}")
    if on_path:
        found.append(on_path)
    return list(dict.fromkeys(found))


def _uv_python_find(xy: str) -> str | None:
    from . import uv

    try:
        result = uv.run(["python", "find", "--system", "--no-python-downloads", xy], timeout=60)
    except ModelenvError:
        return None
    out = result.stdout.strip()
    return out if result.ok and out else None


def _pyenv_pythons(xy: str) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if not root.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(xy)}\.\d+$")
    versions = sorted((d.name for d in root.iterdir() if pattern.match(d.name)), key=version_key)
    out = []
    for version in reversed(versions):
        exe = root / version / "bin" / f"python{xy}"
        if exe.exists():
            out.append(str(exe))
    return out
