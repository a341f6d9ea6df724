"""items.csv and items.jsonl of a campaign's evidence, written by PostgreSQL: the same bytes, less CPU.

The Python path (`evidence.campaign_source` on any database) reads every item through the ORM and
writes each cell in Python. On PostgreSQL each line is made by the server and read with
`COPY (SELECT ...) TO STDOUT`, which streams (a message per row, no cursor) and writes the rows
in C, so Python only joins them, hashes and deflates:

- items.csv: COPY's own CSV format, whose quoting is csv.writer's (a cell holding `,`, `"`, CR
  or LF in quotes, quotes doubled). The SELECT gives each cell as `safe_cell` writes it (a
  leading `'` before a formula start, `true`/`false`, times as `canonical_time`) and an empty
  text as NULL (COPY writes `""` for an empty string, csv.writer nothing); Python ends each row
  with CRLF where COPY ends it with LF.
- items.jsonl: one `||` per line (a balanced tree, `_joined`) of the keys and each value as orjson
  writes it: text in quotes as it is when no text of the row holds a character JSON escapes (one
  regular expression over the row's text), else to_json (the same escapes as orjson, UTF-8 as
  is), times as orjson's text (`2026-01-31T12:00:00[.ffffff]+00:00`, by to_char), keys in field
  order; LINES_PER_ROW lines a row of the COPY (string_agg over a range of primary keys), read in
  COPY's binary format, where the lines need no unquoting. A JSON field other than `{}` comes
  between two \\x01 bytes (which JSON text never holds raw) and is rewritten in Python
  (json.loads, as the ORM reads it, then orjson), because jsonb writes numbers and spacing its
  own way. Keys that are no field of the model (`Extra`: items.jsonl's campaign name, a constant
  merged into the line's text; the decider's e-mail from a LEFT JOIN of the users; the
  remediation action, a CASE of constants that never need escaping) go after the field each
  explains.

A line can be given in two parts (`live`, `Heads`): its head, every key but those that can still
change, which is stored once (`head_select`, `store`: a closed campaign's items, whose other fields
the database keeps as they are) and streamed as it is; and its tail, the live keys, written from
the row at each export. A row without a stored head has its head written as any other, so the
bytes are the same either way. On the benchmark's million items the stored heads take the
items.jsonl backend from 8.4-9.7 CPU seconds to 5.4-6.9.

Outside a transaction the two files are read at once by two backends from one snapshot
(`SameSnapshot`): items.jsonl streams while items.csv is read, hashed and deflated on a thread
into a temporary file that goes into the zip as it is.

On the benchmark's 1,000,000 items PostgreSQL spends about 8 CPU seconds over the two backends
(perf of items.jsonl's: a fifth sending, a tenth each in the regular expression, in to_json on
the rows that need it and in to_char), where concat() per line in one backend took 9.4 and
row_to_json and `||` through a server-side cursor 24; the timestamp's own output function with
the fix-ups to orjson's six digits measured dearer than to_char. tests/evidence/test_sql_export.py
holds both paths to identical bytes on hostile values. A model with a field type not handled here
keeps the Python path (`jsonl_supported`, `csv_kind`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson
from django.db import connections, models, transaction

from governance.audit.spreadsheet import CHUNK_BYTES, FORMULA_STARTS, csv_chunks, safe_row
from governance.evidence.package import DeflateAhead, Deflated

_INTEGER = {
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
    "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField",
}  # fmt: skip
_TEXT = {"CharField", "TextField", "EmailField", "SlugField", "URLField"}
_STARTS = ", ".join(str(ord(c)) for c in sorted(FORMULA_STARTS))  # code points, for ascii()
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_BINARY_HEADER = len(_BINARY_SIGNATURE) + 8  # the flags and the header extension's length


def _kind(field: models.Field) -> str:
    internal = (field.target_field if isinstance(field, models.ForeignKey) else field).get_internal_type()
    if internal in _INTEGER:
        return "integer"
    if internal in _TEXT:
        return "text"
    if internal == "BooleanField":
        return "boolean"
    if internal == "DateTimeField":
        return "datetime"
    if internal == "JSONField":
        return "json"
    return ""


def jsonl_supported(model: type[models.Model]) -> bool:
    return _kind(model._meta.pk) == "integer" and all(_kind(f) for f in model._meta.concrete_fields)


LINES_PER_ROW = 100


def _literal(text: str) -> str:
    """A SQL string literal, `%` doubled for the client-side merge of COPY's parameters."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


# A character JSON must escape (PostgreSQL's text never holds NUL), as a regular expression.
_ESCAPED = r"""E'[\\x01-\\x1f"\\\\]'"""


def _json_value(column: str, kind: str, null: bool, plain: bool = False) -> str:
    """The SQL text of the field's value as orjson writes it in the line, never NULL (the line is
    joined with `||`); `plain`: a text value is known to hold no character JSON escapes, so it is
    only put in quotes."""
    if kind == "integer":
        return f"coalesce({column}::text, 'null')" if null else f"{column}::text"
    if kind == "text" and plain:
        return f"""CASE WHEN {column} IS NULL THEN 'null' ELSE '"' || {column} || '"' END"""
    if kind == "text":
        return f"""CASE WHEN {column} = '' THEN '""' ELSE coalesce(to_json({column})::text, 'null') END"""
    if kind == "boolean" and not null:
        return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
    if kind == "boolean":
        return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' ELSE 'null' END"
    if kind == "datetime":
        # orjson: the microseconds only when there are any. In UTC by the export's TimeZone.
        text = f"""to_char({column}, '"\\""YYYY-MM-DD"T"HH24:MI:SS.US"+00:00\\""')"""
        return f"coalesce(replace({text}, '.000000+', '+'), 'null')"
    if kind == "json":
        marked = f"chr(1) || {column}::text || chr(1)"
        return f"CASE WHEN {column} IS NULL THEN 'null' WHEN {column} = '{{}}' THEN '{{}}' ELSE {marked} END"
    raise ValueError(f"No JSON line for a {kind!r} field.")


def _joined(parts: list[str]) -> str:
    """`||` over parts that are never NULL, as a balanced tree: concat() turns every argument into
    a C string through its output function (a third of the backend's time on a million lines), and
    a left-deep chain of `||` copies the line made so far at every step."""
    if len(parts) == 1:
        return parts[0]
    half = len(parts) // 2
    return f"({_joined(parts[:half])} || {_joined(parts[half:])})"


def _read_chunk(read, join) -> bytes | None:
    """`join` of the rows `read` gives until they make CHUNK_BYTES, None when the COPY has ended.

    With the cyclic garbage collector paused: each row leaves a few short-lived objects (psycopg's
    generators, a memoryview), and the collections they set off, with a chunk's rows promoted,
    end in full ones over every object of the process (more than a CPU second on a million lines).
    Never paused across a yield, and left as it was when something else had paused it.
    """
    rows = []
    size = 0
    enabled = gc.isenabled()
    gc.disable()
    try:
        while size < CHUNK_BYTES and (row := read()):
            rows.append(row)
            size += len(row)
        return join(rows) if rows else None
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Copy:
    """One file of the export: `COPY (sql) TO STDOUT (options)`, whose messages (one a row) `join`
    puts together in chunks, after `head` (items.csv's header)."""

    sql: str
    params: Sequence
    options: str
    join: Callable[[list], bytes]
    head: bytes = b""

    def chunks(self, using: str, begin: Callable | None = None) -> Iterator[bytes]:
        """The file's bytes; `begin(cursor)` runs first in the COPY's transaction."""
        if self.head:
            yield self.head
        yield from _copy_chunks(using, self, begin)


def _copy_chunks(using: str, copy: Copy, begin: Callable | None) -> Iterator[bytes]:
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if begin is not None:
            begin(cursor)
        with _export_settings(cursor):
            statement = f"COPY ({copy.sql}) TO STDOUT ({copy.options})"
            with connection.wrap_database_errors, cursor.cursor.copy(statement, copy.params) as stream:
                while (chunk := _read_chunk(stream.read, copy.join)) is not None:
                    if chunk:
                        yield chunk


def store(using: str, sql: str, params: Sequence) -> int:
    """Run `sql` (an INSERT .. SELECT of lines, e.g. of `head_select`) as the export reads them;
    returns the rows it wrote."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor, _export_settings(cursor):
        cursor.execute(sql, params)
        return cursor.rowcount


@contextlib.contextmanager
def _export_settings(cursor) -> Iterator[None]:
    # enable_sort off: the rows in primary key order from its index, not a sort of the whole
    # result (the planner prefers it with every row of the table wanted). No parallel workers and
    # no JIT: a Gather Merge of two workers cost about twice the CPU of one backend for the same
    # rows, on cores the Python side needs. TimeZone UTC: to_char writes the times in UTC without
    # an AT TIME ZONE a time (Django's connection is in UTC already; this holds whatever a caller
    # set). For this transaction, and set back after: inside a caller's transaction a SET LOCAL
    # would outlive the export. (Not set back after an error: the transaction is then rolled back.)
    names = list(_EXPORT_SETTINGS)
    cursor.execute(
        "SELECT array_agg(current_setting(name) ORDER BY ord) FROM unnest(%s::text[]) WITH ORDINALITY AS s (name, ord)",
        [names],
    )
    (previous,) = cursor.fetchone()
    _set_local(cursor, names, [_EXPORT_SETTINGS[name] for name in names])
    yield
    _set_local(cursor, names, previous)


_EXPORT_SETTINGS = {"enable_sort": "off", "max_parallel_workers_per_gather": "0", "jit": "off", "TimeZone": "UTC"}


def _set_local(cursor, names: list[str], values: list[str]) -> None:
    cursor.execute(
        "SELECT count(set_config(name, value, true)) FROM unnest(%s::text[], %s::text[]) AS s (name, value)",
        [names, values],
    )


def _jsonl_lines(rows: list) -> bytes:
    """The lines of a one-column binary COPY's messages: a row is a 2-byte column count and a
    4-byte length before the lines; the first message also has the file header, the last one
    can be the 2-byte trailer. A JSON field between \\x01 bytes is written again as orjson does."""
    if rows[0][: len(_BINARY_SIGNATURE)] == _BINARY_SIGNATURE:
        rows[0] = rows[0][_BINARY_HEADER:]
    if len(rows[-1]) == 2:
        rows.pop()
    chunk = b"".join([row[6:] for row in rows])
    if b"\x01" not in chunk:
        return chunk
    parts = chunk.split(b"\x01")
    parts[1::2] = [orjson.dumps(json.loads(text)) for text in parts[1::2]]
    return b"".join(parts)


@dataclass(frozen=True)
class Extra:
    """A key of the line that is no field of the model, put after the field `after`: its value is
    the SQL `expression` (over `i` and the copy's joins) of `kind`, as a field of that kind is
    written; `escapes` False when the text can never hold a character JSON escapes (it is then
    always only put in quotes, outside the row's test). Kind "constant": `expression` is the
    JSON text of a value the same on every line (merged into the line's constant text)."""

    key: str
    after: str
    expression: str
    kind: str
    null: bool = False
    escapes: bool = True


def constant(key: str, after: str, value) -> Extra:
    """An Extra whose value is the same on every line, as orjson writes it."""
    return Extra(key, after, orjson.dumps(value).decode(), "constant")


@dataclass(frozen=True)
class Heads:
    """Where the stored heads of the lines are: `joins` (SQL after the copy's own joins, e.g. a LEFT
    JOIN of the heads' table as `h`) and `column`, the head's SQL (NULL where there is none)."""

    joins: str
    column: str


def jsonl_copy(
    model: type[models.Model],
    using: str,
    where: str,
    params: Sequence,
    *,
    extra: Sequence[Extra] = (),
    joins: str = "",
    live: Sequence[str] = (),
    heads: Heads | None = None,
) -> Copy:
    """The rows of `model` matching `where` (SQL over `i`), in primary key order, as
    `package.jsonl_chunks(queryset.values())` writes them, with the `extra` keys each after its
    field; `joins` (SQL after `FROM <table> AS i`) are the tables their expressions read.

    `live`: keys (fields or extras) that go last, in their own order, after all the others (the
    line's head). `heads`: the stored heads (see `head_select`), put before the live keys as they
    are; a row without one has its head written as any other."""
    lines = _Lines(model, using, extra, live)
    head = lines.head()
    if heads is not None:
        head = f"CASE WHEN {heads.column} IS NOT NULL THEN {heads.column} ELSE {head} END"
        joins = f"{joins} {heads.joins}"
    line = f"{head} || {lines.tail()}" if lines.live else head
    # LINES_PER_ROW lines a row of the COPY, those of a range of primary keys, in key order: a
    # message a line cost Python more CPU to read than anything else it does with the line, and
    # PostgreSQL more to send (a million lines: 1.7 s less of Python's CPU, 0.7 s of PostgreSQL's).
    # The ranges come in generate_series's order through the nested loop (no ORDER BY over the
    # whole result: a sort of every line), the lines of a range in key order by string_agg's own.
    table, pk = lines.table, lines.pk
    ranged = (
        f"SELECT string_agg({line}, '' ORDER BY {pk})"  # noqa: S608
        f" FROM {table} AS i {joins} WHERE ({where}) AND {pk} >= g.low AND {pk} < g.low + {int(LINES_PER_ROW)}"
    )
    keys = f"FROM {table} AS i WHERE {where}"
    sql = (
        f"SELECT b.lines FROM generate_series((SELECT min({pk}) {keys}), (SELECT max({pk}) {keys}),"  # noqa: S608
        f" {int(LINES_PER_ROW)}) AS g (low), LATERAL ({ranged}) AS b (lines) WHERE b.lines IS NOT NULL"
    )
    # Binary: the lines as they are, with no scan for characters to quote (a CPU second less of
    # PostgreSQL's on a million lines).
    return Copy(sql, [*params, *params, *params], "FORMAT binary", _jsonl_lines)


def head_select(
    model: type[models.Model],
    using: str,
    where: str,
    *,
    extra: Sequence[Extra] = (),
    joins: str = "",
    live: Sequence[str] = (),
) -> str:
    """`SELECT <primary key>, <head>` of the rows matching `where`: each line of `jsonl_copy` up to
    its `live` keys, to be stored and given back as `Heads` (a JSON field still between \\x01 bytes,
    rewritten when read)."""
    lines = _Lines(model, using, extra, live)
    return f"SELECT {lines.pk}, {lines.head()} FROM {lines.table} AS i {joins} WHERE {where}"  # noqa: S608


class _Lines:
    """The SQL of a model's lines: the head (every key but the live ones, from `{`) and the tail
    (the live keys, to the newline), each written from the row's values."""

    def __init__(self, model: type[models.Model], using: str, extra: Sequence[Extra], live: Sequence[str]) -> None:
        quote = connections[using].ops.quote_name
        fields = [
            (field.attname, f"i.{quote(field.column)}", _kind(field), field.null, True)
            for field in model._meta.concrete_fields
        ]
        for added in extra:
            at = [name for name, *_ in fields].index(added.after) + 1  # ValueError: no such field
            expression = added.expression if added.kind == "constant" else f"({added.expression})"
            fields.insert(at, (added.key, expression, added.kind, added.null, added.escapes))
        by_name, last = {field[0]: field for field in fields}, set(live)
        if last - set(by_name):
            raise ValueError(f"No such key for the line's end: {sorted(last - set(by_name))}")
        self.frozen = [field for field in fields if field[0] not in last]
        self.live = [by_name[name] for name in live]
        self.table, self.pk = quote(model._meta.db_table), f"i.{quote(model._meta.pk.column)}"

    def head(self) -> str:
        return _chosen(self.frozen, "{", "" if self.live else "}\n")

    def tail(self) -> str:
        return _chosen(self.live, ",", "}\n")


def _chosen(fields: list, start: str, end: str) -> str:
    """The SQL of the keys and values of `fields`, after `start` and before `end`.

    One test a row of all its text: most rows hold no character to escape, and their text goes
    in quotes as it is, where a to_json a field costs more than the test. A text that can be
    NULL is tested as '' (`||` with a NULL is NULL, and the row would take the escaping path)."""
    texts = [
        f"coalesce({column}, '')" if null else column
        for _, column, kind, null, escapes in fields
        if kind == "text" and escapes
    ]
    if not texts:
        return _pieces(fields, start, end, plain=False)
    clean = f"({' || '.join(texts)}) !~ {_ESCAPED}"
    return f"CASE WHEN {clean} THEN {_pieces(fields, start, end, True)} ELSE {_pieces(fields, start, end, False)} END"


def _pieces(fields: list, start: str, end: str, plain: bool) -> str:
    # `||`'s operands: constant text (keys, constants, and the quotes of a plain value that
    # cannot be null) merged into one literal between the values.
    parts, text = [], ""
    for position, (name, column, kind, null, escapes) in enumerate(fields):
        text += (start if position == 0 else ",") + json.dumps(name) + ":"
        as_is = plain or not escapes
        if kind == "constant":
            text += column
        elif as_is and kind == "text" and not null:
            parts += [_literal(text + '"'), column]
            text = '"'
        else:
            parts += [_literal(text), f"({_json_value(column, kind, null, as_is)})"]
            text = ""
    return _joined([*parts, _literal(text + end)])


def _csv_rows(rows: list) -> bytes:
    return b"\r\n".join([row[:-1] for row in rows]) + b"\r\n"  # COPY ends a row with LF


def _csv_cell(expression: str, kind: str) -> str:
    """The cell as safe_cell writes it, NULL for an empty one."""
    if kind == "integer":
        return expression
    if kind == "boolean":
        return f"CASE WHEN {expression} THEN 'true' WHEN NOT {expression} THEN 'false' END"
    if kind == "datetime":
        return f"""to_char({expression}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""  # UTC: the export's TimeZone
    # ascii(): the first character's code point (0 for ''), compared as integers, where
    # left(x, 1) = ANY(ARRAY[...]) hashed a text a cell.
    safe = f"CASE WHEN ascii({expression}) IN ({_STARTS}) THEN chr(39) || {expression}"
    return f"{safe} ELSE nullif({expression}, '') END"


def csv_copy(
    header: Sequence[str], lead: Sequence, columns: Sequence[tuple[str, str]], from_sql: str, params: Sequence
) -> Copy:
    """`csv_chunks(header, (*lead, *row) for row in rows)` for the rows `SELECT <columns> <from_sql>`
    gives: `lead` are the same cells on every row, `columns` are (SQL expression, kind) with kind
    one of integer, text, boolean, datetime."""
    # The lead cells as the text csv.writer writes for them, quoted by COPY like the others.
    lead_text = [str(cell) or None for cell in safe_row(lead)]
    cells = [*("%s::text" for _ in lead_text), *(_csv_cell(expression, kind) for expression, kind in columns)]
    head = b"".join(csv_chunks(header, ()))
    return Copy(f"SELECT {', '.join(cells)} {from_sql}", [*lead_text, *params], "FORMAT csv", _csv_rows, head)


def csv_kind(field: models.Field) -> str:
    kind = _kind(field)
    return kind if kind != "json" else ""


class SameSnapshot:
    """Two files of the export read from one snapshot, each by a backend of its own at the same
    time: `first()` streams while the second is read, hashed and deflated on a thread
    (`package.DeflateAhead`) into a temporary file, which `second()` hands on already deflated.

    PostgreSQL is the slower side of the export and one backend uses one core: the second COPY
    runs on the other. The first COPY's transaction is REPEATABLE READ and exports its snapshot
    (`pg_export_snapshot`), which the second imports (SET TRANSACTION SNAPSHOT) before the first
    reads a row, so both files show the same items. Inside a caller's transaction a second
    connection would not see that transaction's own writes: there the two COPYs run one after the
    other on the caller's connection, as without this class.
    """

    def __init__(self, using: str, first: Copy, second: Copy) -> None:
        self.using = using
        self.copies = (first, second)
        self._ahead: DeflateAhead | None = None

    def first(self) -> Iterator[bytes]:
        if connections[self.using].in_atomic_block:
            yield from self.copies[0].chunks(self.using)
            return
        try:
            yield from self.copies[0].chunks(self.using, begin=self._share)
        except BaseException:
            if self._ahead is not None:
                self._ahead.cancel()
            raise

    def second(self) -> Iterable[bytes] | Deflated:
        if self._ahead is None:
            return self.copies[1].chunks(self.using)
        return self._ahead.result()

    def _share(self, cursor) -> None:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        imported = threading.Event()

        def begin(other) -> None:
            try:
                other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                other.execute("SET TRANSACTION SNAPSHOT '%s'" % snapshot.replace("'", "''"))  # noqa: UP031
            finally:
                imported.set()

        self._ahead = DeflateAhead(lambda: self.copies[1].chunks(self.using, begin=begin))
        # The snapshot can be imported only while this transaction is open; a failure to import
        # is raised by second(), a COPY without it could not have started.
        while not imported.wait(0.05) and self._ahead.running():
            pass
