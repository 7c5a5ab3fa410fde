"""bench/RESULTS.md is shared by the benchmark scripts: each owns one section."""

from __future__ import annotations

import re
from pathlib import Path

TITLE = "# Benchmark results\n"


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the section under ``heading`` (up to the next "## " heading)
    replaced by ``section``, or ``section`` appended when there is none."""
    pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        return (
            pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1).rstrip("\n") + "\n"
        )
    return (text.rstrip("\n") + "\n\n" if text.strip() else "") + section.rstrip("\n") + "\n"


def update(path: Path, heading: str, section: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if not old.startswith(TITLE):
        old = TITLE + "\n" + old
    path.write_text(replace_section(old, heading, section), encoding="utf-8")
