"""Is an environment what its lock says? Used before a build goes live and by
``doctor`` and ``list --verify`` after.

Two questions:
- drift: every locked package whose markers apply here is installed at the
  locked version, in the environment or reused from the host;
- closure: every installed package's own requirements are met (``uv pip
  check``), counting the host packages the environment is layered on, which
  uv does not see.

Both read every dist-info, so the launch fast path never asks them (it stays
stat-only); ``doctor`` is where drift is found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import uv
from .errors import ModelenvError
from .host import probe
from .lockfile import body_of, parse_lock_body, sha256_text
from .store import LOCK_NAME, env_python, read_own

__all__ = ["check_environment", "closure_problems", "repairable"]


def closure_problems(
    python: Path, seen: dict[str, Any] | None = None, reported: list[str] | None = None
) -> list[str]:
    """What ``uv pip check`` finds missing or conflicting for the environment
    of ``python``, less what the host provides; ``seen`` is its :func:`probe`.
    ``reported``: what uv already found (``uv pip install --strict``, worded
    the same): no second uv run."""
    if reported is None:
        result = uv.run(uv.check_command(str(python)))
        if result.ok:
            return []
        reported = (result.stdout + result.stderr).strip().splitlines()
    reported = [line.strip() for line in reported if line.strip().startswith("The package")]
    if not reported:
        return []
    # Probed only now: a clean check (every cold build) needs no second
    # interpreter start, which costs a cold create a tenth of a second or more.
    if seen is None:
        seen = probe(str(python), "environment interpreter")
    return [line for line in reported if not _satisfied_elsewhere(line, seen)]


def _satisfied_elsewhere(line: str, seen: dict[str, Any]) -> bool:
    """uv pip check looks only inside the environment; a requirement met by a
    package reused from the host (system site-packages) is not a problem."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    parts = line.split("`")
    if "but it's not installed" not in line or len(parts) < 4:
        return False
    try:
        req = Requirement(parts[3])
    except InvalidRequirement:
        return False
    if req.marker is not None and not req.marker.evaluate(seen["markers"]):
        return True
    found = seen["packages"].get(canonicalize_name(req.name))
    return found is not None and req.specifier.contains(found[0], prereleases=True)


def repairable(path: Path, record: dict[str, Any]) -> bool:
    """Can the environment be rebuilt from what it holds: its base interpreter
    and an intact lock copy?"""
    base = str(record.get("base", {}).get("executable", ""))
    try:
        lock_text = read_own(path, LOCK_NAME).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return Path(base).exists() and sha256_text(lock_text) == record.get("lock_sha256")


def check_environment(path: Path, record: dict[str, Any]) -> list[str]:
    """Plain-words problems of one v4 environment; empty when healthy."""
    problems = []
    base = record.get("base", {}).get("executable", "")
    if not Path(base).exists():
        problems.append(f"its base interpreter {base} is gone: 'modelenv create' rebuilds it")
    python = env_python(path)
    try:
        seen = probe(str(python))
    except ModelenvError:
        return [*problems, f"its interpreter {python} does not start"]
    try:
        lock_text = read_own(path, LOCK_NAME).decode("utf-8")
    except OSError:
        return [*problems, f"its lock copy {LOCK_NAME} is missing"]
    if record.get("lock_sha256") not in (None, sha256_text(lock_text)):
        return [
            *problems,
            f"its lock copy {LOCK_NAME} was changed after the build:"
            " 'modelenv create --force' rebuilds it",
        ]
    try:
        locked = parse_lock_body(body_of(lock_text))
    except ModelenvError as exc:
        return [*problems, f"its lock copy {LOCK_NAME} is unreadable: {exc.message}"]
    from .delta import applies, satisfies

    prefix = str(Path(seen["prefix"]).resolve())
    for pkg in locked:
        if not applies(pkg.marker, seen["markers"]):
            continue
        found = seen["packages"].get(pkg.name)
        if found is None:
            pinned = f"locked at {pkg.version}" if pkg.version else "locked (direct URL)"
            problems.append(f"{pkg.name}: {pinned}, not installed")
            continue
        version, location = found
        where = (
            "in the environment"
            if str(Path(location).resolve()).startswith(prefix)
            else (f"from the host ({location})")
        )
        if pkg.version and not satisfies(version, pkg.version):
            problems.append(f"{pkg.name}: locked at {pkg.version}, found {version} {where}")
    problems += [f"uv pip check: {line}" for line in closure_problems(python, seen)]
    return problems
