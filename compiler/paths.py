"""Where things are: the specs folder, the locks folder and the modelenv home.

Kept free of heavy imports: the launch-time fast path uses it.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENGINES_FILE", "Paths", "beneath_venv", "display", "spec_files", "version_key"]

ENGINES_FILE = "_engines.toml"


@dataclass(frozen=True)
class Paths:
    specs: Path
    locks: Path
    home: Path

    @classmethod
    def resolve(
        cls,
        specs: str | os.PathLike[str] | None = None,
        locks: str | os.PathLike[str] | None = None,
        home: str | os.PathLike[str] | None = None,
        *,
        defaults: tuple[Path | None, Path | None, Path | None] = (None, None, None),
    ) -> Paths:
        """Explicit arguments, else ``MODELENV_*`` variables, else ``defaults``
        (the project's: see project.py), else ./specs, ./locks and ~/.modelenv."""
        env = os.environ
        d_specs, d_locks, d_home = defaults
        # Absolute: VIRTUAL_ENV, PATH and records must not depend on the current folder.
        return cls(
            specs=Path(specs or env.get("MODELENV_SPECS") or d_specs or "specs").absolute(),
            locks=Path(locks or env.get("MODELENV_LOCKS") or d_locks or "locks").absolute(),
            home=Path(
                home or env.get("MODELENV_HOME") or d_home or Path.home() / ".modelenv"
            ).absolute(),
        )

    def spec_path(self, model: str) -> Path:
        return self.specs / f"{model}.toml"

    @property
    def engines_path(self) -> Path:
        return self.specs / ENGINES_FILE

    def model_names(self) -> list[str]:
        return [p.stem for p in spec_files(self.specs)]


def version_key(version: str) -> tuple[int, ...]:
    """Sort key for "3.10" < "3.11" < "3.11.7" (numbers, not text)."""
    digits = "".join(c if c.isascii() and c.isdigit() else " " for c in version)
    return tuple(int(p) for p in digits.split())


def spec_files(folder: Path) -> list[Path]:
    """Model spec files in ``folder``: ``*.toml`` not starting with ``_``, sorted."""
    if not folder.is_dir():
        return []
    # Not "_engines.toml", not dotfiles (editor locks such as ".#m.toml"), only files.
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".toml" and not p.name.startswith(("_", ".")) and p.is_file()
    )


def display(path: Path | str) -> str:
    """A path as a user wants to read it: relative to the current folder when inside it."""
    return _display(os.fspath(path), os.getcwd())


@functools.lru_cache(maxsize=4096)
def _display(path: str, _cwd: str) -> str:
    # Keyed by the current folder too: relpath answers relative to it. lock
    # --check shows each spec path several times over 1,000 specs.
    p = Path(path)
    try:
        rel = os.path.relpath(p)
    except ValueError:  # another drive on Windows
        return str(p)
    return str(p) if rel.startswith("..") else rel


def beneath_venv() -> str | None:
    """The interpreter beneath the virtual environment this process runs in;
    None outside one (or when it cannot be found). Stat calls only."""
    if sys.prefix == sys.base_prefix:
        return None
    inside = os.path.join(os.path.abspath(sys.prefix), "")
    bindir = Path(sys.base_prefix) / ("" if os.name == "nt" else "bin")
    # sys._base_executable names it from 3.11 on; on 3.10 it repeats sys.executable.
    candidates = [
        getattr(sys, "_base_executable", ""),
        str(bindir / f"python{sys.version_info[0]}.{sys.version_info[1]}"),
        str(bindir / "python3"),
        str(bindir / ("python.exe" if os.name == "nt" else "python")),
    ]
    for candidate in candidates:
        outside = candidate and not os.path.abspath(candidate).startswith(inside)
        if outside and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
