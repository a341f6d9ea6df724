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
Predicate = Callable[[str], bool]

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


def _never(_value: str) -> bool:
    return False


def _split_arn(value: str) -> list[str] | None:
    parts = value.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _compare(numbers: tuple[float, ...], parse: Callable[[str], float | None], test: Callable) -> Predicate:
    def predicate(value: str) -> bool:
        parsed = parse(value)
        return parsed is not None and any(test(parsed, number) for number in numbers)

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
        return _never
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
                    return lambda request_value: _split_arn(request_value) is not None
                continue
            arn_patterns.append(tuple(compile_glob(part) for part in parts))

        def arn_predicate(value: str) -> bool:
            parts = _split_arn(value)
            if parts is None:
                return False
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
        return lambda value: value.lower() in lowered
    if base == "BinaryEquals":
        blobs = frozenset(blob for blob in map(_decode_binary, values) if blob is not None)
        return lambda value: _decode_binary(value) in blobs
    if base == "IpAddress":
        networks = tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)

        def ip_predicate(value: str) -> bool:
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                return False
            return any(address in network for network in networks)

        return ip_predicate
    raise AssertionError(base)  # pragma: no cover - operators are validated at parse time


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
    _resolved: dict[tuple[tuple[str, ...] | None, ...], Predicate] = field(
        default_factory=dict, compare=False, repr=False
    )
    check: Callable[[Context], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The common shape (plain operator, literal values) gets a closure with everything bound, which
        # is what evaluation calls; the general method handles Null, set operators and variables.
        simple = self.predicate is not None and self.set_operator is None and self.base != "Null"
        check = _plain_check(self.key, self.predicate, self.negated, self.if_exists) if simple else self.evaluate
        object.__setattr__(self, "check", check)

    def resolve(self, context: Context) -> Predicate:
        """The predicate with policy variables substituted (cached by the variables' values)."""
        if self.predicate is not None:
            return self.predicate
        key = tuple(context.get(name) for name in self.variable_keys)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= 1024:
                self._resolved.clear()
            found = self._resolved[key] = self._build(context)
        return found

    def _build(self, context: Context) -> Predicate:
        values: list[str] = []
        patterns: list[str | None] = []
        wildcard = self.base == "StringLike"
        for value, template in zip(self.values, self.templates, strict=True):
            if template is None:
                values.append(value)
                patterns.append(None)
                continue
            rendered = template.render(context)
            if rendered is None:
                continue  # an unresolvable variable matches nothing
            values.append(rendered)
            patterns.append(template.render_pattern(context) if wildcard else None)
        return build_predicate(self.base, tuple(values), tuple(patterns) if wildcard else ())

    def evaluate(self, context: Context) -> bool:
        present = context.get(self.key)
        if self.base == "Null":
            exists = bool(present) and any(value != "" for value in present)
            return any((value.lower() == "true") != exists for value in self.values)
        if not present:
            if self.if_exists or self.set_operator == "ForAllValues":
                return True
            if self.set_operator == "ForAnyValue":
                return False
            return self.negated
        predicate = self.predicate or self.resolve(context)
        negated = self.negated
        if self.set_operator == "ForAllValues":
            return all(predicate(value) is not negated for value in present)
        if self.set_operator == "ForAnyValue":
            return any(predicate(value) is not negated for value in present)
        hit = any(map(predicate, present)) if len(present) > 1 else predicate(present[0])
        return hit is not negated


def _plain_check(key: str, predicate: Predicate | None, negated: bool, if_exists: bool) -> Callable[[Context], bool]:
    assert predicate is not None
    missing = True if if_exists else negated

    def check(context: Context) -> bool:
        present = context.get(key)
        if not present:
            return missing
        if len(present) == 1:
            return predicate(present[0]) is not negated
        return any(map(predicate, present)) is not negated

    return check


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


def parse_condition(block: object, *, path: str, variables: bool) -> tuple[ConditionClause, ...]:
    """Compile a statement's Condition element into clauses (all of which must hold)."""
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
                )
            )
    return tuple(clauses)
