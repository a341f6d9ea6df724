"""Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team, 'none'}``) and their escapes.

Only policies with ``Version: 2012-10-17`` have variables; in 2008-10-17 policies ``${...}`` is plain text.
A variable resolves from the request context (keys are case-insensitive). A missing or multi-valued key
falls back to the default value if one is given; otherwise the string it sits in cannot be resolved and
the caller treats it as matching nothing (AWS: "the statement may be invalid"). ``${*}``, ``${?}`` and
``${$}`` stand for a literal ``*``, ``?`` and ``$``, never wildcards. Substituted values are literal too.
Substitution is a single pass: a default that looks like a variable is not expanded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import PolicyError
from .patterns import Matcher, Token, compile_regex, glob_to_regex, glob_tokens

TEXT = 0  # literal text in which * and ? are wildcards (for *Like matching and Resource)
LITERAL = 1  # text that is always literal: escapes and substituted values
VARIABLE = 2

Context = Mapping[str, tuple[str, ...]]

_ESCAPES = {"*": "*", "?": "?", "$": "$"}
_DEFAULT = re.compile(r"^\s*'((?:[^']|'')*)'\s*$")


@dataclass(frozen=True, slots=True)
class Template:
    """A string containing policy variables, split into parts once at parse time."""

    source: str
    parts: tuple[tuple[int, str, str | None], ...]
    _matchers: dict[tuple[str, ...], Matcher] = field(default_factory=dict, compare=False, repr=False)

    def matcher(self, context: Context) -> Matcher | None:
        """A wildcard matcher for this template under ``context`` (cached by the substituted values)."""
        key = tuple(
            values[0] if (values := context.get(text)) is not None and len(values) == 1 else "\0"
            for kind, text, _default in self.parts
            if kind == VARIABLE
        )
        found = self._matchers.get(key)
        if found is None:
            pattern = self.render_pattern(context)
            if pattern is None:
                return None
            if len(self._matchers) >= 1024:
                self._matchers.clear()
            found = self._matchers[key] = compile_regex(pattern)
        return found

    def _values(self, context: Context) -> list[tuple[int, str]] | None:
        resolved: list[tuple[int, str]] = []
        for kind, text, default in self.parts:
            if kind != VARIABLE:
                resolved.append((kind, text))
                continue
            values = context.get(text)
            if values is not None and len(values) == 1:
                resolved.append((LITERAL, values[0]))
            elif default is not None:
                resolved.append((LITERAL, default))
            else:
                return None
        return resolved

    def render(self, context: Context) -> str | None:
        """The string with variables substituted, or None when a variable cannot be resolved."""
        resolved = self._values(context)
        if resolved is None:
            return None
        return "".join(text for _kind, text in resolved)

    def tokens(self, context: Context) -> tuple[Token, ...] | None:
        """The pattern as tokens (see :func:`~governance.policy.patterns.glob_tokens`): substituted values
        and escapes are literal characters; None when a variable cannot be resolved."""
        resolved = self._values(context)
        if resolved is None:
            return None
        tokens: list[Token] = []
        for kind, text in resolved:
            tokens.extend(glob_tokens(text) if kind == TEXT else text)
        return tuple(tokens)

    def render_pattern(self, context: Context) -> str | None:
        """Regex source for wildcard matching; wildcards only count in the policy's own text."""
        resolved = self._values(context)
        if resolved is None:
            return None
        return "".join(glob_to_regex(text) if kind == TEXT else re.escape(text) for kind, text in resolved)


def parse_template(value: str, *, path: str = "") -> Template | None:
    """Split ``value`` into parts, or return None when it contains no ``${``."""
    if "${" not in value:
        return None
    parts: list[tuple[int, str, str | None]] = []
    position = 0
    while True:
        start = value.find("${", position)
        if start < 0:
            break
        end = value.find("}", start + 2)
        if end < 0:
            raise PolicyError(f"unterminated policy variable in {value!r}", path=path)
        if start > position:
            parts.append((TEXT, value[position:start], None))
        body = value[start + 2 : end]
        if body in _ESCAPES:
            parts.append((LITERAL, _ESCAPES[body], None))
        else:
            parts.append(_parse_variable(body, value, path))
        position = end + 1
    if position < len(value):
        parts.append((TEXT, value[position:], None))
    return Template(source=value, parts=tuple(parts))


def _parse_variable(body: str, value: str, path: str) -> tuple[int, str, str | None]:
    key, comma, rest = body.partition(",")
    key = key.strip()
    if not key or any(char.isspace() for char in key):
        raise PolicyError(f"invalid policy variable '${{{body}}}' in {value!r}", path=path)
    default = None
    if comma:
        match = _DEFAULT.match(rest)
        if match is None:
            raise PolicyError(f"default value of policy variable '${{{body}}}' must be in single quotes", path=path)
        default = match.group(1).replace("''", "'")
    return (VARIABLE, key.lower(), default)
