"""Rendering text from the jinja2 templates in ``compiler/templates/``."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jinja2

__all__ = ["render"]


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string for every character we emit.
    return json.dumps(value, ensure_ascii=False)


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
    env.filters["toml"] = _toml_string
    env.tests["bare_key"] = lambda s: re.fullmatch(r"[A-Za-z0-9_-]+", s) is not None
    return env


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
