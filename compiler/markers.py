"""Markers with host facts: PEP 508 markers extended with facts about the host's
accelerator, as Xinference's registry writes them.

packaging's :class:`~packaging.markers.Marker` accepts only PEP 508 variable
names, so ``has_cuda`` or ``cuda_version >= "12.8"`` can never go through it.
This module parses a marker into a small tree whose leaves are either host-fact
tests or plain PEP 508 comparisons, and then:

- :func:`reduce` evaluates the fact leaves against a host's facts and returns
  what remains for uv: ``True`` (always), ``False`` (never) or a PEP 508 marker;
- :func:`evaluate` evaluates the whole marker (facts and PEP 508) for a host;
- :func:`split` separates a conjunction into its PEP 508 part and its fact part.

The facts (see :data:`FACTS`): ``has_cuda`` and ``has_npu`` are booleans,
written bare or as ``not has_cuda``; ``cuda_version`` is compared as a version
(PEP 440, with packaging) against a quoted string; on a host without CUDA every
``cuda_version`` comparison is false. ``not`` applies only to fact tests: PEP
508 has no negation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FACTS",
    "FactValue",
    "MarkerError",
    "evaluate",
    "fact_names",
    "mask",
    "reduce",
    "split",
    "uses_facts",
    "validate",
]

# Fact name -> its kind. Documented in docs/targets.md.
FACTS: Mapping[str, str] = {"has_cuda": "bool", "has_npu": "bool", "cuda_version": "version"}
FactValue = bool | str | None

_OPS = ("===", "==", "!=", "<=", ">=", "~=", "<", ">")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\() | (?P<rp>\)) |
        (?P<str>'[^']*'|"[^"]*") |
        (?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b) |
        (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


class MarkerError(ValueError):
    """A marker that cannot be parsed or uses a fact wrongly."""


@dataclass(frozen=True)
class _Fact:
    name: str
    op: str | None = None  # None: a bare boolean fact
    value: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class _Pep:
    text: str


@dataclass(frozen=True)
class _Bool:
    op: str  # "and" | "or"
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Not:
    item: _Node


_Node = _Fact | _Pep | _Bool | _Not


def uses_facts(marker: str) -> bool:
    """True when ``marker`` names a host fact outside quoted strings."""
    return bool(fact_names(marker))


def fact_names(marker: str, names: tuple[str, ...] | None = None) -> list[str]:
    """The fact names (of ``names``, default :data:`FACTS`) that ``marker`` uses."""
    unquoted = re.sub(r"\"[^\"]*\"|'[^']*'", " ", marker)
    return [v for v in (names or tuple(FACTS)) if re.search(rf"\b{v}\b", unquoted)]


def mask(marker: str) -> str:
    """``marker`` with quoted strings and parenthesised parts blanked out, so a
    top-level ``and``/``or`` can be found with a regular expression."""
    out = []
    depth = 0
    quote = ""
    for ch in marker:
        if quote:
            if ch == quote:
                quote = ""
            out.append(" ")
        elif ch in "\"'":
            quote = ch
            out.append(" ")
        elif ch == "(":
            depth += 1
            out.append(" ")
        elif ch == ")":
            depth = max(depth - 1, 0)
            out.append(" ")
        else:
            out.append(" " if depth else ch)
    return "".join(out)


# --- parsing


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise MarkerError(f"invalid marker {text!r}: unexpected text at {text[pos:].strip()!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value in ("and", "or", "not"):
            kind = value
        elif kind == "op":
            value = re.sub(r"\s+", " ", value)
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, why: str) -> MarkerError:
        return MarkerError(f"invalid marker {self.text!r}: {why}")

    def peek(self) -> str | None:
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise self.fail("unexpected end")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> _Node:
        if not self.toks:
            raise self.fail("empty marker")
        node = self.expr()
        if self.i != len(self.toks):
            raise self.fail(f"unexpected {self.toks[self.i][1]!r}")
        return node

    def expr(self) -> _Node:
        return self._chain("or", self.conj)

    def conj(self) -> _Node:
        return self._chain("and", self.unary)

    def _chain(self, op: str, sub: object) -> _Node:
        assert callable(sub)
        items = [sub()]
        while self.peek() == op:
            self.take()
            items.append(sub())
        return items[0] if len(items) == 1 else _Bool(op, tuple(items))

    def unary(self) -> _Node:
        if self.peek() == "not":
            self.take()
            inner = self.unary()
            if _has(inner, _Pep):
                raise self.fail(
                    "'not' applies only to host facts (has_cuda, has_npu, cuda_version);"
                    " PEP 508 markers have no negation"
                )
            return _negate(inner)
        if self.peek() == "lp":
            self.take()
            node = self.expr()
            if self.peek() != "rp":
                raise self.fail("missing ')'")
            self.take()
            return node
        return self.atom()

    def atom(self) -> _Node:
        kind, left = self.take()
        if kind not in ("word", "str"):
            raise self.fail(f"expected a variable or a string, got {left!r}")
        if self.peek() != "op":
            if kind == "word" and FACTS.get(left) == "bool":
                return _Fact(left)
            if kind == "word" and left in FACTS:
                raise self.fail(
                    f'{left} must be compared with a quoted version, such as {left} >= "12.8"'
                )
            raise self.fail(f"expected an operator after {left!r}")
        _, op = self.take()
        kind2, right = self.take()
        if kind2 not in ("word", "str"):
            raise self.fail(f"expected a variable or a string after {op!r}, got {right!r}")
        names = [v for k, v in ((kind, left), (kind2, right)) if k == "word" and v in FACTS]
        if not names:
            return _Pep(f"{left} {op} {right}")
        name = names[0]
        if FACTS[name] == "bool":
            raise self.fail(f"{name} is true or false: write '{name}' or 'not {name}'")
        if kind == kind2:
            raise self.fail(f"{name} must be compared with a quoted version")
        if op in ("in", "not in", "==="):
            raise self.fail(f"{name} is compared as a version: use ==, !=, <, <=, >, >= or ~=")
        value = (right if kind == "word" else left)[1:-1]
        if kind == "str":  # "12.8" <= cuda_version: turn it round
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        _check_version(op, value, self)
        return _Fact(name, op, value)


def _check_version(op: str, value: str, parser: _Parser) -> None:
    # Evaluation builds the same specifier: one it cannot build would make the
    # fact silently false on every host, so it is refused here.
    from packaging.specifiers import InvalidSpecifier, Specifier
    from packaging.version import InvalidVersion, Version

    try:
        Version(value.removesuffix(".*"))
    except InvalidVersion:
        raise parser.fail(f"{value!r} is not a version") from None
    try:
        Specifier(f"{op}{value}")
    except InvalidSpecifier:
        if value.endswith(".*"):
            why = f"'.*' goes only with == and !=, not {op}"
        else:
            why = f'~= needs a version of two parts or more, such as "{value}.0"'
        raise parser.fail(why) from None


def _negate(node: _Node) -> _Node:
    if isinstance(node, _Fact):
        return _Fact(node.name, node.op, node.value, not node.negated)
    return _Not(node)


def _has(node: _Node, kind: type[_Fact] | type[_Pep]) -> bool:
    """Does ``node`` hold a leaf of ``kind`` (a host fact, a PEP 508 comparison)?"""
    if isinstance(node, kind):
        return True
    if isinstance(node, _Bool):
        return any(_has(n, kind) for n in node.items)
    if isinstance(node, _Not):
        return _has(node.item, kind)
    return False


@functools.lru_cache(maxsize=4096)
def _parse(marker: str) -> _Node:
    # Nodes are frozen: every plan resolves each fact entry again (requirements,
    # expected lock contents), and the PEP 508 check builds packaging Markers.
    node = _Parser(marker).parse()
    _check_pep(node, marker)
    return node


def _check_pep(node: _Node, marker: str) -> None:
    from packaging.markers import InvalidMarker, Marker

    if isinstance(node, _Pep):
        try:
            Marker(node.text)
        except InvalidMarker as exc:
            first = (str(exc).splitlines() or [""])[0]
            raise MarkerError(f"invalid marker {marker!r}: {first}") from None
    elif isinstance(node, _Bool):
        for item in node.items:
            _check_pep(item, marker)
    elif isinstance(node, _Not):
        _check_pep(node.item, marker)


def validate(marker: str) -> None:
    """Raise :class:`MarkerError` when ``marker`` is not a valid marker with facts."""
    _parse(marker)


# --- evaluation


def _fact_true(fact: _Fact, facts: Mapping[str, FactValue]) -> bool:
    value = facts.get(fact.name)
    if fact.op is None:
        result = bool(value)
    elif not isinstance(value, str) or not value:
        result = False  # no CUDA: no comparison with its version holds
    else:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version

        try:
            result = Version(value) in SpecifierSet(f"{fact.op}{fact.value}", prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            result = False
    return result != fact.negated


def _reduce(node: _Node, facts: Mapping[str, FactValue]) -> bool | str:
    if isinstance(node, _Fact):
        return _fact_true(node, facts)
    if isinstance(node, _Pep):
        return node.text
    if isinstance(node, _Not):
        inner = _reduce(node.item, facts)
        assert isinstance(inner, bool)  # a negated subtree holds facts only
        return not inner
    parts: list[str] = []
    for item in node.items:
        value = _reduce(item, facts)
        if value is (node.op == "or"):
            return value  # True in an "or", False in an "and": decided
        if isinstance(value, str):
            parts.append(value)
    if not parts:
        return node.op == "and"
    if len(parts) == 1:
        return parts[0]
    return f" {node.op} ".join(f"({p})" if " and " in p or " or " in p else p for p in parts)


def reduce(marker: str, facts: Mapping[str, FactValue]) -> bool | str:
    """``marker`` with its fact tests evaluated against ``facts``: ``True`` when
    it holds whatever the rest, ``False`` when it never does, else the PEP 508
    marker that remains (for uv to evaluate)."""
    return _reduce(_parse(marker), facts)


def evaluate(
    marker: str, facts: Mapping[str, FactValue], environment: Mapping[str, str] | None = None
) -> bool:
    """Does ``marker`` hold on a host with ``facts`` and PEP 508 ``environment``
    (default: the running interpreter's)?"""
    rest = reduce(marker, facts)
    if isinstance(rest, bool):
        return rest
    from packaging.markers import Marker

    return Marker(rest).evaluate(dict(environment) if environment is not None else None)


def split(marker: str) -> tuple[str | None, str | None]:
    """(the PEP 508 part, the fact part) of ``marker``; either may be None.

    Only a conjunction splits: in ``has_cuda or sys_platform == "linux"`` the
    parts depend on each other, and :class:`MarkerError` says so.
    """
    node = _parse(marker)
    items = node.items if isinstance(node, _Bool) and node.op == "and" else (node,)
    pep: list[str] = []
    fact: list[str] = []
    for item in items:
        has_pep = _has(item, _Pep)
        if has_pep and _has(item, _Fact):
            raise MarkerError(
                f"marker {marker!r} joins host facts and PEP 508 markers with 'or';"
                " only 'and' can separate them"
            )
        (pep if has_pep else fact).append(_render(item))
    return (" and ".join(pep) or None), (" and ".join(fact) or None)


def _render(node: _Node) -> str:
    if isinstance(node, _Fact):
        text = node.name if node.op is None else f'{node.name} {node.op} "{node.value}"'
        if node.negated:
            return f"not {text}" if node.op is None else f"not ({text})"
        return text
    if isinstance(node, _Pep):
        return node.text
    if isinstance(node, _Not):
        return f"not ({_render(node.item)})"
    return f" {node.op} ".join(
        f"({_render(i)})" if isinstance(i, _Bool) else _render(i) for i in node.items
    )
