"""Messages to the user: one place decides what -q and -v show."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["REPORTING", "SCHEMA_VERSION", "UI", "WARNING", "json_document"]

# Every warning starts with this, whichever part of modelenv says it.
WARNING = "modelenv: warning: "

# Of every --json document (docs/commands.md): bumped when a key is removed or
# changes meaning; new keys may appear within one version.
SCHEMA_VERSION = 1


@dataclass
class Reporting:
    """How uv's work is shown (uv.run reads it). The command line sets it for
    each command (commands.context); the API leaves it off: nothing printed."""

    live: bool = False  # uv may draw its progress on the terminal (callers opt in)
    log: Callable[[str], None] | None = None  # -v: each uv command and its time


REPORTING = Reporting()


def json_document(doc: dict[str, Any]) -> str:
    """``doc`` as printed by --json: ``schema_version`` first."""
    return json.dumps({"schema_version": SCHEMA_VERSION, **doc}, indent=2)


class UI:
    def __init__(self, verbosity: int = 0, *, out: TextIO | None = None, err: TextIO | None = None):
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def result(self, text: str) -> None:
        """What the command is for (a table, a path, a problem list): always printed."""
        print(text, file=self.out, flush=True)

    def info(self, text: str) -> None:
        """Progress and summaries: hidden by -q."""
        if self.verbosity >= 0:
            print(text, file=self.err, flush=True)

    def detail(self, text: str) -> None:
        """Shown with -v (over a live status line, if one is drawn)."""
        if self.verbosity > 0:
            print(("\r\033[K" if self.is_tty else "") + text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        print(f"{WARNING}{text}", file=self.err, flush=True)

    @property
    def is_tty(self) -> bool:
        return self.err.isatty()
