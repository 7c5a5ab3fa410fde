"""Which lockfiles there are: the key naming one, whether a target's lock was
made from an earlier capture of the target, and the lockfiles no spec makes.

Apart from :mod:`compiler.locking` (which compiles locks with uv): ``lock
--check`` and ``create`` ask these questions without importing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .fsutil import Tree
from .lockfile import LockHeader, lock_path, parse_header
from .paths import Paths

__all__ = ["LockKey", "orphan_locks", "recaptured", "target_change"]


@dataclass(frozen=True)
class LockKey:
    """Which lock: a model's engine variant for a Python version (universal), or
    for a target (a captured host, ``specs/_targets/NAME.toml``)."""

    model: str
    engine: str  # "default" or an engine name
    python: str
    target: str | None = None

    def __str__(self) -> str:
        where = f"target {self.target}" if self.target else f"py{self.python}"
        return f"{self.model} [{self.engine}, {where}]"

    def path(self, locks: Path) -> Path:
        return lock_path(locks, self.model, self.engine, self.python, self.target)

    def command(self) -> str:
        where = f"--target {self.target}" if self.target else f"--python {self.python}"
        return f"modelenv lock {self.model} --engine {self.engine} {where}"


def target_change(path: Path, target: str, fingerprint: str | None) -> bool:
    """True when the lock at ``path`` was made from other content of ``target``
    (the target was recaptured since): says why a target's lock is stale."""
    try:
        header = parse_header(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return recaptured(header, target, fingerprint)


def recaptured(header: LockHeader | None, target: str, fingerprint: str | None) -> bool:
    """:func:`target_change` for a header already read."""
    return (
        header is not None
        and header.target == target
        and header.target_fingerprint is not None
        and header.target_fingerprint != fingerprint
    )


def orphan_locks(paths: Paths, expected: set[Path], tree: Tree | None = None) -> list[Path]:
    """Lockfiles under the locks folder (``locks/*/*/*.txt``; of ``tree``, its
    walk, when given) that no current spec variant or target produces. None is
    found through a linked folder: --prune must not delete a real lock by an
    alias."""
    if not paths.locks.is_dir():
        return []
    from .fsutil import walk

    found = (
        Path(name)
        for name, depth, regular in (tree or walk(paths.locks)).files
        if depth == 3 and regular and name.endswith(".txt")
    )
    return sorted(p for p in found if p not in expected and _is_lock(p))


def _is_lock(path: Path) -> bool:
    """A universal lock by its name, a target's lock by its header: --prune
    never removes a text file modelenv did not write."""
    if re.fullmatch(r"py\d+\.\d+\.txt", path.name):
        return True
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(16384)
    except (OSError, UnicodeDecodeError):
        return False
    header = parse_header(head)
    return header is not None and header.target == path.stem
