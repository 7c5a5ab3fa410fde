"""Tiny wheels built on the fly, so tests never need an index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write ``name-version-py3-none-any.whl`` into ``folder``; its module
    ``<name>`` has ``__version__``."""
    folder.mkdir(parents=True, exist_ok=True)
    module = canonicalize_name(name).replace("-", "_")
    dist = f"{module}-{version}"
    contents: dict[str, str] = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        **(files or {}),
        f"{dist}.dist-info/METADATA": "\n".join(
            ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
            + [f"Requires-Dist: {r}" for r in requires]
        )
        + "\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: modelenv-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = [_record_line(p, d.encode()) for p, d in contents.items()]
    record.append(f"{dist}.dist-info/RECORD,,")
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, d in contents.items():
            zf.writestr(p, d)
        zf.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return path
