"""Writing TOML values by hand (templates and the importer): one place for the escaping."""

from __future__ import annotations

import json
import re

__all__ = ["is_bare_key", "toml_key", "toml_string"]


def toml_string(value: str) -> str:
    # A JSON string is a TOML basic string, except that TOML wants DEL escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def is_bare_key(key: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_-]+", key) is not None


def toml_key(key: str) -> str:
    """``key`` as a TOML key: bare when it can be, quoted otherwise ("llama.cpp")."""
    return key if is_bare_key(key) else toml_string(key)
