"""The runtime types of modelenv's TOML files: frozen dataclasses built by the
fast validator (:mod:`.fast`) from plainly valid data, or from what the
pydantic reference schema (:mod:`.schema`) normalised. Every consumer (plan,
merge, indexes, capture, locking) uses these; none needs pydantic.

Field names equal the reference models' (a test keeps them in step)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "CaptureSection",
    "DefaultVariant",
    "EngineDefaults",
    "EngineVariant",
    "Engines",
    "EnvSection",
    "FactsSection",
    "IndexSection",
    "ModelSection",
    "OverrideSection",
    "Overrides",
    "PythonSection",
    "Spec",
    "Target",
    "as_dict",
    "as_json",
    "has_default_variant",
]


@dataclass(frozen=True, slots=True)
class ModelSection:
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSection:
    url: str | None = None
    extra_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    strategy: str | None = None
    no_build_isolation: bool = False
    # The keys the file sets (a default stays out of given()); required, so
    # that no caller forgets it: IndexSection.of(**values) sets it from the keys.
    given_fields: frozenset[str] = field(compare=False, repr=False)

    @classmethod
    def of(cls, **values: Any) -> IndexSection:
        return cls(**values, given_fields=frozenset(values))

    def given_values(self) -> dict[str, Any]:
        """The fields the file sets, in field order."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in self.given_fields and f.name != "given_fields"
        }

    def given(self) -> dict[str, Any]:
        """The fields the file sets, as JSON data: what a lock's inputs
        fingerprint (a default stays out, so a new field changes no lock)."""
        return {k: as_json(v) for k, v in self.given_values().items()}


@dataclass(frozen=True, slots=True)
class EnvSection:
    python: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    system_site_packages: bool = True
    exclude_newer: str | None = None
    index: IndexSection | None = None
    # The targets (specs/_targets/NAME.toml) to lock for; None: every target.
    targets: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DefaultVariant:
    """``[default]``: the engine-less variant's own entries (engines do not get
    them), or ``enabled = false`` for a model that only runs on an engine."""

    enabled: bool = True
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineVariant:
    defaults: bool = True  # take the engine's packages from _engines.toml
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    # This variant's targets, in place of [env] targets; None: as [env].
    targets: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    model: ModelSection
    env: EnvSection = field(default_factory=EnvSection)
    default: DefaultVariant | None = None
    engines: dict[str, EngineVariant] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def has_default(self) -> bool:
        """The engine-less variant exists: it has packages (``env`` or
        ``default``) and ``[default] enabled`` is not false."""
        return has_default_variant(self.env.packages, self.default)

    def variants(self) -> list[str | None]:
        """Engine variants to lock: the engine-less default when the spec has
        one, then every engine it declares."""
        out: list[str | None] = [None] if self.has_default else []
        out.extend(sorted(self.engines))
        return out


def has_default_variant(env_packages: object, default: DefaultVariant | None) -> bool:
    if default is not None and not default.enabled:
        return False
    return bool(env_packages or (default is not None and default.packages))


@dataclass(frozen=True, slots=True)
class EngineDefaults:
    description: str | None = None
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once per file state
class Engines:
    """The engine defaults of a specs folder (``_engines.toml``)."""

    path: Path
    defaults: Mapping[str, EngineDefaults]

    @property
    def names(self) -> list[str]:
        return sorted(self.defaults)


@dataclass(frozen=True, slots=True)
class OverrideSection:
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    python: str | None = None
    # The interpreter environments are layered on (relative: to the file's folder).
    base_python: str | None = None


@dataclass(frozen=True, slots=True)
class Overrides:
    """The user's overrides file: ``[global]`` then ``[models.MODEL]``."""

    global_: OverrideSection = field(default_factory=OverrideSection)
    models: dict[str, OverrideSection] = field(default_factory=dict)


# --- targets (specs/_targets/NAME.toml)


@dataclass(frozen=True, slots=True)
class PythonSection:
    version: str
    platform: str


@dataclass(frozen=True, slots=True)
class FactsSection:
    """Host facts that markers may test (see :data:`compiler.markers.FACTS`)."""

    has_cuda: bool = False
    cuda_version: str | None = None
    has_npu: bool = False

    def as_facts(self) -> dict[str, bool | str | None]:
        return {
            "has_cuda": self.has_cuda,
            "cuda_version": self.cuda_version,
            "has_npu": self.has_npu,
        }


@dataclass(frozen=True, slots=True)
class CaptureSection:
    """When and from what the target was captured (not part of its fingerprint)."""

    at: dt.datetime | None = None
    interpreter: str | None = None
    modelenv: str | None = None
    cuda_from: str | None = None
    facts_given: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)  # no slots: the fingerprint is cached on the instance
class Target:
    description: str | None = None
    python: PythonSection
    facts: FactsSection = field(default_factory=FactsSection)
    markers: dict[str, str] = field(default_factory=dict)
    index: IndexSection | None = None
    packages: dict[str, str] = field(default_factory=dict)
    capture: CaptureSection = field(default_factory=CaptureSection)

    @property
    def xy(self) -> str:
        return ".".join(self.python.version.split(".")[:2])

    def content(self) -> dict[str, Any]:
        """What locks depend on: everything but the description and the capture record."""
        index = self.index
        return {
            "python": as_json(self.python),
            "facts": self.facts.as_facts(),
            "markers": dict(sorted(self.markers.items())),
            "index": None if index is None else index.given(),
            "packages": dict(sorted(self.packages.items())),
        }

    def fingerprint(self) -> str:
        """sha256 of :meth:`content`; computed once (lock plans every model for it)."""
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:
        import json

        from ..fastio import sha256_hex  # the built-in SHA-256: hashlib loads OpenSSL

        blob = json.dumps(self.content(), sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + sha256_hex(blob)


def as_dict(value: Any) -> dict[str, Any]:
    """The fields of ``value`` (one of these types) by name, values as they are
    (an index's given_fields aside: see :meth:`IndexSection.given_values`)."""
    return {f.name: getattr(value, f.name) for f in fields(value) if f.name != "given_fields"}


def as_json(value: Any) -> Any:
    """``value`` (one of these types, or what they hold) as JSON data: every
    field (an index's given_fields aside), tuples as lists, datetimes as RFC 3339."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: as_json(item) for k, item in as_dict(value).items()}
    if isinstance(value, (tuple, list)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value
