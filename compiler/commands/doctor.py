"""Check environments against their locks: every locked package (whose markers
apply here) is installed at the locked version, in the environment or reused
from the host, and `uv pip check` is clean. Reports drift in plain words;
exit 1 when anything is wrong.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", metavar="MODEL", help="only this model")


def check_environment(path: Path, record: dict[str, Any]) -> list[str]:
    """Plain-words problems of one v4 environment; empty when healthy."""
    from .. import uv
    from ..delta import applies, satisfies
    from ..errors import ModelenvError
    from ..host import probe
    from ..lockfile import body_of, parse_lock_body, sha256_text
    from ..store import LOCK_NAME, env_python

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
        lock_text = (path / LOCK_NAME).read_text(encoding="utf-8")
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
    result = uv.run(["pip", "check", "--python", str(python)])
    if not result.ok:
        for line in (result.stdout + result.stderr).strip().splitlines():
            line = line.strip()
            if line.startswith("The package") and not _satisfied_elsewhere(line, seen):
                problems.append(f"uv pip check: {line}")
    return problems


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


def run(args: argparse.Namespace) -> int:
    from ..manage import scan, select

    paths, ui = context(args)
    entries = [
        e
        for e in select(scan(paths, sizes=False), args.model, None, None)
        if e.layout == "v4" and e.status != "partial"
    ]
    if not entries:
        ui.info(
            f"no environments under {paths.home}" + (f" for {args.model}" if args.model else "")
        )
        return 0
    bad = 0
    for e in entries:
        label = f"{e.model} [{e.engine}, py{e.python}]"
        if e.record is None:
            problems = ["no valid record (a build that never finished): 'modelenv gc' removes it"]
        else:
            problems = check_environment(e.path, e.record)
        if problems:
            bad += 1
            ui.result(f"problem {label}: {e.path}")
            for p in problems:
                ui.result(f"    {p}")
        else:
            ui.result(f"ok      {label}")
    ui.info(f"{len(entries) - bad} healthy, {bad} with problems")
    return 1 if bad else 0
