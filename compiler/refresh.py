"""Bring a current environment's stored file identities up to date.

A ``touch``, or a ``git checkout`` that leaves a spec's bytes as they were,
gives the file another identity (mtime, ctime, perhaps inode): the launch path
(:mod:`compiler.fresh`) misses, and :func:`compiler.store.find_current` finds
the environment current from the bytes. Left there, every later launch would
pay that again until the next rebuild; so the identities that slow check took
are written back into the record, and the next launch is stat-only again.

Why this can never make a stale environment look current:

- the identities are taken before the bytes are read and compared: a write in
  between gives the file yet another identity, so the record describes an
  older file and the next launch checks the bytes again;
- a lock whose identity changed is read (its identity taken first) and must
  hash to the lock the environment was built from;
- the record is rewritten only under the environment's lock, taken without
  waiting (a build, repair or removal in progress holds it: nothing is then
  written, a later launch refreshes), and only when the record read again
  under that lock is the very one checked: a rebuild that finished meanwhile
  keeps its own record;
- it is written through a descriptor on the environment's folder opened
  without following links, to a temporary name and renamed over the record.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .fresh import RECORD_NAME, read_record, stat_key

TYPE_CHECKING = False  # not typing's: see compiler.fresh
if TYPE_CHECKING:
    from typing import Any

__all__ = ["lock_file_now", "refreshed"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def lock_file_now(locks: Path, record: dict[str, Any]) -> tuple[bool, list[Any] | None]:
    """(is the committed lock the environment was built from unchanged, its
    record entry as it is now). A new identity with the same bytes is
    unchanged, with the new identity; a lock outside ``locks`` (through a
    link), unreadable or with other bytes is a change."""
    entry = record.get("lock_file")
    if not entry:
        return True, entry
    if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
        return False, None
    now = stat_key(entry[0])
    if now == entry[1]:
        return True, entry
    if now is None:
        return False, None
    from .fsutil import within

    path = Path(entry[0])
    if not within(locks, path):
        return False, None
    from .fsutil import NotARegularFile, read_regular
    from .lockfile import sha256_text

    try:
        text = read_regular(path).decode("utf-8")  # read after the stat above
    except (OSError, NotARegularFile, UnicodeDecodeError):
        return False, None
    # As the build read it (Path.read_text): universal newlines.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if sha256_text(text) != record.get("lock_sha256"):
        return False, None
    return True, [entry[0], now]


def refreshed(
    home: Path,
    path: Path,
    record: dict[str, Any],
    inputs: dict[str, Any] | None,
    lock_file: list[Any] | None,
) -> dict[str, Any]:
    """``record`` of the environment at ``path`` (found current by its bytes),
    with the identities taken for that check, written back when it can be done
    safely; else as it was.

    The launch identities are replaced only when they are for the same request
    (or missing, in a record from before they existed): for another request
    (``--python`` spelt out, another base) the record keeps the build's, so
    two callers taking turns do not rewrite it at every launch.
    """
    updates: dict[str, Any] = {}
    launch = record.get("launch")
    if (
        inputs is not None
        and launch != inputs
        and (not isinstance(launch, dict) or launch.get("request") == inputs.get("request"))
    ):
        updates["launch"] = inputs
    if lock_file != record.get("lock_file"):
        updates["lock_file"] = lock_file
    if not updates:
        return record
    from .store import seal

    new = seal({**record, **updates})
    try:
        written = _replace_if_unchanged(home, path, record, new)
    except OSError:
        written = False  # a read-only home, a full disk: the next launch checks again
    return new if written else record


def _replace_if_unchanged(home: Path, path: Path, old: dict[str, Any], new: dict[str, Any]) -> bool:
    from .envlock import lock_if_free
    from .fsutil import within

    if not within(home / "virtualenv", path):
        return False  # never through a link out of the store
    with lock_if_free(path.parent / f".{path.name}.lock", f"refreshing {path}'s record") as held:
        if not held or read_record(path) != old:
            return False
        import json

        _replace_own(path, RECORD_NAME, (json.dumps(new, indent=2) + "\n").encode("utf-8"))
        return True


def _replace_own(folder: Path, name: str, data: bytes) -> None:
    """Replace ``folder/name`` with ``data`` atomically, never through a link."""
    dir_fd = os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    try:
        tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=dir_fd
        )
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)
