"""Lockfiles: where they live, what their header records, and reading them back.

Reading is light (no pydantic, no jinja2). :func:`parse_lock` parses a lock
once into its header, its body and the body's entries (version, marker, hash
lines), for ``lock --check`` (see verify.py), the committed-lock choice and
``doctor``; the header is read without scanning the body.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelenvError
from .fastio import sha256_hex

__all__ = [
    "Lock",
    "LockHeader",
    "LockedPackage",
    "Scan",
    "body_of",
    "header_end",
    "lock_path",
    "parse_header",
    "parse_lock",
    "parse_lock_body",
    "read_header",
    "scan_body",
    "sha256_text",
]

_PREFIX = "# modelenv-"


def lock_path(locks: Path, model: str, engine: str, python: str, target: str | None = None) -> Path:
    """``locks/<model>/<engine>/py<X.Y>.txt``, or ``<target>.txt`` for a target's lock."""
    return locks / model / engine / (f"{target}.txt" if target else f"py{python}.txt")


def sha256_text(text: str) -> str:
    return "sha256:" + sha256_hex(text.encode("utf-8"))


@dataclass(frozen=True)
class LockHeader:
    scheme: str
    fingerprint: str
    index_fingerprint: str
    system: dict[str, str | None]
    body_sha256: str
    target: str | None = None  # a target's lock: the target's name and content fingerprint
    target_fingerprint: str | None = None


# Blank means ASCII whitespace only, in text and in bytes alike: the header
# ends at the same line whichever of the two is scanned.
_BLANK = " \t\r\n\v\f"
_BLANK_BYTES = _BLANK.encode()


def _header_end(text: str) -> int:
    """Where the body starts: the first line that is neither blank nor a
    comment. Scans only the header, never the (possibly large) body."""
    pos, size = 0, len(text)
    while pos < size:
        nl = text.find("\n", pos)
        end = size if nl < 0 else nl + 1
        if not text.startswith("#", pos) and text[pos:end].strip(_BLANK):
            break
        pos = end
    return pos


def header_end(data: bytes | bytearray, size: int) -> int:
    """:func:`body_of`'s cut, in the first ``size`` bytes of ``data`` (see lockread.py)."""
    pos = 0
    while pos < size:
        nl = data.find(b"\n", pos, size)
        end = size if nl < 0 else nl + 1
        if not data.startswith(b"#", pos) and data[pos:end].strip(_BLANK_BYTES):
            break
        pos = end
    return pos


def body_of(text: str) -> str:
    """The lock without its header: what uv wrote."""
    return text[_header_end(text) :]


def parse_header(text: str) -> LockHeader | None:
    return _parse_header(text[: _header_end(text)])


def _parse_header(head: str) -> LockHeader | None:
    fields: dict[str, str] = {}
    for line in head.splitlines():
        if line.startswith(_PREFIX):
            key, _, value = line[len(_PREFIX) :].partition(":")
            fields[key.strip()] = value.strip()
    try:
        system = json.loads(fields["system"])
        return LockHeader(
            scheme=fields["scheme"],
            fingerprint=fields["fingerprint"],
            index_fingerprint=fields.get("index-fingerprint", ""),
            system=system if isinstance(system, dict) else {},
            body_sha256=fields["body-sha256"],
            target=fields.get("target") or None,
            target_fingerprint=fields.get("target-fingerprint") or None,
        )
    except (KeyError, ValueError):
        return None


def read_header(path: Path) -> tuple[LockHeader | None, str]:
    """(header or None when it is missing or malformed, the whole text); raises OSError."""
    text = path.read_text(encoding="utf-8")
    return parse_header(text), text


@dataclass(frozen=True)
class LockedPackage:
    name: str  # canonical
    version: str  # "" for a direct URL
    block: str  # the block as uv wrote it: its line, hash lines and "# via" notes
    marker: str = ""  # the PEP 508 marker after " ; ", "" when none
    url: str | None = None  # for "name @ url"

    @functools.cached_property
    def text(self) -> str:
        """The entry as pip reads it, hashes included, without uv's notes.
        Worked out on demand: lock --check parses every entry of every lock
        and needs this text for none of them."""
        return _without_comments(self.block)

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(_HASH.findall(self.text))

    @property
    def has_hash(self) -> bool:
        # As "--hash=" in self.text, without building the text: only a hash
        # before uv's notes counts (a note never carries one, a forgery might).
        block = self.block
        line_end = block.find("\n")
        cut = block.find("#", line_end) if line_end >= 0 else -1
        return block.find("--hash=", 0, len(block) if cut < 0 else cut) >= 0  # no slice copied

    @property
    def pin(self) -> str:
        """``name==version ; marker``: the entry as a preference, without hashes."""
        head = (
            f"{self.name} @ {self.url}" if self.url is not None else f"{self.name}=={self.version}"
        )
        return head + (f" ; {self.marker}" if self.marker else "")


@dataclass(frozen=True)
class Lock:
    """A lockfile parsed once: its header (None when missing or malformed), its
    body as uv wrote it, and the body's entries."""

    header: LockHeader | None
    body: str
    packages: tuple[LockedPackage, ...]

    @property
    def body_intact(self) -> bool:
        return self.header is not None and self.header.body_sha256 == sha256_text(self.body)

    def preferences(self) -> str:
        """The pins as a file uv reads as preferences: no hashes, so that uv
        takes every hash from the index and never trusts one from this file."""
        return "".join(p.pin + "\n" for p in self.packages)


def parse_lock(text: str) -> Lock:
    """Header, body and entries of a lock; raises ModelenvError for a body line
    that is not a ``name==version`` or ``name @ url`` entry."""
    end = _header_end(text)
    body = text[end:]
    return Lock(_parse_header(text[:end]), body, tuple(parse_lock_body(body)))


# A new entry starts at a line that is not indented; "--hash=" values end at
# whitespace or a line continuation.
_ENTRY_START = re.compile(r"\n(?=\S)")
_HASH = re.compile(r"--hash=([^\s\\]+)")


def parse_lock_body(body: str) -> list[LockedPackage]:
    """The ``name==version`` (or ``name @ url``) blocks of a uv lock, with their hash lines."""
    # Whole-block regex work, not a loop over lines: lock --check parses every
    # body, and a big lock has thousands of hash lines.
    out = []
    for chunk in _ENTRY_START.split(body):
        line_end = chunk.find("\n")
        head = chunk if line_end < 0 else chunk[:line_end]
        if not head.strip() or head.startswith("#"):
            continue
        first = head.partition(" --hash=")[0].rstrip().rstrip("\\").strip()
        head_part, sep, marker = first.partition(" ;")
        head_part = head_part.strip()
        url = None
        if " @ " in head_part:
            # A direct URL: no version to compare, so it is always installed.
            name, url = (part.strip() for part in head_part.split(" @ ", 1))
            version = ""
        else:
            name, eq, version = head_part.partition("==")
            if not eq:
                raise ModelenvError(
                    f"unexpected line in a lock: {head!r}",
                    hint="regenerate the lock with 'modelenv lock'",
                )
        out.append(
            LockedPackage(
                canonical(name.strip()),
                version.strip(),
                chunk,
                marker=marker.strip() if sep else "",
                url=url,
            )
        )
    return out


def _without_comments(block: str) -> str:
    """The entry as pip reads it: its line and hash lines, not uv's "# via" notes
    (which uv writes after the hashes; a hash line never holds a '#')."""
    head, _, rest = block.partition("\n")
    cut = rest.find("#")
    if cut >= 0:
        rest = rest[: rest.rfind("\n", 0, cut) + 1]
    rest = rest.rstrip()
    return f"{head}\n{rest}" if rest else head


@functools.lru_cache(maxsize=8192)
def canonical(name: str) -> str:
    """canonicalize_name, cached: lock bodies repeat the same names."""
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


# An entry as uv writes it: "name==version", " ; marker" maybe, then " \" and a
# hash line. The last group catches the start of any other chunk: a URL entry,
# a comment at the margin, an entry without a hash line, a stray space.
_UV_ENTRY = (
    r"(?:([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==([^\s;\\]+)"
    r"(?: ; ([^\s\\](?:[^\n\\]*[^\s\\])?))? \\\n[ \t]+--hash=|(\S))"
)
_FIRST_ENTRY = re.compile(_UV_ENTRY)
_NEXT_ENTRY = re.compile(r"\n" + _UV_ENTRY)


@dataclass(frozen=True)
class Scan:
    """A body every entry of which is in uv's shape, read in one regex pass:
    what lock --check needs of each entry (its name, version and marker; a hash
    it has, by that shape) without a :class:`LockedPackage` for each. The
    entries a check looks closer at are made on demand (:meth:`package`)."""

    text: str
    starts: tuple[int, ...]  # where each entry's line starts in ``text``
    names: tuple[str, ...]  # canonical
    versions: tuple[str, ...]
    markers: tuple[str, ...]  # "" when none

    def package(self, i: int) -> LockedPackage:
        """Entry ``i`` as :func:`parse_lock_body` reads it (the same block)."""
        end = self.starts[i + 1] - 1 if i + 1 < len(self.starts) else len(self.text)
        block = self.text[self.starts[i] : end]
        return LockedPackage(self.names[i], self.versions[i], block, marker=self.markers[i])


def scan_body(body: str) -> Scan | None:
    """The entries of ``body`` when each is in uv's shape, else None: then
    :func:`parse_lock_body` reads it (and says what is wrong)."""
    if not body:
        return Scan(body, (), (), (), ())
    first = _FIRST_ENTRY.match(body)
    if first is None or first[4] is not None:
        return None
    rows = [(0, first[1], first[2], first[3] or "")]
    for m in _NEXT_ENTRY.finditer(body):
        if m[4] is not None:
            return None
        rows.append((m.start() + 1, m[1], m[2], m[3] or ""))
    starts, names, versions, markers = zip(*rows, strict=True)
    if any("--hash=" in marker for marker in markers if marker):
        return None  # parse_lock_body cuts the line there
    return Scan(body, starts, tuple(map(canonical, names)), versions, markers)
