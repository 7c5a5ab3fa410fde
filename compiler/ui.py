"""Messages to the user: one place decides what -q and -v show."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["SCHEMA_VERSION", "UI", "json_document"]

# Of every --json document (docs/commands.md): bumped when a key is removed or
# changes meaning; new keys may appear within one version.
SCHEMA_VERSION = 1


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
        """Shown with -v."""
        if self.verbosity > 0:
            print(text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        print(f"modelenv: warning: {text}", file=self.err, flush=True)

    @property
    def is_tty(self) -> bool:
        return self.err.isatty()
