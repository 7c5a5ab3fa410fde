"""Which locks a specs folder produces: every (model, engine variant, Python
version) universal lock, and every (model, engine variant, target) lock, each
with its host-free plan. ``lock`` and ``lock --check`` start here; a library
caller can too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ModelenvError, UsageError
from .lockkey import LockKey
from .names import did_you_mean
from .paths import Paths, display
from .plan import Plan, load_model, make_plan
from .request import Request
from .spec import SpecError
from .spec.targets import load_targets
from .targeting import variant_targets

__all__ = ["LockSet", "Selection", "lock_set"]


@dataclass(frozen=True)
class Selection:
    """What to lock; an empty field means all. ``targets`` may hold "none":
    the universal locks."""

    models: Sequence[str] = ()
    engines: Sequence[str] = ()
    pythons: Sequence[str] = ()
    targets: Sequence[str] = ()
    base_python: str | None = None

    @property
    def narrowed(self) -> bool:
        """True when some locks are left out: orphans cannot be judged then."""
        return bool(self.models or self.engines or self.pythons or self.targets)


@dataclass
class LockSet:
    """The locks asked for, each with its host-free plan, and those whose plan
    failed (a target lacking a #system_NAME# package), with why."""

    planned: list[tuple[LockKey, Plan]] = field(default_factory=list)
    broken: list[tuple[LockKey, str]] = field(default_factory=list)

    @property
    def all(self) -> list[LockKey]:
        return [k for k, _ in self.planned] + [k for k, _ in self.broken]


def lock_set(paths: Paths, selection: Selection) -> LockSet:
    """Every (model, engine, python or target) ``selection`` asks for, with its
    plan (no host inspection). Usage errors for names that do not exist."""
    sel = selection
    models = list(sel.models) or paths.model_names()
    if not models:
        # Also for --check: a wrong folder must not turn the CI gate green.
        raise UsageError(
            f"no specs in {display(paths.specs)}", hint="run from the project, or pass --specs DIR"
        )
    targets = load_targets(paths.specs)
    for name in sel.targets:
        if name != "none" and name not in targets:
            raise UsageError(
                f"unknown target {name!r}{did_you_mean(name, targets)};"
                f" targets: {', '.join(sorted(targets)) or 'none'}"
            )
    for python in sel.pythons:
        if not re.fullmatch(r"\d+\.\d+", python):
            raise UsageError(f"--python {python!r}: expected X.Y, for example 3.11")
    out = LockSet()
    problems = []
    seen_engines: set[str] = set()
    for model in models:
        try:
            spec, _ = load_model(paths, model)
        except SpecError as exc:
            problems += exc.problems
            continue
        engines = [e or "default" for e in spec.variants()]
        seen_engines.update(engines)
        for engine in sel.engines:
            if engine not in engines and sel.models:
                raise UsageError(
                    f"model {model!r} has no variant {engine!r}; its variants: {', '.join(engines)}"
                )
        pythons = list(spec.env.python) or [f"{sys.version_info[0]}.{sys.version_info[1]}"]
        for python in sel.pythons:
            if python not in pythons and sel.models:
                raise UsageError(
                    f"model {model!r} lists Python {', '.join(pythons)} (env.python), not {python}"
                )
        universal: list[tuple[str, str | None]] = []
        if not sel.targets or "none" in sel.targets:
            universal = [(p, None) for p in pythons if not sel.pythons or p in sel.pythons]
        locked_for: set[str] = set()
        for engine in engines:
            if sel.engines and engine not in sel.engines:
                continue
            names = variant_targets(spec, engine, targets)
            locked_for.update(names)
            wanted = universal + [
                (targets[n].xy, n)
                for n in names
                if (not sel.targets or n in sel.targets)
                and (not sel.pythons or targets[n].xy in sel.pythons)
            ]
            for python, target_name in wanted:
                request = Request(
                    model=model,
                    engine=None if engine == "default" else engine,
                    python=python,
                    use_overrides=False,
                    base_python=sel.base_python,
                    base_beneath_venv=True,
                    target=target_name,
                )
                key = LockKey(model, engine, python, target_name)
                try:
                    out.planned.append((key, make_plan(paths, request, inspect_host=False)))
                except UsageError:
                    raise
                except ModelenvError as exc:
                    out.broken.append((key, str(exc)))
        for name in sel.targets:
            if name != "none" and name not in locked_for and sel.models:
                raise UsageError(
                    f"model {model!r} is not locked for target {name!r} (its env.python and"
                    f" targets keys); it is locked for: {', '.join(sorted(locked_for)) or 'none'}"
                )
    if problems:
        raise SpecError(problems)
    for engine in sel.engines:
        # A typo must not select nothing and pass as "0 locks up to date".
        if engine not in seen_engines:
            raise UsageError(
                f"unknown engine {engine!r}{did_you_mean(engine, sorted(seen_engines))};"
                f" the variants of these models: {', '.join(sorted(seen_engines))}"
            )
    return out
