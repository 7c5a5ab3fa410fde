"""Targets: the hosts environments are layered on (``specs/_targets/NAME.toml``).

A target is captured from a host's interpreter by ``modelenv target capture``
and records its Python version and platform, its PEP 508 marker values, its
host facts, every installed distribution and optional index settings. Locks
are made per target (see :mod:`compiler.locking`); its content fingerprint is
part of each of its locks' inputs.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ..names import check_model_name
from ..paths import display
from . import fast
from .problems import Problem, SpecError, read_toml
from .types import CaptureSection, FactsSection, PythonSection, Target

__all__ = [
    "TARGETS_DIR",
    "CaptureSection",
    "FactsSection",
    "PythonSection",
    "Target",
    "check_target_file",
    "check_target_name",
    "load_targets",
    "target_files",
]

TARGETS_DIR = "_targets"


def check_target_name(name: str) -> str | None:
    """Why ``name`` cannot name a target (its lock is ``<name>.txt`` beside ``py<X.Y>.txt``)."""
    why = check_model_name(name, "target name")
    if why:
        return why
    if re.match(r"^py\d", name):
        return (
            f"invalid target name {name!r}: names starting 'py' and a digit are kept"
            " for the universal locks (py<X.Y>.txt)"
        )
    return None


def target_files(specs_dir: Path) -> list[Path]:
    folder = specs_dir / TARGETS_DIR
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".toml" and not p.name.startswith(".") and p.is_file()
    )


def check_target_file(path: Path) -> tuple[Target | None, list[Problem]]:
    """Validate one target file: the target when valid, and every problem found."""
    shown = display(path)
    problems: list[Problem] = []
    why = check_target_name(path.stem)
    if why:
        problems.append(Problem(shown, None, f"{why}; rename the file"))
    data, read_problems = read_toml(path, path.parent.parent)  # inside specs/
    if data is None:
        return None, problems + read_problems
    target = fast.build_target(data)
    if target is None:  # not plainly valid: the reference schema decides
        from .schema import check_target

        target, found = check_target(data, shown)
        if target is None:
            return None, problems + found
    return (None if problems else target), problems


@functools.lru_cache(maxsize=256)
def _check_cached(
    path: Path, _mtime: int, _size: int, _ino: int
) -> tuple[Target | None, list[Problem]]:
    # Keyed by the file's stat: lock plans every model for every target, and
    # parses each target file once per run (again when it changes).
    return check_target_file(path)


def load_targets(specs_dir: Path) -> dict[str, Target]:
    """Every target in ``specs_dir/_targets`` by name; :class:`SpecError` naming
    every problem when any file is invalid; empty when there are none."""
    out: dict[str, Target] = {}
    problems: list[Problem] = []
    for path in target_files(specs_dir):
        try:
            st = path.stat()
        except OSError:
            continue  # removed meanwhile
        target, found = _check_cached(path, st.st_mtime_ns, st.st_size, st.st_ino)
        problems += found
        if target is not None:
            out[path.stem] = target
    if problems:
        raise SpecError(problems, hint="recapture with 'modelenv target capture', or fix the file")
    return out
