"""uv's resolution failures explained in modelenv's terms.

Pure functions: uv's text in, a message out that first says what failed and
what to do with a spec or a command line, then keeps uv's own text below.
uv writes for ``pyproject.toml`` projects (its hints name ``requires-python``
and ``tool.uv.environments``); a modelenv lock is made from a spec instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BuildContext", "describe_split", "explain"]

# "No solution found when resolving dependencies for split (markers: M)", with
# a ':' on a terminal, where M may also wrap over lines ("markers: " since uv 0.7).
_SPLIT = re.compile(
    r"No solution found when resolving dependencies for split"
    r" \((?:markers:\s*)?(?P<m>.*?)\):?[ \t]*(?:\n|$)",
    re.DOTALL,
)
_BUILD = re.compile(
    r"Failed to (?:download and )?build|build backend returned an error"
    r"|Failed to resolve requirements from `?build-system|invalid command 'bdist_wheel'"
)
_REQUIRED = re.compile(
    r"\b(?:you\s+require|your\s+project\s+depends\s+on)\s+(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)"
)
_TERM = re.compile(r"^\s*(?P<var>[a-z_]+)\s*(?P<op>==|!=|>=|<=|<|>|~=)\s*'(?P<value>[^']*)'\s*$")
_PLATFORMS = {"win32": "Windows", "darwin": "macOS", "linux": "Linux"}
_VARIABLES = {
    "python_full_version": "Python",
    "python_version": "Python",
    "platform_machine": "machine",
    "platform_system": "system",
    "implementation_name": "implementation",
}


@dataclass(frozen=True)
class BuildContext:
    """How source distributions are built for this lock."""

    python: str  # the lock's X.Y
    interpreter: str | None  # "Python 3.11.7 (/usr/bin/python3.11)", or None: uv's choice
    no_build_isolation_from: str | None  # where no_build_isolation = true was set, else None


def _strip_frame(text: str) -> str:
    """uv's message without its box-drawing frame, on one line."""
    text = re.sub(r"[│╰─▶×├]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def describe_split(marker: str) -> str:
    """A uv split marker in words: "Python >= 3.14 on Windows", else as written."""
    words: list[str] = []
    platforms: list[str] = []
    for term in re.split(r"\band\b", marker):
        match = _TERM.match(term)
        if match is None:
            return marker
        var, op, value = match.group("var", "op", "value")
        if var == "sys_platform" and op in ("==", "!="):
            name = _PLATFORMS.get(value, value)
            platforms.append(name if op == "==" else f"not {name}")
        elif var in _VARIABLES:
            words.append(f"{_VARIABLES[var]} {op} {value}")
        else:
            return marker
    text = " and ".join(words) or "every Python"
    return f"{text} on {' and '.join(platforms)}" if platforms else text


def explain(stderr: str, build: BuildContext) -> str:
    """The message for a failed ``uv pip compile``: modelenv's lines, then uv's."""
    lead: list[str] = []
    split = _SPLIT.search(stderr)
    if split is not None:
        marker = _strip_frame(split.group("m"))
        required = _REQUIRED.search(stderr)
        name = required.group("name") if required else "NAME"
        lead += [
            f"the requirements resolve, except for {describe_split(marker)}"
            f" (one part of the universal lock: {marker}).",
            f"A lock for Python {build.python} covers every platform and every Python"
            f" from {build.python} up, so it must resolve there too.",
            "fix: if the model does not run there, restrict the requirement that fails"
            f" to the platforms and Python versions it runs on, with a marker in the spec:"
            f" {_example(name, marker)}. (uv's hints name `requires-python` and"
            " `tool.uv.environments`: settings of uv projects, which a spec says with"
            " markers.)",
        ]
    if _BUILD.search(stderr) and build.no_build_isolation_from is not None:
        with_what = build.interpreter or f"the Python {build.python} interpreter uv found"
        lead += [
            "building a source distribution failed without build isolation:"
            f" no_build_isolation = true comes from {build.no_build_isolation_from}.",
            f"It was built with {with_what}, which must have the package's build"
            " requirements installed (for example setuptools and wheel).",
            "fix: install them into that interpreter, or remove no_build_isolation"
            " so that uv builds in an isolated environment.",
        ]
    uv_text = stderr.strip()
    if not lead:
        return uv_text
    indented = "\n".join(f"  {line}" for line in uv_text.splitlines())
    return "\n".join(lead) + "\nuv says:\n" + indented


def _example(name: str, marker: str) -> str:
    """``'NAME ; M'`` where M is a PEP 508 marker excluding the split."""
    terms = []
    for term in re.split(r"\band\b", marker):
        match = _TERM.match(term)
        flipped = None if match is None else _FLIPPED.get(match.group("op"))
        if match is None or flipped is None:
            return f"'{name} ; MARKER' where MARKER excludes {marker}"
        terms.append(f'{match.group("var")} {flipped} "{match.group("value")}"')
    return f"'{name} ; {' or '.join(terms)}'"


_FLIPPED = {"==": "!=", "!=": "==", ">=": "<", "<=": ">", "<": ">=", ">": "<="}
