"""Wildcard matchers for the IAM policy language: ``*`` (any run) and ``?`` (one character), nothing else.

Matchers are compiled once at parse time into the cheapest test that works (``==``, ``startswith``,
a constant, or an anchored regex) because evaluation calls them millions of times. :func:`regions`
reasons about the sets of strings patterns match, for questions over many resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

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


@lru_cache(maxsize=65536)
def glob_tokens(pattern: str, *, ignore_case: bool = False) -> tuple[Token, ...]:
    if ignore_case:
        pattern = pattern.lower()
    return tuple(STAR if char == "*" else ANY if char == "?" else char for char in pattern)


class _Automaton:
    """One pattern's automaton, determinized lazily; shared by every question that uses the pattern.

    A state is a set of positions in the pattern (an epsilon-closed NFA state), numbered as found. State 0
    is the start; DEAD matches nothing more. ``universal`` states accept every continuation.
    """

    DEAD = -1
    __slots__ = (
        "_index",
        "_moves",
        "_stars",
        "accepting",
        "chars",
        "literals",
        "states",
        "tokens",
        "universal",
        "wild",
    )

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        # _stars[p]: the pattern from position p on is all stars (p = len: the empty rest).
        stars = [True] * (len(tokens) + 1)
        for position in range(len(tokens) - 1, -1, -1):
            stars[position] = tokens[position] is STAR and stars[position + 1]
        self._stars = stars
        self.states: list[frozenset[int]] = []
        self.accepting: list[bool] = []
        self.universal: list[bool] = []
        self.wild: list[bool] = []  # some position takes any character (* or ?)
        self.chars: list[frozenset[str]] = []
        self._index: dict[frozenset[int], int] = {}
        self._moves: dict[tuple[int, str | None], int] = {}
        # Characters the pattern never names all behave alike: they are looked up as None.
        self.literals = frozenset(token for token in tokens if type(token) is str)
        self._state(self._closure((0,)))

    def _closure(self, positions: Iterable[int]) -> frozenset[int]:
        tokens, found = self.tokens, set(positions)
        pending = list(found)
        while pending:
            position = pending.pop()
            if position < len(tokens) and tokens[position] is STAR and position + 1 not in found:
                found.add(position + 1)
                pending.append(position + 1)
        return frozenset(found)

    def _state(self, positions: frozenset[int]) -> int:
        number = self._index.get(positions)
        if number is None:
            tokens, end = self.tokens, len(self.tokens)
            number = self._index[positions] = len(self.states)
            self.states.append(positions)
            self.accepting.append(end in positions)
            # A star whose rest of the pattern is all stars accepts anything that follows.
            self.universal.append(any(p < end and self._stars[p] for p in positions))
            self.wild.append(any(p < end and type(tokens[p]) is tuple for p in positions))
            self.chars.append(frozenset(t for p in positions if p < end and type(t := tokens[p]) is str))
        return number

    def move(self, state: int, char: str | None) -> int:
        """The state after ``char`` (None: any character the pattern does not name)."""
        return _move(self, state, char)

    def _step(self, state: int, char: str | None) -> int:
        tokens, end, moved = self.tokens, len(self.tokens), []
        for position in self.states[state]:
            if position == end:
                continue
            token = tokens[position]
            if token is STAR:
                moved.append(position)
            elif token is ANY or token == char:
                moved.append(position + 1)
        return self._state(self._closure(moved)) if moved else self.DEAD


def _move(automaton: _Automaton | _Union, state: int, char: str | None) -> int:
    """A lazily determinized automaton's transition, worked out once (characters it never names as None)."""
    if char not in automaton.literals:
        char = None
    key = (state, char)
    found = automaton._moves.get(key)
    if found is None:
        found = automaton._moves[key] = automaton._step(state, char)
    return found


@lru_cache(maxsize=16384)
def _automaton(tokens: tuple[Token, ...]) -> _Automaton:
    return _Automaton(tokens)


def matches_tokens(tokens: tuple[Token, ...], text: str) -> bool:
    """Whether ``text`` matches the token pattern (the automaton :func:`regions` uses)."""
    automaton = _automaton(tokens)
    state = 0
    for char in text:
        if automaton.universal[state]:
            return True
        state = automaton.move(state, char)
        if state == _Automaton.DEAD:
            return False
    return automaton.accepting[state]


@lru_cache(maxsize=65536)
def disjoint(first: tuple[Token, ...], second: tuple[Token, ...]) -> bool:
    """Whether no string matches both patterns."""
    a, b = _automaton(first), _automaton(second)
    seen = {(0, 0)}
    pending = [(0, 0)]
    while pending:
        sa, sb = pending.pop()
        if (a.accepting[sa] and b.accepting[sb]) or a.universal[sa] or b.universal[sb]:
            return False  # a live glob state can always reach acceptance, so a universal one meets it
        for char in {None, *a.chars[sa], *b.chars[sb]}:
            following = (a.move(sa, char), b.move(sb, char))
            if _Automaton.DEAD not in following and following not in seen:
                seen.add(following)
                pending.append(following)
    return True


@lru_cache(maxsize=65536)
def includes(outer: tuple[Token, ...], inner: tuple[Token, ...]) -> bool:
    """Whether every string matching ``inner`` matches ``outer``."""
    a, b = _automaton(inner), _automaton(outer)
    seen = {(0, 0)}
    pending = [(0, 0)]
    while pending:
        sa, sb = pending.pop()
        if sb == _Automaton.DEAD or (a.accepting[sa] and not b.accepting[sb]):
            return False  # inner can still reach acceptance where outer cannot
        if b.universal[sb]:
            continue
        for char in {None, *a.chars[sa], *b.chars[sb]}:
            following = (a.move(sa, char), b.move(sb, char) if sb != _Automaton.DEAD else sb)
            if following[0] != _Automaton.DEAD and following not in seen:
                seen.add(following)
                pending.append(following)
    return True


def _impossible(
    vector: tuple[bool, ...], question: tuple[Token, ...], groups: Sequence[Sequence[tuple[Token, ...]]]
) -> bool:
    """A sound (not complete) proof that no string realizes ``vector``, from pairwise facts about patterns."""
    inside = [group for group, bit in zip(groups, vector, strict=True) if bit]
    outside = [group for group, bit in zip(groups, vector, strict=True) if not bit]
    if any(all(disjoint(question, tokens) for tokens in group) for group in inside):
        return True
    if any(any(includes(tokens, question) for tokens in group) for group in outside):
        return True
    for position, first in enumerate(inside):
        for second in inside[position + 1 :]:
            if all(disjoint(a, b) for a in first for b in second):
                return True
    return any(all(any(includes(b, a) for b in out) for a in group) for group in inside for out in outside)


class _Union:
    """A union of patterns as one automaton, determinized lazily: a state is the tuple of its patterns'
    states, with patterns that can no longer match dropped, and settled once one accepts everything."""

    DEAD = -1
    __slots__ = ("_index", "_moves", "accepting", "chars", "literals", "members", "states", "universal", "wild")

    def __init__(self, patterns: tuple[tuple[Token, ...], ...]) -> None:
        self.members = [_automaton(tokens) for tokens in patterns]
        self.literals = frozenset().union(*(member.literals for member in self.members))
        self.states: list[tuple[tuple[int, int], ...]] = []
        self.accepting: list[bool] = []
        self.universal: list[bool] = []
        self.wild: list[bool] = []
        self.chars: list[frozenset[str]] = []
        self._index: dict[tuple[tuple[int, int], ...], int] = {}
        self._moves: dict[tuple[int, str | None], int] = {}
        self._state(tuple((number, 0) for number in range(len(self.members))))

    def _state(self, live: tuple[tuple[int, int], ...]) -> int:
        if not live:
            return self.DEAD
        members = self.members
        universal = any(members[number].universal[state] for number, state in live)
        if universal:
            live = ((-1, 0),)  # settled: in the union whatever follows
        number = self._index.get(live)
        if number is None:
            number = self._index[live] = len(self.states)
            self.states.append(live)
            self.universal.append(universal)
            self.wild.append(universal or any(members[m].wild[state] for m, state in live))
            self.accepting.append(universal or any(members[m].accepting[state] for m, state in live))
            self.chars.append(
                frozenset() if universal else frozenset().union(*(members[m].chars[state] for m, state in live))
            )
        return number

    def move(self, state: int, char: str | None) -> int:
        return _move(self, state, char)

    def _step(self, state: int, char: str | None) -> int:
        if self.universal[state]:
            return state
        moved = ((m, self.members[m].move(s, char)) for m, s in self.states[state])
        return self._state(tuple((m, s) for m, s in moved if s != _Automaton.DEAD))


@lru_cache(maxsize=4096)
def _union(patterns: tuple[tuple[Token, ...], ...]) -> _Union:
    return _Union(patterns)


Part = tuple[tuple[Token, ...], ...]  # a union of patterns, one automaton (e.g. one policy's statements)


def regions(
    question: tuple[Token, ...],
    groups: Sequence[Sequence[Part]],
    *,
    filler: str = "x",
    limit: int = 50000,
    budget: int = 200,
) -> list[tuple[tuple[bool, ...], str]]:
    """Split the strings matching ``question`` by which groups of patterns they match.

    ``groups[i]`` is a union of parts, each part a union of patterns: a string is in the group when it
    matches any pattern of any part. (Parts are a grouping for speed: each is determinized once and shared
    by every question whose groups contain it, such as one managed policy's statements.) Returns one
    ``(matches, example)`` per combination some string realizes: ``matches[i]`` says whether the region's
    strings are in ``groups[i]``; ``example`` is one such string (non-empty when one exists; a character
    no pattern names is written as ``filler``, or a substitute when patterns name it).

    Searches the product of the parts' automata depth first, literal characters before others (so the
    strings patterns name come first), goes no further from a state once every group is settled (dead,
    or accepting everything that follows), and stops once every combination is found; past ``budget``
    states it rules out what pairwise facts can (two patterns share no string, one includes the other)
    and stops once the rest is found; otherwise the search is exhaustive. Raises ``ValueError`` past
    ``limit`` states.
    """
    automata: list[Any] = [_automaton(question)]
    bounds: list[range] = []
    for group in groups:
        bounds.append(range(len(automata), len(automata) + len(group)))
        automata.extend(_union(tuple(part)) for part in group)
    flat = [[tokens for part in group for tokens in part] for group in groups]
    literals = set().union(*(a.literals for a in automata))
    other = next(char for char in (filler, *"xyzqjkvw0123456789_-") if char not in literals)
    everything = 2 ** len(groups)
    wanted: set[tuple[bool, ...]] | None = None  # the combinations not ruled out, once worked out
    dead, missing = _Automaton.DEAD, -2
    accepting = [a.accepting for a in automata]
    universal = [a.universal for a in automata]
    wild = [a.wild for a in automata]
    chars_of = [a.chars for a in automata]
    moves = [a._moves for a in automata]
    named = [a.literals for a in automata]
    start = (0,) * len(automata)
    seen = {start: ""}
    # Transitions are worked out when taken, not when found: most are never taken once every region is.
    stack: list[tuple[tuple[int, ...], str | None]] = [(start, "")]
    found: dict[tuple[bool, ...], str] = {}
    while stack:
        parent, char = stack.pop()
        if char == "":
            state, text = parent, ""
        else:
            following = []
            for i, member in enumerate(parent):
                if member == dead or universal[i][member]:
                    following.append(member)
                    continue
                moved = moves[i].get((member, char if char in named[i] else None), missing)
                if moved == missing:
                    moved = automata[i].move(member, char)
                if not i and moved == dead:
                    break
                following.append(moved)
            else:
                state = tuple(following)
                if state in seen:
                    continue
                if len(seen) >= limit:
                    raise ValueError(f"more than {limit} states: the patterns are too intricate to compare")
                text = seen[state] = seen[parent] + (other if char is None else char)
            if len(following) < len(parent):
                continue  # the question no longer matches
        head = state[0]
        settled = universal[0][head]
        chars = dict.fromkeys(chars_of[0][head], 1)  # character -> how many live automata name it next
        vector = []
        after_other = []  # the groups' bits after a character no live pattern names, if no wildcard is live
        takes_any = False
        for members in bounds:
            hit = settled_group = False
            live = []
            for i in members:
                member = state[i]
                if member == dead:
                    continue
                if universal[i][member]:
                    hit = settled_group = True
                    break
                hit = hit or accepting[i][member]
                live.append(i)
            vector.append(hit)
            after_other.append(settled_group)
            if not settled_group and live:
                settled = False
                for i in live:
                    for char in chars_of[i][state[i]]:
                        chars[char] = chars.get(char, 0) + 1
                    takes_any = takes_any or wild[i][state[i]]
        if accepting[0][head]:
            key = tuple(vector)
            if key not in found or (text and not found[key]):
                found[key] = text
                complete = len(found) == everything or (wanted is not None and wanted <= found.keys())
                if complete and all(found.values()):
                    break
        if wanted is None and len(seen) > budget and len(groups) <= 8:
            # Searching long: rule out what pairwise facts can, to stop as soon as the rest is found.
            combinations = (tuple(bool(n >> i & 1) for i in range(len(groups))) for n in range(everything))
            missing_ones = [vector for vector in combinations if vector not in found]
            wanted = set(found) | {vector for vector in missing_ones if not _impossible(vector, question, flat)}
        if settled and text:
            continue  # every continuation falls in the region already found
        # A character no live pattern names kills every unsettled group: unless a wildcard is live, that
        # leads to one known combination, worth exploring only while it has no example.
        if takes_any or not found.get(tuple(after_other)):
            stack.append((state, None))
        # Popped first: the characters most live patterns name next (the strings they share), then in order.
        stack.extend((state, char) for char in sorted(chars, key=lambda c: (chars[c], c), reverse=True)[::-1])
    return list(found.items())
