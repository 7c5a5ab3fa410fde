"""Compiling plans into lockfiles, and checking lockfiles against their specs.

A lock is made from the spec alone (engine defaults, ``[env]``, ``[engines.E]``):
user overrides and ``-p`` never go into a committed lock.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__, uv
from .errors import ModelenvError
from .fsutil import atomic_write
from .host import Interpreter, inspect_interpreter
from .lockerrors import LockContext, explain
from .lockfile import Lock, body_of, parse_lock, sha256_text
from .lockkey import LockKey
from .plan import FINGERPRINT_SCHEME, NO_FACTS, Plan
from .requirements import Entry
from .verify import Status, environments, expected_of, verify_body

__all__ = ["CompileResult", "Status", "compile_lock"]


def _existing(path: Path) -> Lock | None:
    try:
        return parse_lock(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ModelenvError):
        return None


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
    preferences: str | None = None,
    keep_pins: bool = False,
) -> CompileResult:
    """Resolve ``plan`` with uv and write the lock to ``path`` atomically.

    Existing pins are kept unless ``upgrade``: uv reads the pins of its output
    file as preferences. That file only ever holds pins (``preferences``, else
    those of the lock at ``path``), never hashes: uv keeps the hashes it finds
    in an output file, so a hand-edited or forged lock would otherwise pass its
    hashes on to the new one. Every hash comes from the index. For a target's
    lock, the file also holds the target's installed versions (ahead of the
    lock's own pins, and kept with ``upgrade``): uv keeps the host's version of
    a package wherever the requirements allow it, so an environment holds only
    the delta.

    ``keep_pins`` (--refresh-hashes): fail, writing nothing, when a pin moved.
    The new body is verified against the plan before it is written.
    """
    previous = _existing(path)
    if preferences is None and previous is not None:
        preferences = previous.preferences()
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
        if plan.host is not None:
            out.write_text(_preferences(plan, path, upgrade, upgrade_packages), encoding="utf-8")
            upgrade = False  # uv would ignore the host's versions too
        elif preferences and not upgrade:
            out.write_text(preferences, encoding="utf-8")
        args = uv.compile_command(
            req_in,
            out.name,
            python_version=plan.host.python if plan.host else plan.python,
            python=_build_python(plan),
            python_downloads=python_downloads,
            index_args=plan.index.uv_args(),
            constraints=constraints,
            exclude_newer=plan.spec.env.exclude_newer,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            offline=offline,
            python_platform=plan.host.platform if plan.host else None,
        )
        result = uv.run(args, cwd=folder, env=plan.index.uv_env())
        if not result.ok:
            return CompileResult(False, error=explain(result.stderr or result.stdout, _build(plan)))
        body = out.read_text(encoding="utf-8")
    try:
        packages = parse_lock(body).packages
    except ModelenvError as exc:
        return CompileResult(False, error=f"uv wrote a lock modelenv cannot read: {exc.message}")
    if keep_pins and previous is not None:
        moved = _moved_pins(previous, {p.pin for p in packages})
        if moved:
            return CompileResult(False, error=moved)
    problems = verify_body(
        packages, expected_of(plan.merged, plan.system, plan.facts), environments(plan)
    )
    if problems:
        return CompileResult(
            False,
            error="the new lock does not satisfy the spec:\n" + "\n".join(map(str, problems)),
        )
    atomic_write(path, render_lock(plan, body))
    return CompileResult(True, packages=len(packages))


def _moved_pins(previous: Lock, now: set[str]) -> str:
    before = {p.pin for p in previous.packages}
    if before == now:
        return ""
    lines = [f"    - {pin}" for pin in sorted(before - now)]
    lines += [f"    + {pin}" for pin in sorted(now - before)]
    return (
        "refreshing hashes would change pins (a pinned version is no longer on the index,"
        " or the spec changed):\n" + "\n".join(lines)
    )


def _build_python(plan: Plan) -> str | None:
    # Source builds run on this interpreter (without isolation, in it).
    interp, _ = build_interpreter(plan)
    return interp.executable if interp else None


def build_interpreter(plan: Plan) -> tuple[Interpreter | None, str]:
    """The interpreter source distributions are built with, and what it is: the
    base interpreter; for a target's lock, the target's own interpreter when
    this machine has it at the captured version (a target captured here)."""
    if plan.host is None:
        return plan.interpreter, "the base interpreter"
    name = plan.host.source.removeprefix("target ")
    from .spec.targets import load_targets

    target = load_targets(plan.spec_path.parent).get(name)
    path = target.capture.interpreter if target is not None else None
    if not path or not os.path.isfile(path):
        return None, f"target {name}'s interpreter"
    try:
        interp = inspect_interpreter(path)
    except ModelenvError:
        return None, f"target {name}'s interpreter"
    if interp.version != plan.host.python:
        return None, f"target {name}'s interpreter"
    return interp, f"target {name}'s interpreter"


def _build(plan: Plan) -> LockContext:
    setting = plan.index.values.get("no_build_isolation")
    interp, _ = build_interpreter(plan)
    base = plan.interpreter
    host = (
        plan.host.source
        if plan.host is not None
        else (f"the base interpreter {base.executable}" if base else "the base interpreter")
    )
    return LockContext(
        plan.python,
        f"Python {interp.version} ({interp.executable})" if interp else None,
        setting.source if setting is not None and setting.value else None,
        dict(plan.system),
        host,
    )


def builds_line(plan: Plan) -> str:
    """How this lock's source distributions are built, for the header: the
    interpreter's version (never its path: a committed lock is shared)."""
    build = _build(plan)
    interp, what = build_interpreter(plan)
    python = plan.host.python if plan.host is not None else plan.python
    if interp is not None:
        who = f"Python {interp.version} ({what})"
    elif plan.host is None:
        who = f"the Python {python} uv finds (modelenv found none)"
    else:
        who = f"the Python {python} uv finds ({what} is not on this machine)"
    if build.no_build_isolation_from is None:
        return f"{who}, in isolated build environments"
    return f"{who}, without build isolation ({build.no_build_isolation_from})"


def _preferences(plan: Plan, path: Path, upgrade: bool, upgrade_packages: Sequence[str]) -> str:
    """A seed output file for a target's lock: the host's versions, then the
    existing lock's pins for packages the host does not have."""
    from .lockfile import parse_lock_body

    assert plan.host is not None
    pins = dict(plan.host.packages)
    if path.exists() and not upgrade:
        try:
            for locked in parse_lock_body(body_of(path.read_text(encoding="utf-8"))):
                if locked.version:
                    pins.setdefault(locked.name, locked.version)
        except (OSError, UnicodeDecodeError, ModelenvError):
            pass  # an unreadable lock is only a lost preference
    from packaging.utils import canonicalize_name

    dropped = {canonicalize_name(p) for p in upgrade_packages}
    return "".join(f"{k}=={v}\n" for k, v in sorted(pins.items()) if k not in dropped)


def render_lock(plan: Plan, body: str) -> str:
    engine = plan.engine_name
    requirements = [
        {
            "written": r.text,
            "expanded": _resolved(plan, r.entry),
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
        command=LockKey(plan.spec.name, engine, plan.python, plan.target).command(),
        spec_path=f"{plan.spec_path.parent.name}/{plan.spec_path.name}",
        model=plan.spec.name,
        engine=engine,
        python=plan.python,
        builds=builds_line(plan),
        requirements=requirements,
        constraints=constraints,
        system=plan.system,
        base=_base(plan),
        target=plan.target,
        target_platform=plan.host.platform if plan.host else "",
        target_fingerprint=plan.target_fingerprint,
        scheme=FINGERPRINT_SCHEME,
        fingerprint=plan.fingerprint(),
        index_fingerprint=plan.index.fingerprint(),
        system_json=json.dumps(plan.system, sort_keys=True),
        body_sha256=sha256_text(body),
    )
    return header + "\n" + body


def _resolved(plan: Plan, entry: Entry) -> str:
    text = entry.resolve(plan.system.get(entry.key), NO_FACTS if plan.facts is None else plan.facts)
    return "left out: its host facts do not hold" if text is None else text


def _base(plan: Plan) -> str:
    if plan.host is not None:
        return f"target {plan.target}, Python {plan.host.python}"
    # The version, not the path: a committed lock must not carry a machine's paths.
    return f"Python {plan.interpreter.version}" if plan.interpreter else "no interpreter found"
