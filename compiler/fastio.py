"""Input and output for the launch path without the imports that cost it time.

``json`` imports ``re``, ``hashlib`` loads OpenSSL and ``pathlib`` imports
``re`` and ``urllib``: together several times what the launch path itself
does. Here: JSON through ``_json`` (the C accelerator json itself calls), a
SHA-256 from the interpreter's built-in module, and lease files with ``os``
alone, each falling back to the standard module where the fast one is missing.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs a launch milliseconds
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "canonical_json",
    "json_loads",
    "lease_folder",
    "open_folder",
    "read_at",
    "read_lease",
    "read_own",
    "sha256",
    "sha256_hex",
    "start_time",
    "take_lease",
    "which",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def sha256(data: bytes = b"") -> Any:
    """A SHA-256 hash object (``update``, ``digest``, ``hexdigest``).

    hashlib loads OpenSSL (milliseconds); the built-in module is enough here.
    """
    return (_sha256_new or _find_sha256())(data)


_sha256_new: Any = None


def _find_sha256() -> Any:
    """The constructor, found once: a failed import is not remembered, and
    Python 3.11 has ``_sha256`` (3.12 ``_sha2``), so asking for ``_sha2`` at
    every hash searched the whole of sys.path each time."""
    global _sha256_new
    try:
        from _sha2 import sha256 as new  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha256 import sha256 as new  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:  # pragma: no cover - a build without them
            from hashlib import sha256 as new
    _sha256_new = new
    return new


def sha256_hex(data: bytes) -> str:
    return str(sha256(data).hexdigest())


# The json package imports re, which costs a launch more than everything else
# it does. Its C accelerator (_json), which json itself calls for these very
# cases, does not: use it directly, and json wherever it is missing or differs.
class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }.__getitem__


def _no_default(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def canonical_json(obj: object) -> str:
    try:
        from _json import encode_basestring_ascii, make_encoder

        encode = make_encoder(
            {}, _no_default, encode_basestring_ascii, None, ":", ",", True, False, True
        )
        return "".join(encode(obj, 0))
    except (ImportError, TypeError):
        import json

        return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def json_loads(text: str) -> Any:
    """``json.loads(text)``, raising ValueError on anything that is not one JSON value."""
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - an interpreter without the accelerator
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = make_scanner(_ScanContext)(text, start)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON document")
    return value


def which(command: str, path_var: str) -> str | None:
    """``command`` as PATH (``path_var``) finds it, as shutil.which does (which
    imports more than the launch path needs); a path is returned as is."""
    if os.sep in command or (os.altsep and os.altsep in command):
        return command
    for folder in path_var.split(os.pathsep):
        candidate = os.path.join(folder or ".", command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def read_own(folder: str | os.PathLike[str], name: str) -> bytes:
    """The file ``name`` in ``folder``, read without following a link at either
    (either could lead out of the home); OSError when it is not a regular file."""
    dir_fd = os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    try:
        return read_at(dir_fd, name, f"{folder}/{name}")
    finally:
        os.close(dir_fd)


def read_at(dir_fd: int, name: str, shown: str) -> bytes:
    """The regular file ``name`` in the folder open at ``dir_fd``, not through a
    link; never waiting on a FIFO; OSError (naming ``shown``) for anything else."""
    import stat

    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{shown} is not a file")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- lease files (see compiler.leases)

_own: dict[int, str] = {}  # this process's start time (a fork has another pid)


def start_time(pid: int) -> str:
    """The process's start time in clock ticks (Linux); '' where unknown."""
    if pid in _own:
        return _own[pid]
    started = _read_start_time(pid)
    if pid == os.getpid():
        _own.clear()
        _own[pid] = started
    return started


def _read_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            # The command name (field 2) may hold spaces; it ends at the last ')'.
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def lease_folder(env_path: str) -> str:
    """``.<X.Y.Z>.leases`` beside the environment."""
    return os.path.join(os.path.dirname(env_path), f".{os.path.basename(env_path)}.leases")


def open_folder(folder: str | os.PathLike[str]) -> int | None:
    """A lease folder as a descriptor, never through a link; None when it is
    missing or not a real folder."""
    try:
        return os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except (OSError, ValueError):
        return None


def read_lease(dir_fd: int, name: str) -> str | None:
    """The start time a lease file holds; None when it is missing, a link or
    not a regular file."""
    import stat  # loaded by os at start-up: no cost

    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def take_lease(env_path: str, pid: int | None = None) -> str:
    """Record that process ``pid`` (default: this one) uses the environment;
    returns the lease's path. Best effort: a read-only home must not stop a
    model from starting. A link in place of the lease folder is never followed."""
    pid = os.getpid() if pid is None else pid
    folder = lease_folder(env_path)
    started = start_time(pid)
    dir_fd = open_folder(folder)
    if dir_fd is not None and read_lease(dir_fd, str(pid)) == started:
        os.close(dir_fd)
        return os.path.join(folder, str(pid))  # ours already: one read
    if dir_fd is None:
        try:
            if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
                os.unlink(folder)  # not a lease folder: removed, never followed
            os.mkdir(folder)
        except OSError:
            pass
        dir_fd = open_folder(folder)
        if dir_fd is None:
            return os.path.join(folder, str(pid))
    # Missing, or left by an earlier process with the same pid: (re)write it.
    tmp = f".{pid}.tmp"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=dir_fd
        )
        try:
            os.write(fd, started.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, str(pid), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return os.path.join(folder, str(pid))
