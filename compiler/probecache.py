"""What a base interpreter has, remembered across runs while its files stay put.

Probing an interpreter (see :func:`compiler.host.probe`) starts it and walks
its distributions: about a tenth of a second, paid before any build, lock or
``show`` could start uv. uv keeps the same kind of answer in its cache, keyed
by the interpreter's file; this cache adds the folders the distributions come
from, since a probe also lists the installed packages.

An entry is used only while the identity (device, inode, size, mtime, ctime)
of the executable, of every folder on the interpreter's ``sys.path`` and of
every distribution's METADATA file is what it was. Installing or removing a
distribution adds or removes an entry in its site folder, so that folder's
mtime and ctime change; rewriting a METADATA changes that file's. An entry
whose files changed in the two seconds before the probe is not kept: a later
change within the same tick of the filesystem clock would look alike (git's
"racy" rule). A venv's ``pyvenv.cfg`` is watched too (rewritten in place, it
changes ``sys.path``). Editing another file in place (a ``.pth``, torch's
``version.py``) is not seen; ``MODELENV_NO_PROBE_CACHE=1`` turns the cache off.

What the answer owes to the machine rather than to those files (the kernel's
marker values, the C library's version) is kept with the entry and compared
too: a kernel upgrade, or a home shared by machines, means a new probe. An
executable that is not the interpreter it starts (a pyenv shim, a wrapper
script) is never cached: which interpreter it starts can change while its
file stays the same.

Entries live in ``<home>/cache/interpreters/``; a link there out of the home
turns the cache off rather than be followed. The cache is an optimisation
only: an unreadable, corrupt or unwritable entry means a new probe.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fastio import read_own, sha256_hex
from .fresh import flag, identity

__all__ = ["FOLDER", "cached_probe", "use_home"]

FOLDER = ("cache", "interpreters")
_FORMAT = 2
_RACY_NS = 2_000_000_000
_home: list[Path] = []  # the home whose cache this process uses (set per plan)


def use_home(home: Path | None) -> None:
    """Keep probe results in ``home``'s cache (``None``: keep none)."""
    _home[:] = [] if home is None else [home]


def _folder() -> Path | None:
    if not _home or flag("MODELENV_NO_PROBE_CACHE", False):
        return None
    from .fsutil import within

    home = _home[0]
    folder = home.joinpath(*FOLDER)
    return folder if within(home, folder) else None


def _machine() -> list[str]:
    """What a probe answers from the running system, not from the interpreter's
    files: the kernel (``platform_release``, ``platform_version``), the machine
    and the C library (``platform.libc_ver``, which chooses the wheel platform)."""
    if hasattr(os, "uname"):
        u = os.uname()
        facts = [u.sysname, u.release, u.version, u.machine]  # not the host name
    else:  # pragma: no cover - Windows
        facts = [os.name]
    try:
        facts.append(os.confstr("CS_GNU_LIBC_VERSION") or "")
    except (AttributeError, ValueError, OSError):
        facts.append("")
    return facts


def _entry_name(executable: str, script: str) -> str:
    key = f"{os.path.abspath(executable)}\0{script}"
    return sha256_hex(key.encode("utf-8", "surrogateescape"))[:32] + ".json"


def _watched(executable: str, data: dict[str, Any]) -> list[str]:
    """The files whose identity stands for the probe's answer."""
    paths = [
        executable,
        *data.get("path", ()),
        *data.get("site_packages", ()),
        *data.get("watch", ()),
    ]
    if isinstance(data.get("prefix"), str):
        paths.append(os.path.join(data["prefix"], "pyvenv.cfg"))  # a venv's sys.path
    return [p for p in dict.fromkeys(paths) if isinstance(p, str)]


def _load(folder: Path, name: str, executable: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(read_own(folder, name))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
        return None
    watched = entry.get("watched")
    if entry.get("executable") != executable or not isinstance(watched, list):
        return None
    if entry.get("machine") != _machine():
        return None
    for item in watched:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return None
        if identity(item[0]) != item[1]:
            return None
    data = entry.get("data")
    return data if _answer_shaped(data) else None


# What a probe's answer holds, and of what type (compiler.host reads these).
_SHAPE: dict[str, type | tuple[type, ...]] = {
    "executable": str,
    "version": str,
    "prefix": str,
    "base_prefix": str,
    "site_packages": list,
    "packages": dict,
    "markers": dict,
    "libc": (list, type(None)),
    "cuda": (list, type(None)),
}


def _answer_shaped(data: object) -> bool:
    """Is ``data`` shaped as a probe's answer? An entry edited by hand (or by
    another version) is then asked anew, never read into a traceback."""
    if not isinstance(data, dict):
        return False
    if not all(isinstance(data.get(k), t) for k, t in _SHAPE.items()):
        return False
    packages = data["packages"].values()
    return all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v) for v in packages
    ) and all(isinstance(v, str) for v in data["markers"].values())


def _store(folder: Path, name: str, executable: str, data: dict[str, Any], since: int) -> None:
    started = data.get("executable")
    if not isinstance(started, str) or os.path.realpath(started) != os.path.realpath(executable):
        return  # a shim or wrapper: the interpreter it starts may change, its file not
    watched: list[tuple[str, list[int] | None]] = [
        (p, identity(p)) for p in _watched(executable, data)
    ]
    for _path, ident in watched:
        if ident is not None and max(ident[3], ident[4]) >= since - _RACY_NS:
            return  # changed just now: a change in the same tick would not show
    entry = {
        "format": _FORMAT,
        "executable": executable,
        "machine": _machine(),
        "watched": watched,
        "data": data,
    }
    from .fsutil import atomic_write

    with contextlib.suppress(OSError):
        atomic_write(folder / name, json.dumps(entry))  # makes the folder too


def cached_probe(
    executable: str, script: str, probe: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """``probe()``'s answer for ``executable`` (run with ``script``), from the
    cache while the interpreter's files are unchanged."""
    folder = _folder()
    if folder is None:
        return probe()
    name = _entry_name(executable, script)
    data = _load(folder, name, executable)
    if data is not None:
        return data
    since = time.time_ns()
    data = probe()
    _store(folder, name, executable, data, since)
    return data
