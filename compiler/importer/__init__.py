"""Importing another tool's model registry as modelenv specs.

Pure functions: decoded JSON in, spec and ``_engines.toml`` texts plus a list of
findings out; nothing here reads or writes a file (``modelenv import`` does).
Only Xinference's ``virtualenv`` declarations are understood so far; the mapping
rules, and what cannot be expressed and why, are in docs/import.md.

- :mod:`.result`: what an import produces, and its TOML text;
- :mod:`.names`: model and engine names;
- :mod:`.entries`: one ``packages`` entry;
- :mod:`.xinference`: the registry, record by record.
"""

from __future__ import annotations

from .entries import ACCELERATOR_MARKERS, map_entry
from .names import EngineNames, assign_names, normalise_name
from .result import (
    CLASH,
    DUPLICATE,
    MERGED,
    SKIPPED,
    SUSPICIOUS,
    UNEXPRESSIBLE,
    Finding,
    ImportedSpec,
    ImportFormatError,
    ImportResult,
    Mapped,
)
from .xinference import import_xinference

__all__ = [
    "ACCELERATOR_MARKERS",
    "CLASH",
    "DUPLICATE",
    "MERGED",
    "SKIPPED",
    "SUSPICIOUS",
    "UNEXPRESSIBLE",
    "EngineNames",
    "Finding",
    "ImportFormatError",
    "ImportResult",
    "ImportedSpec",
    "Mapped",
    "assign_names",
    "import_xinference",
    "map_entry",
    "normalise_name",
]
