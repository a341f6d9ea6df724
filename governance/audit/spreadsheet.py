"""Cells a spreadsheet will not run: CSV for people who open it in Excel, LibreOffice or Sheets.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return (or their full-width forms,
which some spreadsheet programs fold to them) is read as a formula; AWS names, tags and
justifications may start that way, so such a cell gets a leading `'` (OWASP's advice on CSV
injection). Only text is touched: numbers stay numbers. JSON exports keep the true value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
CHUNK_BYTES = 256 * 1024


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if value.__class__ is str:
        return "'" + value if value[:1] in FORMULA_STARTS else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def safe_row(row: Sequence[Any], _starts=FORMULA_STARTS, _str=str, _int=int, _float=float) -> list[Any]:
    # The common cells (text, int, float) inline: a function call per cell is most of an export's time.
    return [
        ("'" + value if value[:1] in _starts else value)
        if value.__class__ is _str
        else (value if value.__class__ is _int or value.__class__ is _float else safe_cell(value))
        for value in row
    ]


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """UTF-8 CSV (header first, RFC 4180 quoting, CRLF) in chunks of about `chunk_bytes`, every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
        if buffer.tell() >= chunk_bytes:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")
