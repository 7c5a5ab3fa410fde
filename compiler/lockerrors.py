"""uv's resolution failures explained in modelenv's terms.

Pure functions: uv's text in, a message out that first says what failed and
what to do with a spec or a command line, then keeps uv's own text below.
uv writes for ``pyproject.toml`` projects (its hints name ``requires-python``
and ``tool.uv.environments``); a modelenv lock is made from a spec instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LockContext", "describe_split", "explain"]

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
class LockContext:
    """What modelenv put into this lock that uv's text cannot name."""

    python: str  # the lock's X.Y
    interpreter: str | None  # "Python 3.11.7 (/usr/bin/python3.11)", or None: uv's choice
    no_build_isolation_from: str | None  # where no_build_isolation = true was set, else None
    system: Mapping[str, str | None] = field(default_factory=dict)  # #system_NAME# pins
    host: str = "the base interpreter"  # where the pins' versions come from


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


def explain(stderr: str, context: LockContext) -> str:
    """The message for a failed ``uv pip compile``: modelenv's lines, then uv's."""
    lead = _system_pins(stderr, context) + _split(stderr, context) + _build(stderr, context)
    uv_text = stderr.strip()
    if not lead:
        return uv_text
    indented = "\n".join(f"  {line}" for line in uv_text.splitlines())
    return "\n".join(lead) + "\nuv says:\n" + indented


def _system_pins(stderr: str, context: LockContext) -> list[str]:
    """A pin uv names that a #system_NAME# entry made: the host's version."""
    lines = []
    for name, version in sorted(context.system.items()):
        if version is None:
            continue
        pin = re.compile(rf"(?<![\w.-]){re.escape(name)}=={re.escape(version)}(?![\w.+])", re.I)
        if pin.search(stderr):
            lines += [
                f"{name}=={version} is #system_{name}#: the version {context.host} has.",
                f"fix: install a {name} the other requirements accept into {context.host},"
                f" or write a version range for {name} in the spec instead of #system_{name}#.",
            ]
    return lines


def _split(stderr: str, context: LockContext) -> list[str]:
    split = _SPLIT.search(stderr)
    if split is None:
        return []
    marker = _strip_frame(split.group("m"))
    required = _REQUIRED.search(stderr)
    name = required.group("name") if required else "NAME"
    py = context.python
    return [
        f"uv found no solution for one part of the universal lock:"
        f" {describe_split(marker)} ({marker}).",
        f"A lock for Python {py} must resolve on every platform and for every Python from"
        f" {py} up; uv stops at the first part that fails.",
        "fix: if the conflict is only there and the model does not run there, restrict"
        " the requirement that fails to where it runs with a marker in the spec, for"
        f" example {_example(name, marker)}; otherwise the requirements conflict"
        " everywhere (uv's reasons are below). uv's hints name `requires-python` and"
        " `tool.uv.environments`: settings of uv projects, which a spec says with markers.",
    ]


def _build(stderr: str, context: LockContext) -> list[str]:
    if not _BUILD.search(stderr) or context.no_build_isolation_from is None:
        return []
    with_what = context.interpreter or f"the Python {context.python} interpreter uv found"
    return [
        "building a source distribution failed without build isolation:"
        f" no_build_isolation = true comes from {context.no_build_isolation_from}.",
        f"It was built with {with_what}, which must have the package's build"
        " requirements installed (for example setuptools and wheel).",
        "fix: install them into that interpreter, or remove no_build_isolation"
        " so that uv builds in an isolated environment.",
    ]


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
