"""Names: model and engine names, and the one package-name normaliser."""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.utils import NormalizedName, canonicalize_name

__all__ = [
    "MODEL_NAME_RE",
    "canonical",
    "check_model_name",
    "did_you_mean",
    "is_model_name",
]

MODEL_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")


def canonical(name: str) -> NormalizedName:
    """The key under which a distribution name is compared everywhere."""
    return canonicalize_name(name)


def is_model_name(name: str) -> bool:
    # ".." would be matched by the pattern's tail; it is never a valid name
    # because model names become path components under the home and locks.
    return bool(MODEL_NAME_RE.fullmatch(name)) and ".." not in name and len(name) <= 128


def check_model_name(name: str, what: str = "model name") -> str | None:
    """Return why ``name`` is not a valid model/engine name, or None when it is."""
    if what == "engine name" and name == "default":
        return "'default' names the engine-less variant; give the engine another name"
    if is_model_name(name):
        return None
    if not name:
        return f"invalid {what} '': it must not be empty"
    if "/" in name or "\\" in name or ".." in name:
        return f"invalid {what} {name!r}: path separators and '..' are not allowed"
    if name != name.lower():
        return (
            f"invalid {what} {name!r}: use lowercase letters, digits, '.', '_' and '-'"
            f" (for example {name.lower()!r})"
        )
    if len(name) > 128:
        return f"invalid {what}: longer than 128 characters"
    return (
        f"invalid {what} {name!r}: it must start with a lowercase letter or digit and"
        " contain only lowercase letters, digits, '.', '_' and '-'"
    )


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else the empty string."""
    import difflib  # here: only a name that is not found needs it

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
