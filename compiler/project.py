"""The project a command runs in: found by walking up from the current folder,
as git and uv do, and its ``[tool.modelenv]`` settings.

A folder is the project root when it holds a ``pyproject.toml`` with a
``[tool.modelenv]`` table, or a ``specs/`` folder; the nearest one wins.
``[tool.modelenv]`` sets defaults that the environment and the command line
override: the order is command line, then ``MODELENV_*`` / ``UV_*`` / ``PIP_*``
variables, then ``[tool.modelenv]``, then the built-in defaults.

Only the command line discovers a project; ``ensure_env()`` takes its folders
as arguments (or ``MODELENV_*`` variables, or the current folder).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from .indexes import IndexSettings

__all__ = ["KEYS", "Project", "discover"]

PYPROJECT = "pyproject.toml"
TABLE = "tool.modelenv"

# key -> (type, what it sets); kebab-case, as uv's [tool.uv] and pip's options.
KEYS: dict[str, tuple[type, str]] = {
    "specs": (str, "the specs folder"),
    "locks": (str, "the locks folder"),
    "home": (str, "where environments live"),
    "index-url": (str, "base package index"),
    "extra-index-url": (list, "extra package indexes"),
    "find-links": (list, "folders or pages of wheels"),
    "no-index": (bool, "use no index, only find-links"),
    "jobs": (int, "uv processes at once for lock"),
    "python-downloads": (bool, "let uv download a missing Python for lock"),
}


@dataclass(frozen=True)
class Project:
    """Where the project is (None: no project found) and its settings."""

    root: Path | None = None
    pyproject: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def folder(self, key: str) -> Path | None:
        """``specs``, ``locks`` or ``home``: the setting (relative to the
        pyproject.toml), else for specs and locks the root's folder."""
        value = self.settings.get(key)
        if value is not None:
            assert self.pyproject is not None
            # Normalised as the launch path does (fresh.resolve_dirs): both print
            # the same environment path.
            return Path(os.path.abspath(self.pyproject.parent / os.path.expanduser(str(value))))
        if self.root is not None and key in ("specs", "locks"):
            return self.root / key
        return None

    def index(self) -> IndexSettings:
        """The index settings of ``[tool.modelenv]``, each with its source."""
        from .indexes import IndexSettings, Setting

        if self.pyproject is None:
            return IndexSettings()
        source = f"{_shown(self.pyproject)} [{TABLE}]"
        values: dict[str, Setting] = {}
        s = self.settings
        if "index-url" in s:
            values["index_url"] = Setting(s["index-url"], source)
        if "extra-index-url" in s:
            values["extra_index_urls"] = Setting(tuple(s["extra-index-url"]), source)
        if "find-links" in s:
            # Relative folders are relative to the project, not to where modelenv runs.
            base = self.pyproject.parent
            links = tuple(
                link if "://" in link or os.path.isabs(link) else os.path.normpath(base / link)
                for link in s["find-links"]
            )
            values["find_links"] = Setting(links, source)
        if "no-index" in s:
            values["no_index"] = Setting(bool(s["no-index"]), source)
        return IndexSettings(values)


def _shown(path: Path) -> str:
    from .paths import display

    return display(path)


def _settings(path: Path) -> dict[str, Any] | None:
    """``[tool.modelenv]`` of ``path``, checked; None when it has none."""
    from .fsutil import NotARegularFile, read_regular

    try:
        # read_regular: a FIFO named pyproject.toml would block every command.
        data = tomllib.loads(read_regular(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, NotARegularFile):
        return None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{_shown(path)}: invalid TOML: {exc}") from None
    tool = data.get("tool")
    table = tool.get("modelenv") if isinstance(tool, dict) else None
    if table is None:
        return None
    shown = _shown(path)
    if not isinstance(table, dict):
        raise UsageError(f"{shown}: {TABLE}: expected a table")
    for key, value in table.items():
        if key not in KEYS:
            from .names import did_you_mean

            raise UsageError(
                f"{shown}: {TABLE}.{key}: unknown key{did_you_mean(key, sorted(KEYS))};"
                f" known keys: {', '.join(KEYS)}"
            )
        kind, _ = KEYS[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is list:
            ok = ok and all(isinstance(v, str) for v in value)
        if kind is int and ok and value < 1:
            raise UsageError(f"{shown}: {TABLE}.{key}: must be 1 or more, got {value}")
        if not ok:
            want = {str: "a string", list: "an array of strings", bool: "true or false"}
            raise UsageError(
                f"{shown}: {TABLE}.{key}: expected {want.get(kind, 'an integer')}, got {value!r}"
            )
    return dict(table)


def discover(start: str | None = None) -> Project:
    """The nearest project at or above ``start`` (default: the current folder)."""
    here = Path(start or os.getcwd()).absolute()
    for folder in (here, *here.parents):
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            settings = _settings(pyproject)
            if settings is not None:
                return Project(folder, pyproject, settings)
        if (folder / "specs").is_dir():
            return Project(folder)
    return Project()
