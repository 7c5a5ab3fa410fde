"""The user's overrides file (``--overrides FILE``, else
``$MODELENV_HOME/overrides.toml``): ``[global]`` then ``[models.MODEL]``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from ..names import did_you_mean
from ..paths import display
from .problems import Problem, SpecError, field_path, problems_from, read_toml
from .schema import Overrides, OverrideSection

__all__ = ["load_overrides"]

_OVERRIDE_FIELDS: dict[str, Iterable[str]] = {
    "": ("global", "models"),
    "global": OverrideSection.model_fields,
    "models.*": OverrideSection.model_fields,
}


_OVERRIDES_HINT = "the overrides file format is in README.md ('Layers, first to last')"


def load_overrides(path: Path, known_models: Sequence[str]) -> Overrides:
    """Read an overrides file; an unknown model in it is an error that names it."""
    shown = display(path)
    data, problems = read_toml(path)
    if data is None:
        raise SpecError(problems, hint=_OVERRIDES_HINT)
    try:
        overrides = Overrides.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, shown, _OVERRIDE_FIELDS), hint=_OVERRIDES_HINT) from None
    for model in sorted(overrides.models):
        if model not in known_models:
            problems.append(
                Problem(
                    shown,
                    field_path(("models", model)),
                    f"unknown model {model!r}{did_you_mean(model, known_models)};"
                    " overrides must name a model that has a spec",
                )
            )
    if problems:
        raise SpecError(problems, hint=_OVERRIDES_HINT)
    return overrides
