"""Problems found in modelenv's TOML files, each naming the file, the field and
the fix: TOML reading and the mapping of pydantic's errors to located problems,
shared by every schema (specs, ``_engines.toml``, overrides)."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelenvError
from ..names import did_you_mean
from ..paths import display

if TYPE_CHECKING:
    from pydantic import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "Problem",
    "SpecError",
    "describe",
    "field_path",
    "parse_toml",
    "problems_from",
    "read_toml",
]

# Tables whose keys are names (engines, models), each holding a table.
_NAMED_TABLES = ("engines", "models")


@dataclass(frozen=True)
class Problem:
    path: str
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"{self.path}: {self.field}: {self.message}"
        return f"{self.path}: {self.message}"


class SpecError(ModelenvError):
    """One or more problems in spec files."""

    def __init__(self, problems: Sequence[Problem], hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__(
            "\n".join(str(p) for p in self.problems),
            hint=hint
            or "run 'modelenv validate' to see every problem; docs/spec.md has the format",
        )


def read_toml(
    path: Path, inside: Path | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The TOML at ``path``, a regular file (a FIFO would block the reader
    forever) and, given ``inside``, one that resolves inside that folder."""
    from ..fsutil import NotARegularFile, read_regular, within

    shown = display(path)
    if inside is not None and os.path.lexists(path) and not within(inside, path):
        return None, [
            Problem(
                shown,
                None,
                f"a symbolic link leading out of {display(inside)} (to {os.path.realpath(path)});"
                " modelenv reads specs only inside their folder: replace it with a copy",
            )
        ]
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        return None, [Problem(shown, None, "no such file")]
    except OSError as exc:
        return None, [Problem(shown, None, f"cannot read: {exc.strerror}")]
    except NotARegularFile as exc:
        return None, [Problem(shown, None, f"not a regular file ({exc.kind})")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(shown, None, f"not UTF-8 text (byte {exc.start})")]
    return parse_toml(text, shown)


def parse_toml(text: str, shown: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(shown, _toml_position(exc), f"invalid TOML: {_toml_message(exc)}")]
    except RecursionError:
        return None, [Problem(shown, None, "invalid TOML: nested too deeply")]


def _toml_position(exc: tomllib.TOMLDecodeError) -> str | None:
    lineno = getattr(exc, "lineno", None)
    if lineno is None:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        return f"line {match.group(1)}, column {match.group(2)}" if match else None
    return f"line {lineno}, column {getattr(exc, 'colno', '?')}"


def _toml_message(exc: tomllib.TOMLDecodeError) -> str:
    msg = getattr(exc, "msg", None) or re.sub(r"\s*\(at line \d+, column \d+\)$", "", str(exc))
    return str(msg)


def field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            quoted = '"' + part.replace('"', '\\"') + '"'
            out += f".{quoted}" if out else quoted
    return out


def _table_key(loc: Sequence[int | str]) -> str:
    """The key of a table in a ``fields`` map: tables of named tables
    (``[engines.NAME]``, ``[models.NAME]``) share one entry, ``engines.*``."""
    if len(loc) >= 2 and loc[0] in _NAMED_TABLES:
        return ".".join([str(loc[0]), "*", *(str(p) for p in loc[2:])])
    return ".".join(str(p) for p in loc)


def describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({toml_type(value)})"


def toml_type(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
        dt.date: "date",
        dt.datetime: "datetime",
        dt.time: "time",
    }.get(type(value), type(value).__name__)


def problems_from(
    exc: ValidationError,
    shown: str,
    fields: Mapping[str, Iterable[str]],
    *,
    drop_root: bool = False,
) -> list[Problem]:
    """Located problems for every error pydantic found in the file ``shown``.

    ``fields`` maps each table (``""`` for the root, ``engines.*`` for every
    named engine table) to its known keys, for "did you mean". ``drop_root``
    leaves the first part of each location out of the message, for files
    validated under a synthetic root key (``_engines.toml``, targets).
    """
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        full = tuple(err["loc"])
        loc = full[1:] if drop_root else full
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            known = fields.get(_table_key(full[:-1]), ())
            problems.append(
                Problem(shown, field_path(loc), f"unknown key {key!r}{did_you_mean(key, known)}")
            )
        elif kind == "missing":
            problems.append(Problem(shown, field_path(loc), "required key is missing"))
        elif kind == "value_error":
            problems.append(Problem(shown, field_path(loc), str(err["ctx"]["error"])))
        else:
            # "Input should be a valid string" -> "expected a string, got 3 (integer)"
            msg = err["msg"].replace("Input should be a valid ", "expected a ")
            msg = msg.replace("Input should be ", "expected ")
            # Say it in TOML's words, not Python's.
            msg = re.sub(r"a dictionary or instance of \w+|a dictionary", "a table", msg)
            msg = msg.replace("a tuple", "an array").replace("a list", "an array")
            msg = msg.replace(", unable to interpret input", "")
            msg = re.sub(r"^Value error, ", "", msg)
            problems.append(Problem(shown, field_path(loc), f"{msg}, got {describe(err['input'])}"))
    return problems
