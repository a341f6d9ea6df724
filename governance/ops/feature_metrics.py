"""Metrics of the feature apps (review campaigns, JIT grants), read through their selectors when installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def families() -> Iterator[Any]:
    return iter(())
