"""The offline lock check (``modelenv lock --check``): what is wrong with the
locks folder, as data, and that data as text lines or a JSON document.

No network, no uv: each lock against its spec (verify.examine), locks no spec
variant produces any more, and temporary files a killed lock left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paths import Paths, display

if TYPE_CHECKING:
    from .fsutil import Tree
    from .lockkey import LockKey
    from .plan import Plan
    from .ui import UI

__all__ = ["CheckResult", "LockProblem", "check_locks", "render_json", "render_text"]


@dataclass(frozen=True)
class LockProblem:
    path: str  # as shown: relative to the current folder when inside it
    # missing | stale | edited by hand | unreadable | does not satisfy its spec
    # | orphaned | left over | error
    status: str
    message: str
    fix: str  # the command that fixes it, without the --specs/--locks suffix
    key: LockKey | None = None
    details: tuple[str, ...] = ()  # what is wrong inside the lock


@dataclass(frozen=True)
class CheckResult:
    total: int
    problems: list[LockProblem] = field(default_factory=list)
    # index fingerprint recorded in the locks -> the locks (shown with -v)
    index_settings: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.status] = out.get(p.status, 0) + 1
        return out


def check_locks(
    paths: Paths,
    planned: Sequence[tuple[LockKey, Plan]],
    broken: Sequence[tuple[LockKey, str]],
    orphans: Sequence[Path],
    tree: Tree | None = None,
) -> CheckResult:
    """What is wrong with the locks ``planned`` (and ``broken``, whose plan
    failed), with ``orphans``, and with temporary files left in locks/ (from
    ``tree``, its walk, when given)."""
    from .fsutil import stale_temps
    from .lockkey import recaptured
    from .verify import Examiner, Status

    examine = Examiner().examine
    problems: list[LockProblem] = []
    index_settings: dict[str, list[Path]] = {}
    for key, why in broken:
        path = display(key.path(paths.locks))
        problems.append(LockProblem(path, "error", why, key.command(), key))
    for key, plan in planned:
        lock = key.path(paths.locks)
        check = examine(lock, plan)
        if check.header is not None:
            index_settings.setdefault(check.header.index_fingerprint, []).append(lock)
        if check.ok:
            continue
        message = check.status.value
        if (
            check.status is Status.STALE
            and key.target
            and recaptured(check.header, key.target, plan.target_fingerprint)
        ):
            message = f"stale: target {key.target} changed since it was locked (recaptured)"
        details = tuple(str(problem) for problem in check.problems)
        problems.append(
            LockProblem(display(lock), check.status.value, message, key.command(), key, details)
        )
    for orphan in orphans:
        problems.append(
            LockProblem(
                display(orphan), "orphaned", "no spec variant produces it", "modelenv lock --prune"
            )
        )
    for tmp in stale_temps(paths.locks, tree) if paths.locks.is_dir() else []:
        problems.append(
            LockProblem(
                display(tmp), "left over", "left by a lock that was killed", "modelenv lock"
            )
        )
    return CheckResult(len(planned) + len(broken), problems, index_settings)


def render_text(result: CheckResult, ui: UI, flags: str = "") -> None:
    """One line per problem on stdout (errors on stderr), a summary with -q hidden."""
    for p in result.problems:
        if p.status == "error":
            print(f"modelenv: error: {p.key}: {p.message}", file=ui.err, flush=True)
        else:
            ui.result(f"{p.path}: {p.message}; run: {p.fix}{flags}")
            for detail in p.details:
                ui.result(f"    {p.key.model if p.key else p.path}: {detail}")
    if len(result.index_settings) > 1:
        _report_index_settings(ui, result.index_settings)
    if not result.problems:
        ui.info(f"{result.total} {_plural(result.total, 'lock')} up to date")
        return
    bad = sum(1 for p in result.problems if p.key is not None)
    extra = len(result.problems) - bad
    fixes = [f"modelenv lock{flags}"]
    if extra:
        fixes.append(f"modelenv lock --prune{flags}")
    ui.info(
        f"{bad} of {result.total} {_plural(result.total, 'lock')} missing, stale, edited"
        " or invalid"
        + (f", {extra} orphaned or left over" if extra else "")
        + f" (fix: {'; '.join(fixes)})"
    )


def render_json(result: CheckResult, flags: str = "") -> str:
    from .ui import json_document

    doc: dict[str, Any] = {
        "ok": not result.problems,
        "total": result.total,
        "counts": result.counts,
        "problems": [
            {
                "path": p.path,
                "status": p.status,
                "message": p.message,
                "model": p.key.model if p.key else None,
                "engine": p.key.engine if p.key else None,
                "python": p.key.python if p.key else None,
                "target": p.key.target if p.key else None,
                "fix": p.fix + flags,
                "details": list(p.details),
            }
            for p in result.problems
        ],
    }
    return json_document(doc)


def _report_index_settings(ui: UI, groups: dict[str, list[Path]]) -> None:
    """-v: locks whose hashes came through different index settings (a partial
    mirror gives fewer hashes than the full index). Fingerprints only: the
    settings themselves may hold credentials."""
    ui.detail(f"locks were made through {len(groups)} different index settings:")
    for fingerprint, locks in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(display(p) for p in locks[:3]) + (", ..." if len(locks) > 3 else "")
        ui.detail(f"    {fingerprint[:19] or 'none recorded'}: {len(locks)} locks ({shown})")
    ui.detail("    to take every hash from the current index: modelenv lock --refresh-hashes")


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
