"""Rendering text from the jinja2 templates in ``compiler/templates/``."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from .tomlfmt import toml_key, toml_string

__all__ = ["render"]


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("compiler", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["toml"] = toml_string
    env.filters["toml_key"] = toml_key
    return env


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
