"""Host facts: which interpreter an environment is layered on, and what it has.

One subprocess per interpreter, cached for the run and, while the
interpreter's files are unchanged, across runs (:mod:`compiler.probecache`).
Finding an X.Y interpreter: ``--base-python`` / ``MODELENV_BASE_PYTHON``, else the running
interpreter when its X.Y matches (for the command line, the interpreter
beneath the virtual environment modelenv runs in: a pipx, ``uv tool`` or
project venv must not leak modelenv's own packages into model environments),
else ``uv python find``, else the pyenv versions folder (uv does not see pyenv
versions that are not active), else ``pythonX.Y`` on PATH.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelenvError, UsageError
from .paths import beneath_venv, version_key
from .probescript import PROBE

if TYPE_CHECKING:
    from .markers import FactValue
    from .spec.targets import Target

# PEP 508 marker values that describe the running kernel, not the image: left
# out of a target, so that the same image captured on two machines is one target.
KERNEL_MARKERS = ("platform_release", "platform_version")
# The newest manylinux that `uv pip compile --python-platform` names (uv 0.13).
_MANYLINUX_MAX = (2, 40)

__all__ = [
    "HostFacts",
    "Interpreter",
    "beneath_venv",
    "find_interpreter",
    "host_facts",
    "inspect_interpreter",
    "probe",
    "running_xy",
]


def probe(executable: str, what: str = "interpreter") -> dict[str, Any]:
    """What ``executable`` sees: version, prefixes, site-packages, distributions
    (canonical name -> [version, location]) and PEP 508 marker values."""
    try:
        proc = subprocess.run(
            [executable, "-I", "-c", PROBE],
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
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("version"), str):
        shown = proc.stdout.strip().splitlines()[:1] or ["nothing"]
        raise ModelenvError(
            f"the {what} {executable} is not a Python interpreter:"
            f" asked for its facts, it printed {shown[0][:80]!r}",
            hint="point MODELENV_BASE_PYTHON / --base-python at a python executable",
        )
    return data


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # X.Y.Z
    prefix: str
    base_prefix: str
    site_packages: tuple[str, ...]
    packages: Mapping[str, str]  # canonical name -> version
    markers: Mapping[str, str] = field(default_factory=dict)  # PEP 508 marker values
    libc: tuple[str, ...] = ("", "")  # platform.libc_ver()
    cuda: tuple[str, ...] | None = None  # (where from, X.Y or ""), as the probe found it

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

    from .probecache import cached_probe

    data = cached_probe(executable, PROBE, lambda: probe(executable, "base interpreter"))
    return Interpreter(
        executable=data["executable"] or executable,
        version=data["version"],
        prefix=data["prefix"],
        base_prefix=data["base_prefix"],
        site_packages=tuple(data["site_packages"]),
        packages={canonicalize_name(k): v[0] for k, v in data["packages"].items()},
        markers=data["markers"],
        libc=tuple(data.get("libc") or ("", "")),
        cuda=tuple(data["cuda"]) if data.get("cuda") else None,
    )


def find_interpreter(
    xy: str,
    base_python: str | None = None,
    source: str | None = None,
    *,
    beneath: bool = False,
) -> Interpreter:
    """The interpreter an X.Y environment is built on; a clear error when none is found.

    ``source`` says where ``base_python`` came from, for messages (default
    "--base-python"); without ``base_python``, ``MODELENV_BASE_PYTHON`` is read.
    ``beneath``: the command line's default, the interpreter beneath the venv
    modelenv runs in; else (``ensure_env``) the calling interpreter itself, whose
    packages a model server means to share.
    """
    source = (source or "--base-python") if base_python else "MODELENV_BASE_PYTHON"
    base_python = base_python or os.environ.get("MODELENV_BASE_PYTHON") or None
    if base_python:
        import shutil

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
        under = beneath_venv() if beneath else None
        return inspect_interpreter(under or sys.executable)
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
    import shutil

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


@dataclass(frozen=True)
class HostFacts:
    """What an environment is layered on: the interpreter's Python version and
    platform, its PEP 508 marker values, every installed distribution (version
    with its local label, ``torch -> 2.13.0+cpu``) and the host facts that
    markers may test (:data:`compiler.markers.FACTS`).

    Built by probing a live interpreter (:func:`host_facts`) or loaded from a
    captured target (:meth:`from_target`): a target is just its saved form.
    """

    source: str  # "target NAME" or the interpreter's path
    python: str  # X.Y.Z
    platform: str  # as `uv pip compile --python-platform` takes it
    markers: Mapping[str, str]
    packages: Mapping[str, str]  # canonical name -> version, local label kept
    facts: Mapping[str, FactValue]
    cuda_source: str = ""  # where cuda_version came from, for capture

    @property
    def xy(self) -> str:
        return ".".join(self.python.split(".")[:2])

    def version_of(self, key: str) -> str | None:
        """The installed version of distribution ``key``, local label kept."""
        return self.packages.get(key)

    def evaluate(self, marker: str) -> bool:
        """Does ``marker`` (PEP 508, with host facts) hold on this host?"""
        from . import markers

        # A target does not record the kernel's values (KERNEL_MARKERS).
        environment = {**dict.fromkeys(KERNEL_MARKERS, ""), **self.markers}
        return markers.evaluate(marker, self.facts, environment)

    @classmethod
    def from_target(cls, name: str, target: Target) -> HostFacts:
        return cls(
            source=f"target {name}",
            python=target.python.version,
            platform=target.python.platform,
            markers=dict(target.markers),
            packages=dict(target.packages),
            facts=target.facts.as_facts(),
        )


@functools.cache
def host_facts(executable: str, *, nvidia_smi: bool = True) -> HostFacts:
    """Probe the live interpreter ``executable``: its packages, platform and
    CUDA (``torch.version.cuda`` when torch is installed, else an
    ``nvidia-cuda-runtime`` distribution, else ``nvidia-smi``, else the CUDA
    toolkit's ``version.json``). The probe is :func:`inspect_interpreter`'s:
    one subprocess per interpreter and run, however both are asked."""
    interp = inspect_interpreter(executable)
    markers = {k: v for k, v in interp.markers.items() if k not in KERNEL_MARKERS}
    cuda = interp.cuda
    version: str | None = None
    source = ""
    if cuda:
        source, version = cuda[0], cuda[1] or None
    elif nvidia_smi:
        version = _nvidia_smi_cuda()
        source = "nvidia-smi" if version else ""
        if version is None:
            version, source = _toolkit_cuda()
    return HostFacts(
        source=interp.executable,
        python=interp.version,
        platform=python_platform(markers, list(interp.libc)),
        markers=markers,
        packages=dict(interp.packages),
        facts={"has_cuda": version is not None, "cuda_version": version, "has_npu": False},
        cuda_source=source or "not found",
    )


def python_platform(markers: Mapping[str, str], libc: list[str]) -> str:
    """The ``--python-platform`` value uv resolves for, from marker values and libc."""
    machine = markers.get("platform_machine", "").lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    system = markers.get("sys_platform", "")
    if system == "darwin":
        return f"{machine}-apple-darwin"
    if system == "win32":
        return f"{machine}-pc-windows-msvc"
    if system != "linux":
        return system
    kind, version = ([*libc, "", ""])[:2]
    if kind != "glibc":
        return f"{machine}-unknown-linux-musl"
    match = re.match(r"(\d+)\.(\d+)", version)
    if machine not in ("x86_64", "aarch64") or match is None:
        return f"{machine}-unknown-linux-gnu"
    glibc = min((int(match.group(1)), int(match.group(2))), _MANYLINUX_MAX)
    glibc = max(glibc, (2, 17))
    return f"{machine}-manylinux_{glibc[0]}_{glibc[1]}"


def _toolkit_cuda() -> tuple[str | None, str]:
    """(X.Y, where) of the CUDA toolkit's ``version.json`` under ``$CUDA_HOME``
    or ``/usr/local/cuda``; (None, "") when there is none."""
    from .fsutil import NotARegularFile, read_regular

    root = Path(os.environ.get("CUDA_HOME") or "/usr/local/cuda")
    try:
        # A regular file only: a FIFO there would block the capture forever.
        data = json.loads(read_regular(root / "version.json"))
        version = str(data["cuda"]["version"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError, NotARegularFile):
        return None, ""
    match = re.match(r"(\d+\.\d+)", version)
    return (match.group(1), str(root / "version.json")) if match else (None, "")


def _nvidia_smi_cuda() -> str | None:
    """The CUDA version the NVIDIA driver supports, from ``nvidia-smi`` (10 s at most)."""
    from .fastio import which  # shutil's imports bz2, lzma and zlib: every cold create asks

    exe = which("nvidia-smi", os.environ.get("PATH", os.defpath))
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"CUDA Version:\s*(\d+\.\d+)", proc.stdout)
    return match.group(1) if match else None
