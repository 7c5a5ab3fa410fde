"""The spec schema (``specs/<model>.toml``, ``specs/_engines.toml``, the
overrides file) and its loading.

Parse at the edge: a TOML file goes in, a frozen, validated :class:`Spec` comes
out, or a list of :class:`Problem` that each name the file, the field and the fix.

- :mod:`.schema`: the pydantic models and single-value validation;
- :mod:`.problems`: TOML reading and located problems, shared by every schema;
- :mod:`.checks`: loading specs and engine defaults, with cross-field checks;
- :mod:`.overrides`: the user's overrides file;
- :mod:`.targets`: targets (``specs/_targets/NAME.toml``), the hosts locks are made for.
"""

from __future__ import annotations

from .checks import check_engines_file, check_spec_file, check_spec_text, load_engines, load_spec
from .overrides import check_overrides_file, load_overrides
from .problems import Problem, SpecError
from .schema import (
    INDEX_STRATEGIES,
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
from .targets import Target, check_target_file, load_targets

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
