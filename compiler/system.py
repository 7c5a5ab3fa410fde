"""``#system_NAME#`` pinned to a host: a captured target's recorded versions,
or the base interpreter's. The plan (plan.py) asks; nothing here runs uv.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import indexes
from .errors import ModelenvError, UsageError
from .host import HostFacts, Interpreter
from .merge import Requirement
from .names import did_you_mean
from .paths import Paths, display
from .request import Request

if TYPE_CHECKING:
    from .markers import FactValue
    from .spec import Spec

__all__ = ["interpreter_system", "target_host", "target_system"]


def target_host(
    paths: Paths, spec: Spec, request: Request
) -> tuple[HostFacts, str, indexes.IndexSettings]:
    """The target a request names, as host facts, with its fingerprint and index."""
    from .spec.targets import TARGETS_DIR, load_targets

    name = request.target
    assert name is not None
    targets = load_targets(paths.specs)
    target = targets.get(name)
    if target is None:
        raise UsageError(
            f"unknown target {name!r}{did_you_mean(name, targets)}; targets in"
            f" {display(paths.specs / TARGETS_DIR)}: {', '.join(sorted(targets)) or 'none'}"
        )
    listed = list(spec.env.python)
    if listed and target.xy not in listed:
        raise UsageError(
            f"target {name!r} is Python {target.python.version}; model {spec.name!r} lists"
            f" Python {', '.join(listed)} (env.python)"
        )
    if request.python and request.python != target.xy:
        raise UsageError(f"target {name!r} is Python {target.python.version}, not {request.python}")
    shown = f"{display(paths.specs / TARGETS_DIR / (name + '.toml'))} [index]"
    index = indexes.from_spec(target.index, shown, (paths.specs / TARGETS_DIR).absolute())
    return HostFacts.from_target(name, target), target.fingerprint(), index


def target_system(
    host: HostFacts, name: str, system_keys: list[Requirement]
) -> dict[str, str | None]:
    """``#system_NAME#`` pinned to the target's versions, local labels kept; a
    package the target lacks is an error (unless its marker excludes the target)."""
    system: dict[str, str | None] = {}
    for req in system_keys:
        version = host.version_of(req.key)
        marker = req.entry.marker
        if version is None and (marker is None or host.evaluate(marker)):
            raise ModelenvError(
                f"{req.entry.text} ({req.origin}): target {name!r} has no {req.entry.name}",
                hint=f"install {req.entry.name} in the image and recapture it ('modelenv target"
                f" capture {name}'), or leave the target out with [env] targets = [...]",
            )
        system[req.key] = version
    return system


def interpreter_system(
    interpreter: Interpreter | None,
    system_keys: list[Requirement],
    request: Request,
    warnings: list[str],
    *,
    building: bool,
    facts: Mapping[str, FactValue],
) -> dict[str, str | None]:
    """``#system_NAME#`` pinned to the base interpreter's versions. A package it
    lacks is left unpinned with a warning when locking or showing; when building
    an environment (create, run, ensure_env) it is an error: the entry means
    "the host's NAME", and an unpinned one would install a NAME the host was
    never meant to get (a several-GB torch build of the index's choosing)."""
    from . import markers

    system: dict[str, str | None] = {}
    for req in system_keys:
        version = interpreter.version_of(req.key) if interpreter else None
        system[req.key] = version
        if version is None and interpreter is not None:
            marker = req.entry.marker
            if marker and not markers.evaluate(marker, facts, interpreter.markers):
                continue  # not meant for this host: nothing to pin
            if building:
                name = req.entry.name
                raise ModelenvError(
                    f"{req.entry.text} ({req.origin}): the base interpreter"
                    f" {interpreter.executable} has no {name}",
                    hint=f"name the interpreter that has it (--base-python PATH, base_python="
                    " in ensure_env(), or base_python in the overrides file), install"
                    f" {name} into it, or let modelenv install its own with -p {name}",
                )
            msg = (
                f"{req.entry.text}: the base interpreter {interpreter.executable} has no"
                f" {req.entry.name}; it is left unpinned"
            )
            if request.strict_system:
                raise ModelenvError(
                    msg.replace("; it is left unpinned", ""),
                    hint=f"install {req.entry.name} into the base interpreter,"
                    " or drop --strict-system",
                )
            warnings.append(msg)
    return system
