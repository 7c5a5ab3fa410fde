"""Lockfiles: where they live, what their header records, and reading it back.

Reading is light (no pydantic, no jinja2): ``lock --check`` and the launch path
read only the ``# modelenv-*`` header lines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelenvError

__all__ = [
    "Lock",
    "LockHeader",
    "LockedPackage",
    "body_of",
    "lock_path",
    "parse_lock",
    "parse_lock_body",
    "read_header",
    "sha256_text",
]

_PREFIX = "# modelenv-"


def lock_path(locks: Path, model: str, engine: str, python: str, target: str | None = None) -> Path:
    """``locks/<model>/<engine>/py<X.Y>.txt``, or ``<target>.txt`` for a target's lock."""
    return locks / model / engine / (f"{target}.txt" if target else f"py{python}.txt")


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LockHeader:
    scheme: str
    fingerprint: str
    index_fingerprint: str
    system: dict[str, str | None]
    body_sha256: str
    target: str | None = None  # a target's lock: the target's name and content fingerprint
    target_fingerprint: str | None = None


def body_of(text: str) -> str:
    """The lock without its header: what uv wrote."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    return "".join(lines[i:])


def parse_header(text: str) -> LockHeader | None:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
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
    text: str  # the whole block, hashes included
    marker: str = ""  # the PEP 508 marker after " ; ", "" when none
    hashes: tuple[str, ...] = ()
    url: str | None = None  # for "name @ url"

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
    body = body_of(text)
    return Lock(parse_header(text), body, tuple(parse_lock_body(body)))


def parse_lock_body(body: str) -> list[LockedPackage]:
    """The ``name==version`` (or ``name @ url``) blocks of a uv lock, with their hash lines."""
    from packaging.utils import canonicalize_name

    blocks: list[list[str]] = []
    for line in body.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    out = []
    for block in blocks:
        first = block[0].rstrip().rstrip("\\").strip()
        head, sep, marker = first.partition(" ;")
        head = head.strip()
        url = None
        if " @ " in head:
            # A direct URL: no version to compare, so it is always installed.
            name, url = (part.strip() for part in head.split(" @ ", 1))
            version = ""
        else:
            name, eq, version = head.partition("==")
            if not eq:
                raise ModelenvError(
                    f"unexpected line in a lock: {block[0]!r}",
                    hint="regenerate the lock with 'modelenv lock'",
                )
        hashes = tuple(
            word[len("--hash=") :]
            for line in block
            for word in line.split()
            if word.startswith("--hash=")
        )
        out.append(
            LockedPackage(
                canonicalize_name(name.strip()),
                version.strip(),
                "\n".join(block),
                marker=marker.strip() if sep else "",
                hashes=hashes,
                url=url,
            )
        )
    return out
