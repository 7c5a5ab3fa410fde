"""New virtual environments copied from one uv made, instead of a uv process each.

``uv venv --relocatable`` writes the same files whatever folder it is given:
the activation scripts find their folder when they run, ``pyvenv.cfg`` names
the base interpreter, not the environment, and ``bin/python`` links to the
base. So the first build on a base interpreter keeps what uv made (before
anything is installed into it) as a template, and later builds copy it: a few
small files, about a millisecond, where starting uv costs a cold create 15-20
ms.

A template is kept in ``<home>/cache/venvs/<digest>/``, the digest of uv's
file (path and identity), the base interpreter's (path and identity), the
system site-packages choice and uv's ``UV_VENV*`` settings: a new uv, a
replaced interpreter or another setting gets a new one. Its list of contents
(``.modelenv-template.json``: each file's SHA-256, each link's target) is
written into it before the folder is renamed into place whole, and a copy
checks every entry against that list: a file changed or added, a link planted
there, a file that is not a regular file, and the template is not used (uv
makes the environment, and its result becomes the template). A copy never
follows a link: the template is read through folders opened without following
one (its own folder included: a template folder that is a link is not used),
and the template's own links (``bin/python`` to the base interpreter,
``lib64`` to ``lib``) are made again as links. Where folders cannot be opened
so (no ``O_NOFOLLOW``), no template is used.

Should uv ever write the environment's own folder into one of its files, no
template is kept (a copy would point elsewhere). ``MODELENV_NO_VENV_TEMPLATE=1``
turns templates off. Like the probe cache, the template is an optimisation
only: anything wrong with it means uv makes the environment.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

from . import uv
from .errors import ModelenvError
from .fastio import canonical_json, json_loads, read_at, sha256_hex
from .fresh import flag, identity
from .fsutil import remove_path, within
from .paths import display

__all__ = ["FOLDER", "MANIFEST", "make_venv"]

FOLDER = ("cache", "venvs")
MANIFEST = ".modelenv-template.json"
_FORMAT = 1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
# A walk that never follows a link needs folders opened by descriptor.
_BY_FD = (
    _NOFOLLOW != 0
    and os.scandir in os.supports_fd
    and os.open in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.readlink in os.supports_dir_fd
)


def make_venv(dest: Path, python: str, *, system_site: bool, home: Path | None) -> None:
    """A new virtual environment at ``dest`` (which must not exist) on ``python``."""
    template = _template(home, python, system_site)
    if template is not None and _copy(template, dest):
        return
    result = uv.run(uv.venv_command(str(dest), python, system_site_packages=system_site))
    if not result.ok:
        raise ModelenvError(f"uv venv failed for {display(dest)}:\n    {result.stderr.strip()}")
    if template is not None:
        _keep(dest, template)


def _template(home: Path | None, python: str, system_site: bool) -> Path | None:
    """Where the template for these inputs is (or would be) kept; None: none is."""
    if home is None or flag("MODELENV_NO_VENV_TEMPLATE", False):
        return None
    folder = home.joinpath(*FOLDER)
    if not within(home, folder):
        return None  # a link out of the home: never followed
    binary = uv.uv_binary()
    # uv's own settings for a new environment (UV_VENV_SEED: pip in it, ...).
    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith("UV_VENV"))
    key = [_FORMAT, binary, identity(binary), python, identity(python), system_site, settings]
    if key[2] is None or key[4] is None:
        return None
    return folder / sha256_hex(canonical_json(key).encode("utf-8", "surrogateescape"))[:32]


def _listing(root: Path, contents: dict[str, bytes]) -> dict[str, Any] | None:
    """What ``root`` holds, links not followed: {relative path: ["dir"] |
    ["file", mode, sha256] | ["link", target]}, each file's bytes put in
    ``contents`` (the manifest's too, unlisted); None when it holds anything
    else. ``root`` itself a link: OSError.

    Walked through folder descriptors opened without following a link, ``root``
    included: a folder swapped for a link while it is read is never entered."""
    if not _BY_FD:
        return None  # no safe walk here: uv makes every environment
    out: dict[str, Any] = {}
    fd = os.open(root, _DIR_FLAGS)
    try:
        return out if _list_into(fd, "", out, contents) else None
    finally:
        os.close(fd)


def _list_into(fd: int, rel: str, out: dict[str, Any], contents: dict[str, bytes]) -> bool:
    with os.scandir(fd) as entries:
        names = [entry.name for entry in entries]
    for base in names:
        name = f"{rel}/{base}" if rel else base
        if name == MANIFEST:  # read through the same folder as what it lists
            contents[name] = read_at(fd, base, name)
            continue
        st = os.stat(base, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            out[name] = ["link", os.readlink(base, dir_fd=fd)]
        elif stat.S_ISDIR(st.st_mode):
            out[name] = ["dir"]
            sub = os.open(base, _DIR_FLAGS, dir_fd=fd)
            try:
                if not _list_into(sub, name, out, contents):
                    return False
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            data = contents[name] = read_at(fd, base, name)
            out[name] = ["file", st.st_mode & 0o777, sha256_hex(data)]
        else:
            return False
    return True


def _new_file(path: Path, mode: int, data: bytes) -> None:
    """A new file holding all of ``data`` (os.write may write less than it is
    given); never written through a link, nor over anything already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(errno.EIO, "nothing written", str(path))
            view = view[written:]
    finally:
        os.close(fd)


def _copy(template: Path, dest: Path) -> bool:
    """Copy ``template`` to ``dest`` when it is what its list says; False (and
    nothing left at ``dest``) when it is missing, changed or unreadable."""
    contents: dict[str, bytes] = {}
    try:
        listing = _listing(template, contents)
        manifest = json_loads(contents.pop(MANIFEST).decode("utf-8"))
    except (OSError, KeyError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    if (
        listing is None
        or not isinstance(manifest, dict)
        or manifest.get("format") != _FORMAT
        or manifest.get("entries") != listing
    ):
        return False
    return _write(dest, listing, contents)


def _write(dest: Path, listing: dict[str, Any], contents: dict[str, bytes]) -> bool:
    """Make at ``dest`` (new) what ``listing`` lists, with the files'
    ``contents``: False (and nothing left at ``dest``) when that fails."""
    try:
        os.mkdir(dest)
        for name in sorted(listing):  # a folder before what is in it
            kind = listing[name]
            target = dest / name
            if kind[0] == "dir":
                os.mkdir(target)
            elif kind[0] == "link":
                os.symlink(kind[1], target)
            else:
                _new_file(target, kind[1], contents[name])
    except OSError:
        return _undo(dest)
    return True


def _undo(dest: Path) -> bool:
    remove_path(dest)
    return False


def _keep(made: Path, template: Path) -> None:
    """Keep the environment uv just made at ``made`` as ``template`` (whole, by
    a rename), unless it names its own folder. Best effort: failing, nothing."""
    temp = template.with_name(f".{template.name}.tmp-{os.getpid()}")
    try:
        contents: dict[str, bytes] = {}
        listing = _listing(made, contents)
        if listing is None or _mentions_itself(made, contents):
            return
        template.parent.mkdir(parents=True, exist_ok=True)
        remove_path(template)  # one that did not match its list, if any
        if not _write(temp, listing, contents):
            return
        doc = canonical_json({"format": _FORMAT, "entries": listing})
        _new_file(temp / MANIFEST, 0o644, doc.encode("utf-8"))
        os.rename(temp, template)
    except OSError:
        pass
    finally:
        remove_path(temp)


def _mentions_itself(root: Path, contents: dict[str, bytes]) -> bool:
    """Does a file in ``root`` name ``root`` (its path or its folder's name)?"""
    names = [os.fsencode(str(root)), os.fsencode(root.name)]
    return any(n in data for data in contents.values() for n in names)
