"""Keyset pagination: pages follow the last (or first) row's sort key, never an OFFSET.

A page is one query (`LIMIT n + 1`, the extra row says whether another page exists); nothing
counts the whole list. The cursor is the boundary row's sort-key values, JSON in URL-safe
base64, and is not a secret: the user could only page to rows their scoped queryset already
admits. A cursor that does not decode is treated as absent (the first page).

    page = paginate(principals, order=("name", "id"), after=request.GET.get("after"),
                    before=request.GET.get("before"), per_page=50)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

DEFAULT_PER_PAGE = 50
MAX_SCANNED = 20_000


@dataclass
class Page:
    items: list[Any] = field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    scan_limited: bool = False  # a `keep` filter read MAX_SCANNED rows without filling the page

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    @property
    def has_prev(self) -> bool:
        return bool(self.prev_cursor)

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_prev

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, width: int) -> list[Any] | None:
    """The cursor's values, or None when it is missing or malformed (then the first page is shown)."""
    if not cursor or len(cursor) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != width:
        return None
    if not all(v is None or (isinstance(v, str | int) and not isinstance(v, bool)) for v in values):
        return None
    # Values no column can hold are malformed too: NUL in text, integers beyond 64 bits.
    if any(isinstance(v, str) and "\x00" in v for v in values):
        return None
    if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in values):
        return None
    return values


def _filtered(queryset: QuerySet, order: Sequence[str], boundary: Sequence[Any] | None, *, forward: bool):
    """The rows beyond `boundary`; a cursor whose values do not fit the columns (text where the
    key is a number) shows the first page, as any other malformed cursor does."""
    if boundary is None:
        return queryset
    try:
        return queryset.filter(_beyond(order, boundary, forward=forward))
    except (ValueError, TypeError, ValidationError):
        return queryset


def _fitting(queryset: QuerySet, order: Sequence[str], values: list[Any] | None) -> list[Any] | None:
    """`values`, or None when they do not fit the columns: such a cursor is absent in either direction
    (a `before` one would otherwise show the last page, an `after` one a "Previous" to nothing)."""
    if values is None:
        return None
    try:
        queryset.filter(_beyond(order, values, forward=True))
    except (ValueError, TypeError, ValidationError):
        return None
    return values


def _field(name: str) -> tuple[str, bool]:
    return (name[1:], True) if name.startswith("-") else (name, False)


def _beyond(order: Sequence[str], values: Sequence[Any], *, forward: bool) -> Q:
    """Rows strictly after (forward) or before the key `values` in `order`: a row-value comparison
    spelled out as (a > x) OR (a = x AND b > y) ..., which every database plans on the index."""
    condition = Q()
    for i, name in enumerate(order):
        column, descending = _field(name)
        greater = forward != descending
        step = Q(**{f"{column}__{'gt' if greater else 'lt'}": values[i]})
        for prev_name, prev_value in zip(order[:i], values[:i], strict=True):
            step &= Q(**{_field(prev_name)[0]: prev_value})
        condition |= step
    return condition


def _key(obj: Any, order: Sequence[str]) -> list[Any]:
    values = []
    for name in order:
        value = obj
        for part in _field(name)[0].split("__"):
            value = value[part] if isinstance(value, dict) else getattr(value, part)
        values.append(value)
    return values


def _reverse(name: str) -> str:
    return name[1:] if name.startswith("-") else f"-{name}"


def _rows(
    queryset: QuerySet,
    order: Sequence[str],
    boundary: Sequence[Any] | None,
    *,
    forward: bool,
    limit: int,
    keep: Callable[[Any], bool] | None,
) -> tuple[list[Any], bool]:
    """Up to `limit` rows beyond `boundary` in `order` (or its reverse); with `keep`, only rows it
    keeps, read in chunks until enough are found. Also whether the scan stopped at MAX_SCANNED."""
    ordering = order if forward else tuple(map(_reverse, order))
    if keep is None:
        filtered = _filtered(queryset, order, boundary, forward=forward)
        return list(filtered.order_by(*ordering)[:limit]), False
    found: list[Any] = []
    scanned = 0
    chunk = max(4 * limit, 200)
    while len(found) < limit:
        filtered = _filtered(queryset, order, boundary, forward=forward)
        batch = list(filtered.order_by(*ordering)[:chunk])
        found.extend(row for row in batch if keep(row))
        scanned += len(batch)
        if len(batch) < chunk:
            return found[:limit], False
        if scanned >= MAX_SCANNED:
            return found[:limit], True
        boundary = _key(batch[-1], order)
    return found[:limit], False


def paginate(
    queryset: QuerySet,
    *,
    order: Sequence[str],
    after: str | None = None,
    before: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    keep: Callable[[Any], bool] | None = None,
) -> Page:
    """One page of `queryset` in `order`, which must end in a unique column (e.g. ("name", "id")).

    Sort-key columns must be non-null strings or integers (cursors are JSON). `keep` is a filter
    the database cannot apply (a parsed trust policy): rows are then read in chunks until a page
    is full, at most MAX_SCANNED of them (`page.scan_limited` says the list may go on).
    """
    order = tuple(order)
    after_values = _fitting(queryset, order, decode_cursor(after, len(order)))
    before_values = _fitting(queryset, order, decode_cursor(before, len(order))) if after_values is None else None
    if before_values is not None:
        rows, limited = _rows(queryset, order, before_values, forward=False, limit=per_page + 1, keep=keep)
        more_before = len(rows) > per_page
        items = list(reversed(rows[:per_page]))
        return Page(
            items=items,
            prev_cursor=encode_cursor(_key(items[0], order)) if more_before and items else "",
            next_cursor=encode_cursor(_key(items[-1], order)) if items else "",
            scan_limited=limited,
        )
    rows, limited = _rows(queryset, order, after_values, forward=True, limit=per_page + 1, keep=keep)
    items = rows[:per_page]
    return Page(
        items=items,
        next_cursor=encode_cursor(_key(items[-1], order)) if len(rows) > per_page or (limited and items) else "",
        prev_cursor=encode_cursor(_key(items[0], order)) if after_values is not None and items else "",
        scan_limited=limited,
    )
