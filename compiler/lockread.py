"""Reading many locks in one run (``lock --check``, a no-op ``lock``).

Each lock is read as bytes into one buffer reused for every lock, and from a
regular file only (a FIFO in locks/ would block the reader forever). A body
already read in this run is neither decoded, hashed nor parsed again: the
header names its body's sha256, and when a body of that digest was read before
and holds the same bytes, it is that body. Locks often share a body (models an
importer wrote from one registry, with the same engine's packages), and a big
lock's body is most of the cost of checking it: decoding, hashing and parsing
5,000 hash lines.

The bytes are compared, never trusted from the header: a body that differs in
one byte is decoded, hashed and parsed like any other.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fastio import sha256_hex
from .lockfile import (
    Lock,
    LockedPackage,
    LockHeader,
    Scan,
    header_end,
    parse_header,
    parse_lock_body,
    scan_body,
    sha256_text,
)

__all__ = ["Body", "LockReader", "ReadLock"]


@dataclass(eq=False)
class Body:
    """A lock body decoded, hashed and read once: in one pass when every entry
    is in uv's shape (``scan``), else by :func:`parse_lock_body`."""

    raw: bytes
    sha256: str  # of ``text`` (``raw`` with universal newlines), computed here: "sha256:<hex>"
    text: str
    scan: Scan | None
    # What was worked out from this body alone (bodycheck.py: its own problems
    # for a set of marker environments), kept with it for the next lock.
    derived: dict[Any, Any] = field(default_factory=dict)

    @functools.cached_property
    def packages(self) -> tuple[LockedPackage, ...]:
        """Every entry (for a scanned body, only when asked: lock --check does not)."""
        return tuple(parse_lock_body(self.text))


@dataclass(frozen=True)
class ReadLock:
    header: LockHeader | None
    body: Body

    @property
    def intact(self) -> bool:
        """The body is the one the header's checksum names."""
        return self.header is not None and self.header.body_sha256 == self.body.sha256

    @property
    def lock(self) -> Lock:
        return Lock(self.header, self.body.text, self.body.packages)


class LockReader:
    """Reads locks, keeping the bodies read (up to ``budget`` bytes of them,
    the oldest dropped first) for the next lock that names the same digest."""

    def __init__(self, budget: int = 64 << 20) -> None:
        self._budget = budget
        self._held = 0
        self._bodies: OrderedDict[str, Body] = OrderedDict()
        self._buffer = bytearray()  # each lock is read into it: no fresh memory for each

    def read(self, path: Path) -> ReadLock:
        """The lock at ``path``. Raises OSError (FileNotFoundError when it does
        not exist), UnicodeDecodeError, and ModelenvError for a file that is
        not regular or a body line that is not an entry."""
        from .fsutil import read_regular_into

        self._buffer, size = read_regular_into(path, self._buffer)
        data = self._buffer
        end = header_end(data, size)
        header = parse_header(str(memoryview(data)[:end], "utf-8"))
        body = self._bodies.get(header.body_sha256) if header is not None else None
        # Compared in place: no copy of a body of half a megabyte.
        if body is None or size - end != len(body.raw) or not data.startswith(body.raw, end):
            body = self._parse(bytes(memoryview(data)[end:size]))
        return ReadLock(header, body)

    def _parse(self, raw: bytes) -> Body:
        text = raw.decode("utf-8")
        if "\r" in text:
            # As the build reads a lock (Path.read_text): universal newlines. A
            # checkout with CRLF line ends (core.autocrlf) is the lock uv wrote.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            digest = sha256_text(text)
        else:
            digest = "sha256:" + sha256_hex(raw)
        body = Body(raw, digest, text, scan_body(text))
        if body.scan is None:
            _ = body.packages  # parsed now: a line that is not an entry is an error now
        size = 2 * len(raw)  # its bytes and its text
        if size <= self._budget and body.sha256 not in self._bodies:
            self._bodies[body.sha256] = body
            self._held += size
            while self._held > self._budget:
                _, dropped = self._bodies.popitem(last=False)
                self._held -= 2 * len(dropped.raw)
        return body
