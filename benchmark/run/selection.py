"""``-k`` expressions over node ids, as in pytest: words joined by ``and``, ``or``, ``not`` and
parentheses; a word matches when it is a case-insensitive substring of the node id."""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class ExpressionError(ValueError):
    """A ``-k`` expression that cannot be parsed."""


def compile_expression(expression: str) -> Callable[[str], bool]:
    """Return a predicate over node ids for ``expression``."""
    tokens = [m.group(1) for m in _TOKEN.finditer(expression)]
    if not tokens:
        raise ExpressionError("empty -k expression")
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else None

    def take(expected=None):
        nonlocal position
        token = peek()
        if token is None or (expected and token != expected):
            raise ExpressionError(f"-k {expression!r}: expected {expected or 'a word'} at the end")
        position += 1
        return token

    def parse_or():
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def parse_and():
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def parse_not():
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda s: not inner(s)
        if peek() == "(":
            take()
            inner = parse_or()
            take(")")
            return inner
        word = take()
        if word in ("and", "or", ")"):
            raise ExpressionError(f"-k {expression!r}: unexpected {word!r}")
        word = word.lower()
        return lambda s: word in s.lower()

    predicate = parse_or()
    if position != len(tokens):
        raise ExpressionError(f"-k {expression!r}: unexpected {tokens[position]!r}")
    return predicate
