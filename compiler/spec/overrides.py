"""The user's overrides file (``--overrides FILE``, else
``$MODELENV_HOME/overrides.toml``): ``[global]`` then ``[models.MODEL]``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..names import did_you_mean
from ..paths import display
from . import fast
from .problems import Problem, SpecError, field_path, read_toml
from .types import Overrides

__all__ = ["check_overrides_file", "load_overrides"]


_OVERRIDES_HINT = "the overrides file format is in README.md ('Layers, first to last')"


def check_overrides_file(
    path: Path, known_models: Sequence[str]
) -> tuple[Overrides | None, list[Problem]]:
    """Every problem of an overrides file, a model without a spec included (for
    validate, which fails on them)."""
    shown = display(path)
    data, problems = read_toml(path)
    if data is None:
        return None, problems
    overrides = fast.build_overrides(data)
    if overrides is None:  # not plainly valid: the reference schema decides
        from .schema import check_overrides

        overrides, problems = check_overrides(data, shown)
        if overrides is None:
            return None, problems
    problems += [
        Problem(
            shown,
            field_path(("models", model)),
            f"unknown model {model!r}{did_you_mean(model, known_models)};"
            " overrides must name a model that has a spec",
        )
        for model in sorted(overrides.models)
        if model not in known_models
    ]
    return overrides, problems


def load_overrides(
    path: Path, known_models: Sequence[str], specs: Path | None = None
) -> tuple[Overrides, list[str]]:
    """Read an overrides file: (it, warnings). A model without a spec in ``specs``
    is only a warning naming the file: a home-wide file serves several projects
    ('modelenv validate' fails on it)."""
    overrides, problems = check_overrides_file(path, known_models)
    if overrides is None:
        raise SpecError(problems, hint=_OVERRIDES_HINT)
    where = f" in {display(specs)}" if specs is not None else ""
    return overrides, [
        f"{display(path)}: models.{model}: no spec for model {model!r}{where};"
        " its overrides are ignored"
        for model in sorted(overrides.models)
        if model not in known_models
    ]
