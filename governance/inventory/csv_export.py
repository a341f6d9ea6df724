"""CSV exports of inventory lists: streamed, the same rows as the page shows, safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
spreadsheet programs; AWS names and tags may start that way, so such a cell gets a leading `'`
(OWASP's advice for CSV injection). Direction controls are revealed as on the pages, so a name
reads the same in the sheet. Rows are read with `.iterator()` in chunks, so an export of the
whole organization does not hold it in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.text import slugify

from governance.inventory.text import reveal

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    text = reveal(str(value))
    return f"'{text}" if text.startswith(_FORMULA) else text


def stream(
    filename: str, columns: Sequence[tuple[str, Callable[[Any], Any]]], rows: Iterable[Any]
) -> StreamingHttpResponse:
    """A CSV download: one header line of column names, then `getter(row)` for each column."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([name for name, _ in columns])
        for row in rows:
            yield writer.writerow([cell(get(row)) for _, get in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slugify(filename) or "export"}.csv"'
    return response
