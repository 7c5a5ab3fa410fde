"""The spec schema (``specs/<model>.toml``, ``specs/_engines.toml``, the
overrides file) and its loading.

Parse at the edge: a TOML file goes in, a frozen, validated :class:`Spec` comes
out, or a list of :class:`Problem` that each name the file, the field and the fix.

Two validators, one result. The fast one (:mod:`.fast`) builds the runtime
types from plainly valid data without importing pydantic (a cold start pays
no 80 ms for it); on anything unusual it steps aside and the pydantic
reference schema (:mod:`.schema`) decides and words the problems. Both judge
single values with the same functions and build the same frozen dataclasses.

- :mod:`.types`: the runtime types (frozen dataclasses) everything else uses;
- :mod:`.values`: single-value checks, shared by both validators;
- :mod:`.fast`: the fast builder; :mod:`.schema`: the pydantic reference;
- :mod:`.problems`: TOML reading and located problems, shared by every schema;
- :mod:`.checks`: loading specs and engine defaults, with cross-field checks;
- :mod:`.overrides`: the user's overrides file;
- :mod:`.targets`: targets (``specs/_targets/NAME.toml``), the hosts locks are made for.
"""

from __future__ import annotations

from .checks import check_engines_file, check_spec_file, check_spec_text, load_engines, load_spec
from .overrides import check_overrides_file, load_overrides
from .problems import Problem, SpecError
from .targets import Target, check_target_file, load_targets
from .types import (
    EngineDefaults,
    Engines,
    EngineVariant,
    EnvSection,
    IndexSection,
    ModelSection,
    Overrides,
    OverrideSection,
    Spec,
)
from .values import INDEX_STRATEGIES

__all__ = [
    "INDEX_STRATEGIES",
    "EngineDefaults",
    "EngineVariant",
    "Engines",
    "EnvSection",
    "IndexSection",
    "ModelSection",
    "OverrideSection",
    "Overrides",
    "Problem",
    "Spec",
    "SpecError",
    "Target",
    "check_engines_file",
    "check_overrides_file",
    "check_spec_file",
    "check_spec_text",
    "check_target_file",
    "load_engines",
    "load_overrides",
    "load_spec",
    "load_targets",
]
