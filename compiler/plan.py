"""A plan: everything known about one (model, engine, Python version) before uv runs.

It loads the spec, engine defaults and overrides, merges the layers, finds the
base interpreter, expands ``#system_NAME#`` against it and layers the index
settings. ``show`` prints a plan, ``lock`` compiles one, ``create`` builds one.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import indexes
from .errors import ModelenvError, UsageError
from .fastio import sha256_hex
from .host import HostFacts, Interpreter, find_interpreter
from .merge import Layer, Merged, Requirement, merge
from .names import did_you_mean
from .paths import Paths, display
from .probecache import use_home
from .request import Request
from .requirements import Entry, Kind
from .spec import Engines, Overrides, Spec, load_engines, load_overrides, load_spec
from .store import overrides_file, select_python
from .system import interpreter_system, target_host, target_system

if TYPE_CHECKING:
    from .markers import FactValue

__all__ = ["FINGERPRINT_SCHEME", "Plan", "load_model", "make_plan", "pick_python"]

FINGERPRINT_SCHEME = "modelenv-lock-v1"
DEFAULT_ENGINE = "default"
# The facts a universal lock assumes: a bare host, no accelerator.
NO_FACTS: Mapping[str, FactValue] = {"has_cuda": False, "cuda_version": None, "has_npu": False}


@dataclass(frozen=True)
class Plan:
    spec: Spec
    spec_path: Path
    engine: str | None
    python: str
    merged: Merged
    spec_merged: Merged  # engine defaults + spec only: what a committed lock is made from
    interpreter: Interpreter | None
    system: dict[str, str | None]  # canonical name -> host version, for #system_NAME#
    index: indexes.IndexSettings
    warnings: tuple[str, ...] = ()
    # For a target's lock: the target's name, its content fingerprint and its facts.
    target: str | None = None
    target_fingerprint: str | None = None
    host: HostFacts | None = None
    facts: Mapping[str, FactValue] | None = None  # host facts markers test; None: NO_FACTS

    @property
    def engine_name(self) -> str:
        return self.engine or DEFAULT_ENGINE

    @property
    def overridden(self) -> bool:
        """True when overrides or -p change what the spec alone asks for."""
        return _texts(self.merged) != _texts(self.spec_merged)

    def requirements(self) -> list[str]:
        """The requirements uv resolves: placeholders expanded, host-fact markers
        evaluated (an entry they exclude is left out)."""
        facts = NO_FACTS if self.facts is None else self.facts
        out = []
        for r in self.merged.requirements:
            text = r.entry.resolve(self.system.get(r.key), facts)
            if text is not None:
                out.append(text)
        return out

    def constraints(self) -> list[str]:
        return [r.text for r in self.merged.constraints]

    def fingerprint(self) -> str:
        return input_fingerprint(self)


def _texts(merged: Merged) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (
        tuple(r.text for r in merged.requirements),
        tuple(r.text for r in merged.constraints),
    )


def _normalised(req: Requirement) -> str:
    return _normalised_entry(req.entry)


@functools.lru_cache(maxsize=16384)
def _normalised_entry(entry: Entry) -> str:
    if entry.kind is Kind.SYSTEM:
        return f"#system_{entry.key}#" + (f" ; {entry.marker}" if entry.marker else "")
    from packaging.requirements import Requirement as Pep508

    parsed = Pep508(entry.requirement or entry.text)
    parsed.name = entry.key
    return str(parsed) + (f" ; {entry.marker}" if entry.requirement else "")


def input_fingerprint(plan: Plan) -> str:
    """sha256 over the spec's own inputs, canonical and sorted; never machine facts."""
    spec = plan.spec
    index = spec.env.index
    data = {
        "scheme": FINGERPRINT_SCHEME,
        "model": spec.name,
        "engine": plan.engine_name,
        "python": plan.python,
        "packages": sorted(_normalised(r) for r in plan.spec_merged.requirements),
        "constraints": sorted(_normalised(r) for r in plan.spec_merged.constraints),
        "exclude_newer": spec.env.exclude_newer,
        "index": None if index is None else index.given(),
    }
    if plan.target is not None:
        # Only target locks carry it: universal fingerprints stay as they were.
        data["target"] = {"name": plan.target, "fingerprint": plan.target_fingerprint}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + sha256_hex(blob)


def load_model(paths: Paths, model: str) -> tuple[Spec, Engines]:
    """A model's validated spec and its folder's engines; exit 2 for an unknown model."""
    spec_path = paths.spec_path(model)
    if not paths.specs.is_dir():
        raise UsageError(
            f"unknown model {model!r}: the specs folder {paths.specs} does not exist",
            hint="run from the project folder, or name the folder: --specs DIR,"
            " ensure_env(..., specs=DIR) or MODELENV_SPECS",
        )
    # A FIFO or a folder in its place is not unknown: load_spec says what it is.
    if "/" in model or "\\" in model or not os.path.lexists(spec_path):
        known = paths.model_names()
        raise UsageError(
            f"unknown model {model!r}{did_you_mean(model, known)}; models in"
            f" {display(paths.specs)}: {', '.join(known) or 'none'}"
        )
    engines = load_engines(paths.specs)
    st = spec_path.stat()
    return _load_spec_cached(spec_path, st.st_mtime_ns, st.st_size, st.st_ino, engines), engines


@functools.lru_cache(maxsize=4096)
def _load_spec_cached(path: Path, _mtime: int, _size: int, _ino: int, engines: Engines) -> Spec:
    # lock loads each spec once per target; a stat-keyed cache makes it once per run.
    return load_spec(path, engines)


def pick_python(spec: Spec, requested: str | None, preferred: str | None = None) -> str:
    """The Python X.Y to use (see store.select_python); a requested version the
    spec does not list is a usage error."""
    listed = list(spec.env.python)
    if requested and listed and requested not in listed:
        raise UsageError(
            f"model {spec.name!r} lists Python {', '.join(listed)} (env.python), not {requested}"
        )
    return select_python(listed, requested, preferred)


def _layers(spec: Spec, spec_path: Path, engines: Engines, engine: str | None) -> list[Layer]:
    shown = display(spec_path)
    layers: list[Layer] = []
    variant = None if engine is None else spec.engines[engine]
    if engine is not None and variant is not None and variant.defaults:
        defaults = engines.defaults[engine]
        layers.append(
            Layer(
                display(engines.path), f"engine {engine}", defaults.packages, defaults.constraints
            )
        )
    layers.append(Layer(shown, "env", spec.env.packages, spec.env.constraints))
    if variant is not None:
        layers.append(Layer(shown, f"engines.{engine}", variant.packages, variant.constraints))
    elif spec.default is not None:
        own = spec.default
        layers.append(Layer(shown, "default", own.packages, own.constraints))
    return layers


def _overrides_path(paths: Paths, request: Request) -> Path | None:
    path = overrides_file(paths, request)
    if path is not None and not os.path.lexists(path):
        raise UsageError(f"overrides file {display(path)} does not exist")
    # Anything else that is not a regular file (a FIFO, a folder) the loader names.
    return path


def _base_python(
    request: Request, overrides: Overrides | None, path: Path | None, model: str
) -> tuple[str | None, str | None]:
    """(the base interpreter asked for, where): ``--base-python`` or
    ``base_python=``, else ``MODELENV_BASE_PYTHON``, else the overrides file's
    ``[models.MODEL]`` then ``[global]`` ``base_python``; (None, None) for the default."""
    if request.base_python:
        return request.base_python, None
    if os.environ.get("MODELENV_BASE_PYTHON") or overrides is None or path is None:
        return None, None  # find_interpreter reads the variable
    for section, where in (
        (overrides.models.get(model), f"models.{model}"),
        (overrides.global_, "global"),
    ):
        if section is not None and section.base_python:
            value = section.base_python
            if os.sep in value or (os.altsep and os.altsep in value):
                value = str(path.parent / os.path.expanduser(value))
            return value, f"base_python in {display(path)} [{where}]"
    return None, None


def _check_engine(spec: Spec, engine: str | None) -> str | None:
    if engine in (None, DEFAULT_ENGINE):
        if not spec.has_default:
            why = (
                "[default] enabled = false"
                if spec.default is not None and not spec.default.enabled
                else "env.packages is empty"
            )
            raise UsageError(
                f"model {spec.name!r} has no default variant ({why});"
                f" choose an engine: {', '.join(sorted(spec.engines))}"
            )
        return None
    if engine not in spec.engines:
        known = sorted(spec.engines)
        raise UsageError(
            f"model {spec.name!r} has no engine {engine!r}{did_you_mean(engine, known)};"
            f" its engines: {', '.join(known) or 'none'}"
        )
    return engine


def make_plan(
    paths: Paths,
    request: Request,
    *,
    inspect_host: bool = True,
    require_interpreter: bool = False,
    env: dict[str, str] | None = None,
    facts: Mapping[str, FactValue] | None = None,
) -> Plan:
    """The plan for ``request``. Without ``require_interpreter`` (locking), a
    missing X.Y interpreter only leaves ``#system_NAME#`` entries unpinned.

    With ``request.target``, the plan is for that captured host: its Python
    version, its versions for ``#system_NAME#``, its facts and index settings;
    no interpreter is inspected. Otherwise host-fact markers are evaluated
    against ``facts`` (a live host's, see :func:`compiler.host.host_facts`),
    else as for a host without CUDA or NPU (:data:`NO_FACTS`).
    """
    spec, engines = load_model(paths, request.model)
    engine = _check_engine(spec, request.engine)
    spec_path = paths.spec_path(request.model)
    layers = _layers(spec, spec_path, engines, engine)
    spec_merged = merge(layers)
    spec_layers = len(layers)

    overrides_path = _overrides_path(paths, request)
    overrides: Overrides | None = None
    override_warnings: list[str] = []
    if overrides_path is not None:
        overrides, override_warnings = load_overrides(
            overrides_path, paths.model_names(), paths.specs
        )
        shown = display(overrides_path)
        layers.append(
            Layer(shown, "global", overrides.global_.packages, overrides.global_.constraints, True)
        )
        section = overrides.models.get(spec.name)
        if section is not None:
            layers.append(
                Layer(shown, f"models.{spec.name}", section.packages, section.constraints, True)
            )
    if request.packages:
        layers.append(Layer("command line", "", tuple(request.packages), (), True))
    # merge is pure: with nothing layered over the spec, its result is spec_merged.
    merged = spec_merged if len(layers) == spec_layers else merge(layers)

    python = request.python
    preferred = None
    if overrides is not None:
        section = overrides.models.get(spec.name)
        python = python or (section.python if section else None)
        preferred = overrides.global_.python
    python = pick_python(spec, python, preferred)

    warnings: list[str] = list(override_warnings)
    interpreter: Interpreter | None = None
    system_keys = [r for r in merged.requirements if r.entry.kind is Kind.SYSTEM]
    system: dict[str, str | None] = {}
    host: HostFacts | None = None
    target_index = indexes.IndexSettings()
    target_fp: str | None = None
    if request.target is not None:
        host, target_fp, target_index = target_host(paths, spec, request)
        python = host.xy
        system = target_system(host, request.target, system_keys)
        facts = host.facts
    else:
        if inspect_host:
            use_home(paths.home)  # probe results are kept in the home's cache
            base, source = _base_python(request, overrides, overrides_path, spec.name)
            try:
                interpreter = find_interpreter(
                    python, base, source, beneath=request.base_beneath_venv
                )
            except ModelenvError as exc:
                if require_interpreter or base or request.strict_system:
                    raise
                if system_keys:
                    warnings.append(f"{exc.message}; #system_NAME# entries are left unpinned")
        system = interpreter_system(
            interpreter,
            system_keys,
            request,
            warnings,
            building=require_interpreter,
            facts=NO_FACTS if facts is None else facts,
        )
        fact_entries = [r.text for r in merged.requirements if r.entry.has_facts]
        if fact_entries and facts is None:
            warnings.append(
                f"{fact_entries[0]}{' and others' if len(fact_entries) > 1 else ''}:"
                " host facts are evaluated for a host without CUDA or NPU here;"
                " targets lock them per host (docs/targets.md)"
            )

    for entry, origin in merged.unmatched:
        warnings.append(f"{origin}: {entry.text!r} removes nothing: no entry named {entry.name!r}")

    spec_index = indexes.from_spec(
        spec.env.index, f"{display(spec_path)} [env.index]", spec_path.absolute().parent
    )
    # The machine's settings (pip config files, environment) are host facts too:
    # an offline check of fingerprints needs none of them.
    index = (
        indexes.layered(
            spec_index,
            request.index,
            os.environ if env is None else env,
            target_index,
            project=request.project_index,
        )
        if inspect_host
        else target_index.over(spec_index)
    )
    missing = index.missing_find_links() if inspect_host else []
    if missing:
        # A committed spec or target may name the wheelhouse of the machine that
        # made it; a hashed install does not care where a file comes from.
        source = index.values["find_links"].source
        warnings += [
            f"find-links folder {link} (from {source}) does not exist here; left out"
            for link in missing
        ]
        index = index.without_find_links(missing)
    return Plan(
        spec=spec,
        spec_path=spec_path,
        engine=engine,
        python=python,
        merged=merged,
        spec_merged=spec_merged,
        interpreter=interpreter,
        system=system,
        index=index,
        warnings=tuple(warnings),
        target=request.target,
        target_fingerprint=target_fp,
        host=host,
        facts=facts,
    )
