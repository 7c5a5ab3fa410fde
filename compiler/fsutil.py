"""File operations modelenv trusts: atomic writes (a reader never sees a
half-written file), reads of regular files only, and deletions that never
follow a link out of their folder."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelenvError

__all__ = [
    "NotARegularFile",
    "Tree",
    "atomic_write",
    "check_within",
    "create_new",
    "links_out",
    "os_error",
    "read_regular",
    "read_regular_into",
    "refuse_links_out",
    "remove_path",
    "remove_stale_temps",
    "stale_temps",
    "temp_sibling",
    "walk",
    "within",
]


@contextlib.contextmanager
def temp_sibling(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` (same filesystem, so ``os.replace`` is atomic),
    removed on the way out unless it was moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the name lets a later run tell a dead writer's leftover (see
    # remove_stale_temps) from a file another process is writing right now.
    tmp = _create_unique(path.parent, f".{path.name}.{os.getpid()}.", suffix)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


_EXCLUSIVE = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _create_unique(folder: Path, prefix: str, suffix: str) -> Path:
    """A new empty file ``PREFIX<random>SUFFIX`` in ``folder``, mode 0600, as
    tempfile.mkstemp makes it (tempfile imports shutil and random: a cold
    create paid milliseconds for them)."""
    for _ in range(100):
        path = folder / f"{prefix}{os.urandom(5).hex()}{suffix}"
        try:
            fd = os.open(path, _EXCLUSIVE, 0o600)
        except FileExistsError:
            continue  # another writer drew the same name: draw again
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(folder))


def _read_umask() -> int:
    # Setting the umask to read it is process-wide: another thread creating a
    # file in between would get 0o777. So read it once, at import, where no
    # other modelenv thread runs yet (Linux also shows it in /proc).
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    # mkstemp creates 0600; a spec or lock is an ordinary file (0644 under umask 022).
    os.chmod(path, 0o666 & ~_UMASK)


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step."""
    with temp_sibling(path) as tmp:
        _write_synced(tmp, text.encode("utf-8"))
        os.replace(tmp, path)


def create_new(path: Path, text: str) -> bool:
    """Write ``path`` only if it does not exist, atomically; False when it already did."""
    with temp_sibling(path) as tmp:
        _write_synced(tmp, text.encode("utf-8"))
        try:
            os.link(tmp, path)  # fails if path exists: no check-then-write race
        except FileExistsError:
            return False
    return True


@dataclass(frozen=True)
class Tree:
    """One walk of a folder that enters no linked folder: what lock and lock
    --check look for in locks/ (links out, leftover temporary files, locks),
    found with one ``scandir`` per folder and no further ``stat``."""

    links: tuple[str, ...]  # symbolic links, to files or folders, sorted as paths
    temps: tuple[str, ...]  # ".*.tmp" names, files or folders, sorted as paths
    files: tuple[tuple[str, int, bool], ...]  # (path, depth below the root, a regular file?)


def walk(root: Path) -> Tree:
    links: list[str] = []
    temps: list[str] = []
    files: list[tuple[str, int, bool]] = []
    todo = [(os.fspath(root), 1)]
    while todo:
        folder, depth = todo.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue  # as os.walk: a folder that vanished or cannot be read
        with entries:
            for entry in entries:
                name = entry.name
                if len(name) >= 5 and name.startswith(".") and name.endswith(".tmp"):
                    temps.append(entry.path)
                link = entry.is_symlink()
                if link:
                    links.append(entry.path)
                try:
                    folder_like = entry.is_dir()  # a linked folder too, as os.walk
                except OSError:
                    folder_like = False  # as os.walk: then it is listed as a file
                if not folder_like:
                    files.append((entry.path, depth, _is_file(entry)))
                elif not link:  # a linked folder is listed, never entered
                    todo.append((entry.path, depth + 1))
    return Tree(tuple(sorted(links, key=Path)), tuple(sorted(temps, key=Path)), tuple(files))


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def stale_temps(folder: Path, tree: Tree | None = None) -> list[Path]:
    """Temporary files under ``folder`` (of ``tree``, its walk, when given) left
    by writers that died (a SIGKILL between write and rename)."""
    from .leases import pid_alive

    out = []
    for name in (tree or walk(folder)).temps:
        tmp = Path(name)
        parts = tmp.name.split(".")
        # ".NAME.PID.RANDOM.tmp": the pid is the third field from the end.
        pid = parts[-3] if len(parts) >= 4 else ""
        if pid.isdigit() and not pid_alive(int(pid)) and tmp.is_file():
            out.append(tmp)
    return out


def remove_stale_temps(folder: Path) -> list[Path]:
    removed = []
    for tmp in stale_temps(folder):
        # Only below ``folder`` once links are resolved: the walk enters no
        # linked folder, and this holds even if that changes (a cloned
        # repository may carry such links).
        if within(folder, tmp.parent):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def within(root: Path, path: Path) -> bool:
    """Does ``path``, every link resolved, stay inside ``root`` (links resolved)?"""
    name = os.path.basename(path)
    if (
        os.path.dirname(path) == os.fspath(root)
        and name not in ("", ".", "..")
        and not os.path.islink(path)
    ):
        return True  # a plain entry of root itself: one lstat, not two realpath walks
    top = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def check_within(root: Path, path: Path) -> None:
    """Refuse ``path`` when a link takes it out of ``root``: modelenv never reads,
    writes or deletes through such a link."""
    if not within(root, path):
        raise ModelenvError(
            f"{path} leads out of {root} (to {os.path.realpath(path)}) through a symbolic link;"
            " modelenv never follows a link out of its folders",
            hint=f"remove the link, or replace it with a real folder inside {root}",
        )


def links_out(root: Path, tree: Tree | None = None) -> list[Path]:
    """Symbolic links below ``root`` (of ``tree``, its walk, when given) that
    lead out of it. Found without following any link: a linked folder is
    looked at, never entered."""
    if tree is None:
        if not root.is_dir():
            return []
        tree = walk(root)
    return [Path(p) for p in tree.links if not within(root, Path(p))]


def refuse_links_out(root: Path, what: str, tree: Tree | None = None) -> None:
    """Fail, naming each, when links below ``root`` lead out of it: ``what`` (specs,
    locks) is read, written and pruned only inside its folder."""
    found = links_out(root, tree)
    if found:
        listed = "\n".join(f"    {p} -> {os.path.realpath(p)}" for p in found)
        raise ModelenvError(
            f"{len(found)} symbolic link{'s' if len(found) > 1 else ''} in {root} lead"
            f"{'' if len(found) > 1 else 's'} out of it:\n{listed}",
            hint=f"modelenv reads, writes and prunes {what} only inside {root}:"
            " replace the link with a copy of what it points to, or remove it",
        )


class NotARegularFile(ModelenvError):
    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path} is not a regular file ({kind})", hint="replace it with a file")
        self.kind = kind


def read_regular(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file: a FIFO or a device
    there would block the reader forever, a folder is a mistake to name."""
    with _open_regular(path) as (fd, size):
        # Plain reads: a buffered file object costs more than the read itself
        # for a spec of a few hundred bytes, and lock --check reads thousands.
        chunks = []
        while data := os.read(fd, max(size + 1, 65536)):
            chunks.append(data)
        return b"".join(chunks)


def read_regular_into(path: Path, buffer: bytearray) -> tuple[bytearray, int]:
    """:func:`read_regular` into ``buffer``, grown when too small: (the buffer, the
    file's length). Reading many big files into one buffer spares allocating
    (and the kernel zeroing) fresh memory for each."""
    with _open_regular(path) as (fd, size):
        if len(buffer) <= size:
            buffer = bytearray(size + 1)
        done = 0
        with io.FileIO(fd, closefd=False) as f:
            while n := f.readinto(memoryview(buffer)[done:]):
                done += n
                if done == len(buffer):  # it grew since fstat
                    buffer.extend(bytes(len(buffer)))
        return buffer, done


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[tuple[int, int]]:
    """(a blocking descriptor of ``path``, its size), or NotARegularFile."""
    # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(path, _kind(st.st_mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        yield fd, st.st_size
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a file"


def remove_path(path: Path) -> str | None:
    """Delete ``path`` (a folder, a file or a link), never what a link points to.

    Returns None once it is gone, else why it is not. Read-only folders inside
    are made writable first, as pip does: they are modelenv's own.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _reason(exc)
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)  # a file or a link: the link itself, never its target
        except FileNotFoundError:
            return None
        except OSError as exc:
            return _reason(exc)
        return None
    failures: list[OSError] = []

    import shutil  # here: it imports bz2, lzma and zlib, and most commands never delete

    def retry_writable(_func: object, name: str, _exc: object) -> None:
        # shutil.rmtree never follows links below ``path`` (it unlinks them).
        try:
            _make_writable(os.path.dirname(name))
            if os.path.isdir(name) and not os.path.islink(name):
                _make_writable(name)
                shutil.rmtree(name)
            else:
                os.unlink(name)
        except FileNotFoundError:
            pass
        except OSError as again:
            failures.append(again)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=retry_writable)
        else:  # pragma: no cover - onerror is deprecated from 3.12
            shutil.rmtree(path, onerror=retry_writable)
    except OSError as exc:
        failures.append(exc)
    if not os.path.lexists(path):
        return None
    return _reason(failures[0]) if failures else "it is still there"


def _make_writable(folder: str) -> None:
    mode = os.lstat(folder).st_mode
    if stat.S_ISDIR(mode):
        os.chmod(folder, stat.S_IMODE(mode) | stat.S_IRWXU)


def _reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


_HINTS = {
    errno.ENOSPC: "free some disk space (modelenv gc frees unused environments)",
    errno.EDQUOT: "free some disk space (modelenv gc frees unused environments)",
    errno.EROFS: "the filesystem is read-only: set MODELENV_HOME to a writable folder",
    errno.EACCES: "check the folder's permissions, or set MODELENV_HOME to a writable folder",
    errno.EPERM: "check the folder's permissions, or set MODELENV_HOME to a writable folder",
    errno.ELOOP: "a symbolic link there loops or is refused: remove it",
    errno.ENOTDIR: "a file stands where a folder belongs: check MODELENV_HOME and the paths",
    errno.EISDIR: "a folder stands where a file belongs: remove it",
}


def os_error(exc: OSError, doing: str) -> ModelenvError:
    """An OS error as a message a user can act on: what failed, where, the fix."""
    return ModelenvError(f"{doing}: {_reason(exc)}", hint=_HINTS.get(exc.errno or 0))
