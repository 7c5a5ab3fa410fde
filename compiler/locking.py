"""Compiling plans into lockfiles, and checking lockfiles against their specs.

A lock is made from the spec alone (engine defaults, ``[env]``, ``[engines.E]``):
user overrides and ``-p`` never go into a committed lock.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from . import __version__, uv
from .fsutil import atomic_write
from .lockerrors import BuildContext, explain
from .lockfile import body_of, lock_path, parse_header, sha256_text
from .paths import Paths
from .plan import FINGERPRINT_SCHEME, Plan

__all__ = ["Status", "Target", "check_lock", "compile_lock", "orphan_locks"]


@dataclass(frozen=True)
class Target:
    model: str
    engine: str  # "default" or an engine name
    python: str

    def __str__(self) -> str:
        return f"{self.model} [{self.engine}, py{self.python}]"

    def path(self, locks: Path) -> Path:
        return lock_path(locks, self.model, self.engine, self.python)

    def command(self) -> str:
        return f"modelenv lock {self.model} --engine {self.engine} --python {self.python}"


class Status(str, Enum):
    UP_TO_DATE = "up to date"
    MISSING = "missing"
    STALE = "stale"
    EDITED = "edited by hand"
    UNREADABLE = "unreadable"


def check_lock(path: Path, fingerprint: str) -> Status:
    """Offline: does the lock at ``path`` exist, match ``fingerprint`` and its own body?"""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Status.MISSING
    except (OSError, UnicodeDecodeError):
        return Status.UNREADABLE
    header = parse_header(text)
    if header is None or header.scheme != FINGERPRINT_SCHEME:
        return Status.UNREADABLE
    if header.fingerprint != fingerprint:
        return Status.STALE
    if header.body_sha256 != sha256_text(body_of(text)):
        return Status.EDITED
    return Status.UP_TO_DATE


@dataclass(frozen=True)
class CompileResult:
    ok: bool
    packages: int = 0
    error: str = ""


def compile_lock(
    plan: Plan,
    path: Path,
    *,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    offline: bool = False,
    python_downloads: bool = False,
) -> CompileResult:
    """Resolve ``plan`` with uv and write the lock to ``path`` atomically.

    Existing pins are kept: the current lock is given to uv as its output file,
    which uv reads as preferences, unless ``upgrade``.
    """
    with tempfile.TemporaryDirectory(prefix="modelenv-lock-") as tmp:
        folder = Path(tmp)
        # Relative names: uv writes "# via -r <name>" into the lock, which must
        # not carry a machine's temporary path.
        req_in = f"{plan.spec.name}.in"
        (folder / req_in).write_text("\n".join(plan.requirements()) + "\n", encoding="utf-8")
        constraints = None
        if plan.constraints():
            constraints = f"{plan.spec.name}.constraints.txt"
            (folder / constraints).write_text("\n".join(plan.constraints()) + "\n")
        out = folder / "lock.txt"
        if path.exists() and not upgrade:
            shutil.copyfile(path, out)
        args = uv.compile_command(
            req_in,
            out.name,
            python_version=plan.python,
            python=plan.interpreter.executable if plan.interpreter else None,
            python_downloads=python_downloads,
            index_args=plan.index.uv_args(),
            constraints=constraints,
            exclude_newer=plan.spec.env.exclude_newer,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            offline=offline,
        )
        result = uv.run(args, cwd=folder)
        if not result.ok:
            return CompileResult(False, error=explain(result.stderr or result.stdout, _build(plan)))
        body = out.read_text(encoding="utf-8")
    text = render_lock(plan, body)
    atomic_write(path, text)
    count = sum(
        1
        for line in body.splitlines()
        if line and not line[0].isspace() and not line.startswith("#")
    )
    return CompileResult(True, packages=count)


def _build(plan: Plan) -> BuildContext:
    setting = plan.index.values.get("no_build_isolation")
    interp = plan.interpreter
    return BuildContext(
        plan.python,
        f"Python {interp.version} ({interp.executable})" if interp else None,
        setting.source if setting is not None and setting.value else None,
    )


def builds_line(plan: Plan) -> str:
    """How this lock's source distributions are built, for the header: the
    interpreter's version (never its path: a committed lock is shared)."""
    build = _build(plan)
    interp = plan.interpreter
    who = (
        f"Python {interp.version} (the base interpreter)"
        if interp
        else f"the Python {plan.python} uv finds (none found by modelenv)"
    )
    if build.no_build_isolation_from is None:
        return f"{who}, in isolated build environments"
    return f"{who}, without build isolation ({build.no_build_isolation_from})"


def render_lock(plan: Plan, body: str) -> str:
    engine = plan.engine_name
    requirements = [
        {
            "written": r.text,
            "expanded": r.entry.expand(plan.system.get(r.key)),
            "origin": str(r.origin),
        }
        for r in plan.merged.requirements
    ]
    constraints = [{"written": r.text, "origin": str(r.origin)} for r in plan.merged.constraints]
    from .render import render  # jinja2: only when a lock is written

    header = render(
        "lock_header.j2",
        modelenv_version=__version__,
        uv_version=uv.uv_version(),
        command=f"modelenv lock {plan.spec.name} --engine {engine} --python {plan.python}",
        spec_path=f"{plan.spec_path.parent.name}/{plan.spec_path.name}",
        model=plan.spec.name,
        engine=engine,
        python=plan.python,
        builds=builds_line(plan),
        requirements=requirements,
        constraints=constraints,
        system=plan.system,
        # The version, not the path: a committed lock must not carry a machine's paths.
        base=f"Python {plan.interpreter.version}" if plan.interpreter else "no interpreter found",
        scheme=FINGERPRINT_SCHEME,
        fingerprint=plan.fingerprint(),
        index_fingerprint=plan.index.fingerprint(),
        system_json=json.dumps(plan.system, sort_keys=True),
        body_sha256=sha256_text(body),
    )
    return header + "\n" + body


def orphan_locks(paths: Paths, expected: set[Path]) -> list[Path]:
    """Lockfiles under the locks folder that no current spec variant produces."""
    if not paths.locks.is_dir():
        return []
    return sorted(p for p in paths.locks.glob("*/*/py*.txt") if p not in expected and p.is_file())
