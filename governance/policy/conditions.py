"""Condition operators, compiled once per statement.

AWS's rules, as implemented here (IAM User Guide, "Condition operators" and "Conditions with multiple
context keys or values"):

* Several operators in one Condition block are AND'd; several keys under one operator are AND'd; several
  values for one key are OR'd, and for a negated operator (``StringNotEquals``, ``NotIpAddress``, ...)
  they are NOR'd: the request value must match none of them.
* A key missing from the request makes a condition false, except that a negated operator is then true;
  ``...IfExists`` is true when the key is missing; ``Null`` tests presence itself.
* ``ForAllValues:`` is true when every request value satisfies the operator, and also when the key is
  missing or empty. ``ForAnyValue:`` needs at least one request value to satisfy it and is false when the
  key is missing or empty.
* Without a set operator a multi-valued request key is treated like ``ForAnyValue`` for positive operators
  and as "no request value matches" for negated ones (AWS advises against this; it is defined so that the
  evaluator is total).
* A request value the operator cannot compare (not a number for ``Numeric*``, not a date for ``Date*``,
  not an IP address for ``IpAddress``/``NotIpAddress``, not an ARN for ``Arn*``, not base64 for
  ``BinaryEquals``, neither true nor false for ``Bool``) does not satisfy the condition, negated operators
  included: "cannot compare" is never read as "differs".
* A policy variable in a value that cannot be resolved leaves that value out (it matches nothing, AWS's
  "effectively null"). In an Allow statement (``strict``) the clause is then false when it is negated or
  no value is left: an unresolvable variable never widens what an Allow grants. In a Deny the remaining
  values decide, so a negated operator still holds and the Deny still applies.
* Condition keys are case-insensitive; operator names are accepted in any case.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

from .errors import PolicyError
from .patterns import Matcher, compile_glob, compile_regex
from .variables import VARIABLE, Template, parse_template

Context = Mapping[str, tuple[str, ...]]
# request value -> matches any policy value; typed operators answer None for "cannot compare"
Predicate = Callable[[str], bool | None]

# canonical positive operator -> (negated?, positive base it is the negation of)
_NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}
_POSITIVE = (
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "Null",
)
OPERATORS: dict[str, str] = {name.lower(): name for name in (*_POSITIVE, *_NEGATIONS)}
SET_OPERATORS = {"forallvalues": "ForAllValues", "foranyvalue": "ForAnyValue"}
# AWS documents policy-variable support for string, ARN, date and Bool operators; numeric, IP and binary
# values are literal and validated at parse time.
_VARIABLE_OPERATORS = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "DateEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
}


def parse_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def parse_date(value: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 date/time (naive means UTC) or an epoch number."""
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed_date = date.fromisoformat(text)
        except ValueError:
            return None
        parsed = datetime(parsed_date.year, parsed_date.month, parsed_date.day)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@lru_cache(maxsize=4096)
def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A request's source address, parsed once: the same callers' addresses recur request after request."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _never(_value: str) -> bool:
    return False


# Operators comparing values that must parse (their predicates may answer None); string ones never do.
_UNTYPED = frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike"})


def _split_arn(value: str) -> list[str] | None:
    parts = value.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _compare(numbers: tuple[float, ...], parse: Callable[[str], float | None], test: Callable) -> Predicate:
    def predicate(value: str) -> bool | None:
        parsed = parse(value)
        if parsed is None:
            return None
        return any(test(parsed, number) for number in numbers)

    return predicate


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _decode_binary(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


@lru_cache(maxsize=8192)
def build_predicate(base: str, values: tuple[str, ...], patterns: tuple[str | None, ...] = ()) -> Predicate:
    """``request_value -> bool``: does the request value match ANY of ``values`` under ``base``.

    ``patterns`` carries pre-built regex sources for wildcard operators whose values had variables.
    """
    if not values:
        return _never if base in _UNTYPED else _typed_never(base)
    if base == "StringEquals":
        return frozenset(values).__contains__
    if base == "StringEqualsIgnoreCase":
        lowered = frozenset(value.lower() for value in values)
        return lambda value: value.lower() in lowered
    if base == "StringLike":
        matchers: list[Matcher] = [
            compile_regex(pattern) if pattern is not None else compile_glob(value)
            for value, pattern in zip(values, patterns or (None,) * len(values), strict=True)
        ]
        if len(matchers) == 1:
            return matchers[0]
        return lambda value: any(matcher(value) for matcher in matchers)
    if base in ("ArnEquals", "ArnLike"):
        arn_patterns = []
        for value in values:
            parts = _split_arn(value)
            if parts is None:
                if value == "*":
                    return lambda request_value: True if _split_arn(request_value) is not None else None
                continue
            arn_patterns.append(tuple(compile_glob(part) for part in parts))

        def arn_predicate(value: str) -> bool | None:
            parts = _split_arn(value)
            if parts is None:
                return None
            return any(all(match(part) for match, part in zip(pattern, parts, strict=True)) for pattern in arn_patterns)

        return arn_predicate
    if base.startswith("Numeric"):
        numbers = tuple(number for number in map(parse_number, values) if number is not None)
        return _compare(numbers, parse_number, _COMPARISONS[base.removeprefix("Numeric")])
    if base.startswith("Date"):
        dates = tuple(moment for moment in map(parse_date, values) if moment is not None)
        return _compare(dates, parse_date, _COMPARISONS[base.removeprefix("Date")])
    if base == "Bool":
        lowered = frozenset(value.lower() for value in values)
        answers = {"true": "true" in lowered, "false": "false" in lowered}
        return lambda value: answers.get(value.lower())
    if base == "BinaryEquals":
        blobs = frozenset(blob for blob in map(_decode_binary, values) if blob is not None)

        def binary_predicate(value: str) -> bool | None:
            blob = _decode_binary(value)
            return None if blob is None else blob in blobs

        return binary_predicate
    if base == "IpAddress":
        networks = tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)

        def ip_predicate(value: str) -> bool | None:
            address = parse_ip(value)
            if address is None:
                return None
            return any(address in network for network in networks)

        return ip_predicate
    raise AssertionError(base)  # pragma: no cover - operators are validated at parse time


def _comparable(base: str, value: str) -> bool:
    """Whether a request value can be compared by the operator family ``base`` at all."""
    if base.startswith("Numeric"):
        return parse_number(value) is not None
    if base.startswith("Date"):
        return parse_date(value) is not None
    if base.startswith("Arn"):
        return _split_arn(value) is not None
    if base == "Bool":
        return value.lower() in ("true", "false")
    if base == "BinaryEquals":
        return _decode_binary(value) is not None
    if base == "IpAddress":
        try:
            ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return True
    return True


@lru_cache(maxsize=32)
def _typed_never(base: str) -> Predicate:
    """No policy value left: nothing matches, but a value of the wrong type still cannot be compared."""

    def predicate(value: str) -> bool | None:
        return False if _comparable(base, value) else None

    return predicate


@dataclass(frozen=True, slots=True)
class ConditionClause:
    """One operator applied to one context key with its values, e.g. ``StringLike s3:prefix [home/*]``."""

    operator: str
    key: str
    values: tuple[str, ...]
    base: str
    negated: bool
    if_exists: bool
    set_operator: str | None
    templates: tuple[Template | None, ...] = field(default=(), compare=False)
    predicate: Predicate | None = field(default=None, compare=False)
    variable_keys: tuple[str, ...] = field(default=(), compare=False, repr=False)
    strict: bool = field(default=False, compare=False)  # in an Allow: unresolvable variables fail closed
    _resolved: dict[tuple[tuple[str, ...] | None, ...], tuple[Predicate, bool]] = field(
        default_factory=dict, compare=False, repr=False
    )
    check: Callable[[Context], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The common shape (plain operator, literal values) gets a closure with everything bound, which
        # is what evaluation calls; the general method handles Null, set operators and variables.
        simple = self.predicate is not None and self.set_operator is None and self.base != "Null"
        check = (
            _plain_check(self.key, self.predicate, self.negated, self.if_exists, typed=self.base not in _UNTYPED)
            if simple
            else self.evaluate
        )
        object.__setattr__(self, "check", check)

    def resolve(self, context: Context) -> tuple[Predicate, bool]:
        """The predicate with policy variables substituted, and whether the clause fails closed because a
        variable could not be resolved (cached by the variables' values)."""
        if self.predicate is not None:
            return self.predicate, False
        key = tuple(context.get(name) for name in self.variable_keys)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= 1024:
                self._resolved.clear()
            found = self._resolved[key] = self._build(context)
        return found

    def _build(self, context: Context) -> tuple[Predicate, bool]:
        values: list[str] = []
        patterns: list[str | None] = []
        wildcard = self.base == "StringLike"
        unresolved = False
        for value, template in zip(self.values, self.templates, strict=True):
            if template is None:
                values.append(value)
                patterns.append(None)
                continue
            rendered = template.render(context)
            if rendered is None or (self.base.startswith("Date") and parse_date(rendered) is None):
                unresolved = True  # matches nothing
                continue
            values.append(rendered)
            patterns.append(template.render_pattern(context) if wildcard else None)
        predicate = build_predicate(self.base, tuple(values), tuple(patterns) if wildcard else ())
        closed = self.strict and unresolved and (self.negated or not values)
        return predicate, closed

    def evaluate(self, context: Context) -> bool:
        present = context.get(self.key)
        if self.base == "Null":
            exists = present is not None and any(value != "" for value in present)
            return any((value.lower() == "true") != exists for value in self.values)
        predicate = self.predicate
        if predicate is None:
            predicate, closed = self.resolve(context)
            if closed:
                return False
        if not present:
            if self.if_exists or self.set_operator == "ForAllValues":
                return True
            if self.set_operator == "ForAnyValue":
                return False
            return self.negated
        negated = self.negated
        results = [predicate(value) for value in present]
        if self.set_operator == "ForAnyValue":
            return any(result is not None and result is not negated for result in results)
        if None in results:
            return False  # a value the operator cannot compare satisfies nothing, negated or not
        if self.set_operator == "ForAllValues":
            return all(result is not negated for result in results)
        return any(results) is not negated


def _plain_check(
    key: str, predicate: Predicate | None, negated: bool, if_exists: bool, *, typed: bool
) -> Callable[[Context], bool]:
    assert predicate is not None
    missing = True if if_exists else negated

    if not typed:

        def check(context: Context) -> bool:
            present = context.get(key)
            if not present:
                return missing
            if len(present) == 1:
                return predicate(present[0]) is not negated
            return any(map(predicate, present)) is not negated

        return check

    if not negated:
        # "cannot compare" (None) and "no match" (False) both fail a positive operator.
        def positive_check(context: Context) -> bool:
            present = context.get(key)
            if not present:
                return missing
            if len(present) == 1:
                return predicate(present[0]) is True
            results = [predicate(value) for value in present]
            return None not in results and True in results

        return positive_check

    def negated_check(context: Context) -> bool:
        present = context.get(key)
        if not present:
            return missing
        if len(present) == 1:
            return predicate(present[0]) is False
        results = [predicate(value) for value in present]
        return True not in results and None not in results

    return negated_check


def _as_text(value: object, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise PolicyError(f"condition values must be strings, numbers or booleans, not {type(value).__name__}", path=path)


def _validate_value(base: str, value: str, path: str) -> None:
    if base.startswith("Numeric") and parse_number(value) is None:
        raise PolicyError(f"{value!r} is not a number", path=path)
    if base.startswith("Date") and parse_date(value) is None:
        raise PolicyError(f"{value!r} is not an ISO 8601 date or epoch time", path=path)
    if base == "IpAddress":
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise PolicyError(f"{value!r} is not an IP address or CIDR range", path=path) from None
    if base == "BinaryEquals" and _decode_binary(value) is None:
        raise PolicyError(f"{value!r} is not base64", path=path)
    if base == "Null" and value.lower() not in ("true", "false"):
        raise PolicyError(f"Null takes true or false, not {value!r}", path=path)


def parse_operator(name: str, path: str) -> tuple[str, str, bool, bool, str | None]:
    """``(canonical operator, positive base, negated, if_exists, set operator)`` for an operator name."""
    set_operator = None
    rest = name
    prefix, colon, tail = name.partition(":")
    if colon:
        set_operator = SET_OPERATORS.get(prefix.lower())
        if set_operator is None:
            raise PolicyError(f"unknown condition set operator {prefix!r} (ForAllValues or ForAnyValue)", path=path)
        rest = tail
    if_exists = rest.lower().endswith("ifexists")
    core = rest[: -len("IfExists")] if if_exists else rest
    canonical = OPERATORS.get(core.lower())
    if canonical is None:
        raise PolicyError(f"unknown condition operator {name!r}", path=path)
    if canonical == "Null" and (if_exists or set_operator):
        raise PolicyError(f"{name!r}: Null cannot be combined with IfExists or a set operator", path=path)
    base = _NEGATIONS.get(canonical, canonical)
    full = (f"{set_operator}:" if set_operator else "") + canonical + ("IfExists" if if_exists else "")
    return full, base, canonical in _NEGATIONS, if_exists, set_operator


def parse_condition(block: object, *, path: str, variables: bool, strict: bool = False) -> tuple[ConditionClause, ...]:
    """Compile a statement's Condition element into clauses (all of which must hold).

    ``strict`` is for Allow statements: an unresolvable variable makes a negated clause false.
    """
    if not isinstance(block, dict):
        raise PolicyError("must be an object mapping operators to {key: values}", path=path)
    clauses: list[ConditionClause] = []
    for name, keys in block.items():
        operator_path = f"{path}.{name}"
        operator, base, negated, if_exists, set_operator = parse_operator(name, operator_path)
        if not isinstance(keys, dict) or not keys:
            raise PolicyError("must be a non-empty object mapping condition keys to values", path=operator_path)
        for key, raw in keys.items():
            key_path = f"{operator_path}.{key}"
            if not isinstance(key, str) or not key:
                raise PolicyError("condition key must be a non-empty string", path=operator_path)
            items = raw if isinstance(raw, list) else [raw]
            if not items:
                raise PolicyError("needs at least one value", path=key_path)
            values = tuple(_as_text(item, key_path) for item in items)
            templates = tuple(
                parse_template(value, path=key_path) if variables and base in _VARIABLE_OPERATORS else None
                for value in values
            )
            for value, template in zip(values, templates, strict=True):
                if template is None:
                    _validate_value(base, value, key_path)
            dynamic = any(template is not None for template in templates)
            clauses.append(
                ConditionClause(
                    operator=operator,
                    key=key.lower(),
                    values=values,
                    base=base,
                    negated=negated,
                    if_exists=if_exists,
                    set_operator=set_operator,
                    templates=templates if dynamic else (),
                    variable_keys=tuple(
                        sorted(
                            {
                                text
                                for template in templates
                                if template is not None
                                for kind, text, _default in template.parts
                                if kind == VARIABLE
                            }
                        )
                    ),
                    predicate=None if dynamic or base == "Null" else build_predicate(base, values),
                    strict=strict,
                )
            )
    return tuple(clauses)
