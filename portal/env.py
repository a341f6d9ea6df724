"""Typed readers for environment variables.

Every configuration mistake names the variable that caused it, so an operator never has to
read a traceback to find out what to fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_MISSING: Any = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _read(name: str, default: T, parse: Callable[[str], T], kind: str) -> T:
    raw = _raw(name)
    if raw is None or raw == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is required but not set.")
        return default
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name} must be {kind}; got {raw!r} ({exc}).") from None


def env_str(name: str, default: str = _MISSING) -> str:
    return _read(name, default, str, "a string")


def env_int(name: str, default: int = _MISSING, *, minimum: int | None = None) -> int:
    value = _read(name, default, int, "an integer")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}.")
    return value


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("use true/false, yes/no, on/off or 1/0")


def env_bool(name: str, default: bool = _MISSING) -> bool:
    return _read(name, default, _parse_bool, "a boolean")


def env_list(name: str, default: list[str] = _MISSING) -> list[str]:
    def parse(raw: str) -> list[str]:
        return [item.strip() for item in raw.split(",") if item.strip()]

    return _read(name, default, parse, "a comma-separated list")


def env_choice(name: str, choices: tuple[str, ...], default: str = _MISSING) -> str:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw

    return _read(name, default, parse, f"one of {', '.join(choices)}")


def env_json(name: str, default: Any = _MISSING) -> Any:
    return _read(name, default, json.loads, "valid JSON")
