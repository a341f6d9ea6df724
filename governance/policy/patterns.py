"""Wildcard matchers for the IAM policy language: ``*`` (any run) and ``?`` (one character), nothing else.

Matchers are compiled once at parse time into the cheapest test that works (``==``, ``startswith``,
a constant, or an anchored regex) because evaluation calls them millions of times. :func:`regions`
reasons about the sets of strings patterns match, for questions over many resources.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
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


# Questions over many resources need the languages of patterns, not just matchers: a pattern as tokens,
# where STAR and ANY are the wildcards and every other token is one literal character (so a literal
# ``*`` substituted from a policy variable stays literal).
STAR = ("*",)
ANY = ("?",)
Token = str | tuple[str]


def glob_tokens(pattern: str, *, ignore_case: bool = False) -> tuple[Token, ...]:
    if ignore_case:
        pattern = pattern.lower()
    return tuple(STAR if char == "*" else ANY if char == "?" else char for char in pattern)


def _closure(tokens: tuple[Token, ...], states: Iterable[int]) -> frozenset[int]:
    found = set(states)
    pending = list(found)
    while pending:
        position = pending.pop()
        if position < len(tokens) and tokens[position] is STAR and position + 1 not in found:
            found.add(position + 1)
            pending.append(position + 1)
    return frozenset(found)


def _step(tokens: tuple[Token, ...], states: frozenset[int], char: str | None) -> frozenset[int]:
    """States after reading ``char`` (None: a character that appears in no pattern)."""
    moved = []
    for position in states:
        if position == len(tokens):
            continue
        token = tokens[position]
        if token is STAR:
            moved.append(position)
        elif token is ANY or token == char:
            moved.append(position + 1)
    return _closure(tokens, moved) if moved else frozenset()


def regions(
    question: tuple[Token, ...], patterns: Sequence[tuple[Token, ...]], *, filler: str = "x", limit: int = 20000
) -> list[tuple[tuple[bool, ...], str]]:
    """Split the strings matching ``question`` by which of ``patterns`` they match.

    Returns one ``(matches, example)`` per combination that some string realizes: ``matches[i]`` says
    whether the region's strings match ``patterns[i]``, ``example`` is the shortest such string (a
    character no pattern names is written as ``filler``, or a substitute when patterns name it). Explores
    the product of the patterns' automata breadth-first; raises ``ValueError`` past ``limit`` states.
    """
    automata = (question, *patterns)
    literals = {token for tokens in automata for token in tokens if type(token) is str}
    other = next(char for char in (filler, *"xyzqjkvw0123456789_-") if char not in literals)
    start = tuple(_closure(tokens, (0,)) for tokens in automata)
    seen = {start: ""}
    queue = deque([start])
    found: dict[tuple[bool, ...], str] = {}
    while queue:
        state = queue.popleft()
        text = seen[state]
        if len(question) in state[0]:
            vector = tuple(len(tokens) in states for tokens, states in zip(patterns, state[1:], strict=True))
            if vector not in found or (text and not found[vector]):
                found[vector] = text  # the shortest example, but a non-empty one over ""
        # Characters that no live position names behave alike: one of them (``other``) stands for all.
        chars: set[str | None] = {None}
        for tokens, states in zip(automata, state, strict=True):
            for position in states:
                if position < len(tokens) and type(tokens[position]) is str:
                    chars.add(tokens[position])  # type: ignore[arg-type]
        for char in chars:
            head = _step(question, state[0], char)
            if not head:
                continue
            following = (
                head,
                *(_step(tokens, states, char) for tokens, states in zip(patterns, state[1:], strict=True)),
            )
            if following not in seen:
                if len(seen) >= limit:
                    raise ValueError(f"more than {limit} states: the patterns are too intricate to compare")
                seen[following] = text + (other if char is None else char)
                queue.append(following)
    return list(found.items())
