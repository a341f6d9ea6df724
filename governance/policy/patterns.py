"""Wildcard matchers for the IAM policy language: ``*`` (any run) and ``?`` (one character), nothing else.

Matchers are compiled once at parse time into the cheapest test that works (``==``, ``startswith``,
a constant, or an anchored regex) because evaluation calls them millions of times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

Matcher = Callable[[str], bool]


def _always(_value: str) -> bool:
    return True


def glob_to_regex(pattern: str) -> str:
    """Regex source for a pattern where only ``*`` and ``?`` are special."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "".join(out)


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, *, ignore_case: bool = False) -> Matcher:
    """A predicate testing a whole string against ``pattern``.

    With ``ignore_case`` the caller must pass values already lower-cased: the pattern is lowered here
    so the hot path is a plain comparison.
    """
    if ignore_case:
        pattern = pattern.lower()
    if pattern == "*":
        return _always
    if not has_wildcard(pattern):
        return pattern.__eq__
    head, star, tail = pattern.partition("*")
    if star and not tail and "?" not in head:
        return lambda value: value.startswith(head)
    return compile_regex(glob_to_regex(pattern))


@lru_cache(maxsize=65536)
def compile_regex(source: str) -> Matcher:
    """Full-match predicate for regex source built by :func:`glob_to_regex` (DOTALL: ``*`` spans newlines)."""
    regex = re.compile(source, re.DOTALL)
    fullmatch = regex.fullmatch
    return lambda value: fullmatch(value) is not None
