"""Index settings: where packages come from, layered like requirements.

Lowest to highest: pip's configuration files (global, user, site, then
``PIP_CONFIG_FILE``), pip's environment variables, uv's environment variables,
the spec's ``[env.index]``, the command line. A higher layer that sets a key
replaces it. uv reads none of pip's settings, so modelenv passes the result to
uv as explicit flags. Credentials in URLs are never shown: see :func:`mask_url`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Nothing heavier at import: ensure_env imports this module on the launch path,
# so configparser, urllib, re, json are imported where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from typing import Any

__all__ = [
    "IndexSettings",
    "Setting",
    "from_command_line",
    "from_spec",
    "layered",
    "mask_secrets",
    "mask_url",
    "pip_config_files",
]

KEYS = ("index_url", "extra_index_urls", "find_links", "no_index", "strategy", "no_build_isolation")


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str


@dataclass(frozen=True)
class IndexSettings:
    """Each key that some layer set, with the layer that set it."""

    values: Mapping[str, Setting] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        setting = self.values.get(key)
        return default if setting is None else setting.value

    def over(self, lower: IndexSettings) -> IndexSettings:
        return IndexSettings({**lower.values, **self.values})

    def without_sources(self, *sources: str) -> IndexSettings:
        return IndexSettings({k: v for k, v in self.values.items() if v.source not in sources})

    def uv_args(self) -> list[str]:
        """The uv flags that reproduce these settings (pure: testable without uv).

        A URL carrying credentials never goes into the flags, which every local
        user can read (``ps``): its key is passed in :meth:`uv_env` instead.
        """
        args: list[str] = []
        secret = self._secret_keys()
        if self.get("no_index"):
            args.append("--no-index")
        elif self.get("index_url") and "index_url" not in secret:
            args += ["--index-url", self.get("index_url")]
        if not self.get("no_index") and "extra_index_urls" not in secret:
            for url in self.get("extra_index_urls", ()):
                args += ["--extra-index-url", url]
        if "find_links" not in secret:
            for link in self._find_links():
                args += ["--find-links", link]
        if self.get("strategy"):
            args += ["--index-strategy", self.get("strategy")]
        if self.get("no_build_isolation"):
            args.append("--no-build-isolation")
        return args

    def uv_env(self) -> dict[str, str]:
        """uv's environment variables for the keys whose URLs carry credentials
        (see :meth:`uv_args`): a process's environment is readable only by its
        owner, its command line by everybody."""
        secret = self._secret_keys()
        env: dict[str, str] = {}
        if "index_url" in secret and not self.get("no_index"):
            env["UV_INDEX_URL"] = self.get("index_url")
        if "extra_index_urls" in secret and not self.get("no_index"):
            env["UV_EXTRA_INDEX_URL"] = " ".join(self.get("extra_index_urls"))
        if "find_links" in secret:
            env["UV_FIND_LINKS"] = ",".join(self._find_links())
        return env

    def _find_links(self) -> list[str]:
        # uv runs in a temporary folder: a relative path means the current one.
        return [
            link if "://" in link or os.path.isabs(link) else os.path.abspath(link)
            for link in self.get("find_links", ())
        ]

    def missing_find_links(self) -> list[str]:
        """Each local find-links folder that does not exist on this host."""
        return [
            link for link in self._find_links() if "://" not in link and not os.path.exists(link)
        ]

    def without_find_links(self, links: Collection[str]) -> IndexSettings:
        """These settings with ``links`` left out of find-links, as pip leaves out
        a folder that does not exist (uv stops at it)."""
        setting = self.values.get("find_links")
        if setting is None:
            return self
        kept = tuple(
            link
            for link, absolute in zip(setting.value, self._find_links(), strict=True)
            if absolute not in links
        )
        values = {k: v for k, v in self.values.items() if k != "find_links"}
        if kept:
            values["find_links"] = Setting(kept, setting.source)
        return IndexSettings(values)

    def _secret_keys(self) -> set[str]:
        return {
            key
            for key in ("index_url", "extra_index_urls", "find_links")
            if key in self.values and _mask_value(self.values[key].value) != _plain(self.get(key))
        }

    def masked(self) -> dict[str, dict[str, Any]]:
        """A JSON-ready view with credentials masked."""
        out: dict[str, dict[str, Any]] = {}
        for key in KEYS:
            if key in self.values:
                s = self.values[key]
                out[key] = {"value": _mask_value(s.value), "source": s.source}
        return out

    def fingerprint(self) -> str:
        """sha256 of the effective settings (masked: the hash never carries a secret)."""
        data = {k: _mask_value(self.values[k].value) for k in KEYS if k in self.values}
        import json

        from .fastio import sha256_hex

        blob = json.dumps(data, sort_keys=True).encode()
        return "sha256:" + sha256_hex(blob)


def mask_url(url: str) -> str:
    """``https://user:secret@host/`` -> ``https://user:****@host/``; a lone token -> ``****``."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//****@", url)
    if not parts.netloc:
        # "user:pw@host/simple" has no scheme, so no netloc: mask by pattern.
        return re.sub(r"^[^/@]*@", "****@", url) if "@" in url.split("/", 1)[0] else url
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, sep, _password = userinfo.partition(":")
    masked = f"{user}:****" if sep else "****"
    return urlunsplit(parts._replace(netloc=f"{masked}@{host}"))


_USERINFO = r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@"


def mask_secrets(text: str) -> str:
    """Every URL's credentials in ``text`` (a requirement, a lock, uv's output)
    masked: ``alpha @ https://alice:pw@host/a.whl`` -> ``https://alice:****@host/a.whl``."""
    import re  # here, not at import: ensure_env imports this module on the launch path

    def mask(m: re.Match[str]) -> str:
        user, sep, _password = m.group("userinfo").partition(":")
        return f"{m.group('scheme')}{user}:****@" if sep else f"{m.group('scheme')}****@"

    return re.sub(_USERINFO, mask, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, (list, tuple)):
        return [_mask_value(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def pip_config_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files in the order pip loads them (later wins)."""
    env = os.environ if env is None else env
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:  # pip's own rule: os.devnull disables every file
        return []
    files: list[Path] = []
    xdg_dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files += [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d]
    files.append(Path("/etc/pip.conf"))
    # pip's rule: an existing PIP_CONFIG_FILE replaces the user's files.
    if not (explicit and Path(explicit).exists()):
        home = Path(env.get("HOME") or Path.home())
        files.append(home / ".pip" / "pip.conf")
        files.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def _from_pip_file(path: Path) -> IndexSettings:
    import configparser

    from .fsutil import NotARegularFile, read_regular

    parser = configparser.RawConfigParser()
    try:
        # A regular file only, as for every file modelenv finds by itself: a
        # FIFO at a pip config path would block every command forever.
        parser.read_string(read_regular(path).decode("utf-8"), str(path))
    except (configparser.Error, OSError, UnicodeDecodeError, NotARegularFile):
        return IndexSettings()
    values: dict[str, Setting] = {}
    source = str(path)
    for section in ("global", "install"):
        if not parser.has_section(section):
            continue
        sec = parser[section]
        if "index-url" in sec:
            values["index_url"] = Setting(sec["index-url"].strip(), source)
        if "extra-index-url" in sec:
            values["extra_index_urls"] = Setting(_split(sec["extra-index-url"]), source)
        if "find-links" in sec:
            values["find_links"] = Setting(_split(sec["find-links"]), source)
        if "no-index" in sec:
            values["no_index"] = Setting(_truthy(sec["no-index"]), source)
    return IndexSettings(values)


_ENV_VARS: tuple[tuple[str, str, Any], ...] = (
    # (variable, key, parser); later rows win over earlier ones.
    ("PIP_INDEX_URL", "index_url", str.strip),
    ("PIP_EXTRA_INDEX_URL", "extra_index_urls", _split),
    ("PIP_FIND_LINKS", "find_links", _split),
    ("PIP_NO_INDEX", "no_index", _truthy),
    ("UV_INDEX_URL", "index_url", str.strip),
    ("UV_DEFAULT_INDEX", "index_url", str.strip),
    ("UV_EXTRA_INDEX_URL", "extra_index_urls", _split),
    ("UV_FIND_LINKS", "find_links", lambda v: tuple(v.replace(",", " ").split())),
    ("UV_NO_INDEX", "no_index", _truthy),
    ("UV_INDEX_STRATEGY", "strategy", str.strip),
    ("UV_NO_BUILD_ISOLATION", "no_build_isolation", _truthy),
)


_INDEX_NAME = r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$"


def _uv_index_urls(value: str) -> tuple[str, ...]:
    """UV_INDEX as uv reads it: space-separated ``[name=]url`` entries. A name
    holds no ':' or '/', so the '=' of a URL's query is never taken for one."""
    import re

    return tuple(
        m.group(2) if (m := re.match(_INDEX_NAME, entry)) else entry for entry in value.split()
    )


def _from_environment(env: Mapping[str, str]) -> IndexSettings:
    values: dict[str, Setting] = {}
    for var, key, parse in _ENV_VARS:
        raw = env.get(var)
        if raw is not None and raw.strip():
            values[key] = Setting(parse(raw), var)
    raw = env.get("UV_INDEX", "")
    if raw.strip():
        # uv adds UV_INDEX's indexes to the extra ones (and asks them first).
        extra = values.get("extra_index_urls")
        keep = extra.value if extra is not None and extra.source.startswith("UV_") else ()
        source = "UV_INDEX" + (f" and {extra.source}" if keep and extra is not None else "")
        urls = _uv_index_urls(raw) + tuple(u for u in keep if u not in _uv_index_urls(raw))
        values["extra_index_urls"] = Setting(urls, source)
    return IndexSettings(values)


SPEC_KEYS = {
    "url": "index_url",
    "extra_urls": "extra_index_urls",
    "find_links": "find_links",
    "strategy": "strategy",
    "no_build_isolation": "no_build_isolation",
}


def from_spec(index: Any, source: str, base: Path | None = None) -> IndexSettings:
    """The keys a spec's ``[env.index]`` sets explicitly (absent keys inherit).
    A relative find-links path means one beside the spec (``base``, its folder),
    wherever modelenv runs."""
    if index is None:
        return IndexSettings()
    values = {}
    for name in sorted(index.given_fields):
        value = getattr(index, name)
        if isinstance(value, tuple):
            value = tuple(value)
        if name == "find_links" and base is not None:
            value = tuple(
                link
                if "://" in link or os.path.isabs(link)
                else os.path.normpath(os.path.join(base, link))
                for link in value
            )
        values[SPEC_KEYS[name]] = Setting(value, source)
    return IndexSettings(values)


def from_command_line(
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    no_index: bool = False,
) -> IndexSettings:
    values: dict[str, Setting] = {}
    src = "command line"
    if index_url:
        values["index_url"] = Setting(index_url, src)
    if extra_index_urls:
        values["extra_index_urls"] = Setting(tuple(extra_index_urls), src)
    if find_links:
        values["find_links"] = Setting(tuple(find_links), src)
    if no_index:
        values["no_index"] = Setting(True, src)
    return IndexSettings(values)


def layered(
    spec: IndexSettings,
    command_line: IndexSettings,
    env: Mapping[str, str] | None = None,
    target: IndexSettings | None = None,
    *,
    project: IndexSettings | None = None,
) -> IndexSettings:
    """Command line over the target's ``[index]`` over spec over environment
    over the project's ``[tool.modelenv]`` over pip's configuration files."""
    env = os.environ if env is None else env
    result = IndexSettings()
    for path in pip_config_files(env):
        if path.is_file():
            result = _from_pip_file(path).over(result)
    if project is not None:
        result = project.over(result)
    result = _from_environment(env).over(result)
    result = spec.over(result)
    if target is not None:
        result = target.over(result)
    return _pip_semantics(command_line.over(result))


def _pip_semantics(settings: IndexSettings) -> IndexSettings:
    """Extra indexes that come from pip's settings keep pip's meaning.

    pip picks the best version across all its indexes; uv by default stops at
    the first index that has a package at all, which turns a partial mirror
    listed in pip.conf into "no solution". When pip configured the extra
    indexes and nobody chose a strategy, use uv's equivalent of pip's rule.
    """
    extra = settings.values.get("extra_index_urls")
    if extra is None or not extra.value or "strategy" in settings.values:
        return settings
    if extra.source.startswith("PIP_") or extra.source.endswith(".conf"):
        setting = Setting("unsafe-best-match", f"pip's index semantics (from {extra.source})")
        return IndexSettings({**settings.values, "strategy": setting})
    return settings
