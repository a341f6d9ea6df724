"""Reading the audit chain for `verify`: every event hashed, only the events worth a look handed on.

For almost every event the walk in `verify` learns nothing but "it follows its predecessor, links
to its hash, hashes to its own stored hash, names its actor and carries no checkpoint".
`interesting()` drops those and hands on the others with what the walk needs to pick up there (the
predecessor's sequence and hash, and how many events were read before), so the walk reports exactly
what it would have had it seen every row. That makes the hashing separable: on PostgreSQL a large
log is split into sequence ranges; the first is read in this process while worker processes read
the others through the very snapshot of the walk's transaction (`pg_export_snapshot`), and each
hands back only its interesting events, in order. The walk checks the links across the ranges'
boundaries as it checks any other.

On PostgreSQL the rows come through a server-side cursor with the time already in canonical form
and the JSON columns as text, and each row's canonical JSON is written by orjson in one call (see
`_quick_text`, which a test holds to `compute_hash`), the exact way only where that differs. Other
databases use the ORM and `compute_hash`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Set
from hashlib import sha256

import orjson
import psycopg
from django.db import connections
from psycopg import sql

from governance.audit.models import HASHED_FIELDS, AuditEvent, compute_hash, hash_canonical

# Ranges smaller than this are not worth a process when the caller leaves the choice to us.
RANGE_MIN_EVENTS = 100_000
MAX_WORKERS = 4
_BATCH = 500  # interesting events per message from a worker

Row = tuple[int, int | None, int | None, int, str, str, str]  # id, actor_id, actor_pk, sequence, prev, hash, computed
# (how many events this source had read up to and including the row, the predecessor's (sequence,
# hash) or None for the source's first row, the row)
Item = tuple[int, tuple[int, str] | None, Row]


class ReadError(RuntimeError):
    """A worker process could not read its range: the verification cannot say the chain is intact."""


def interesting(rows: Iterable[Row], marked: Set[int]) -> Iterator[Item]:
    """The rows of `rows` that the walk must see: the first and the last, any whose sequence,
    link, hash or actor is not what its predecessor and its fields say, and any in `marked`
    (sequences a checkpoint or the anchor names)."""
    pred: tuple[int, str] | None = None
    held: Item | None = None  # the row just read, when it was not handed on
    for ordinal, row in enumerate(rows, 1):
        sequence = row[3]
        if (
            pred is None
            or sequence != pred[0] + 1
            or row[4] != pred[1]
            or row[6] != row[5]
            or (row[1] is not None and row[1] != row[2])
            or sequence in marked
        ):
            yield ordinal, pred, row
            held = None
        else:
            held = (ordinal, pred, row)
        pred = (sequence, row[5])
    if held is not None:
        yield held


def read_chain(using: str, start: int, chunk_size: int, marked: Set[int], workers: int | None) -> Iterator[Item]:
    """The interesting rows of the events from sequence `start` on, in sequence order.

    `workers` is how many processes may share the reading (None: one per CPU, up to `MAX_WORKERS`,
    each with at least `RANGE_MIN_EVENTS`). Several only on PostgreSQL, in a transaction of its
    own whose snapshot the workers share, and not from a daemonic process (which may not have
    children); the results are the same either way.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return interesting(_rows_orm(using, start, chunk_size), marked)
    connection.ensure_connection()
    raw = connection.connection
    ranges = [(start, None)]
    if workers != 1 and not multiprocessing.current_process().daemon:
        ranges = _ranges(raw, start, workers)
    if len(ranges) == 1:
        return interesting(_rows_fast(raw, start, None, chunk_size), marked)
    return _read_parallel(connection, ranges, chunk_size, marked)


def _ranges(raw, start: int, workers: int | None) -> list[tuple[int, int | None]]:
    with raw.cursor() as cursor:
        cursor.execute("SELECT min(sequence), max(sequence) FROM audit_event WHERE sequence >= %s", [start])
        low, high = cursor.fetchone()
    if low is None:
        return [(start, None)]
    span = high - low + 1
    count = (
        min(workers, span) if workers is not None else min(os.cpu_count() or 1, MAX_WORKERS, span // RANGE_MIN_EVENTS)
    )
    if count <= 1:
        return [(start, None)]
    bounds = [low + span * part // count for part in range(count)] + [high + 1]
    return list(itertools.pairwise(bounds))


def _read_parallel(connection, ranges: list[tuple[int, int | None]], chunk_size: int, marked: Set[int]):
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
    params = {
        key: value
        for key, value in connection.get_connection_params().items()
        if key not in ("context", "cursor_factory")
    }
    # Forked before this process starts its own reader thread; the children never touch Django's
    # connection (they exit through os._exit, so not even to close it).
    context = multiprocessing.get_context("fork")
    helpers = []
    try:
        for low, high in ranges[1:]:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_read_range,
                args=(params, snapshot, low, high, chunk_size, marked, send),
                name=f"audit-verify-{low}",
                daemon=True,
            )
            process.start()
            send.close()
            helpers.append((process, receive))
        offset = 0
        low, high = ranges[0]
        for item in interesting(_rows_fast(raw, low, high, chunk_size), marked):
            offset = item[0]
            yield item
        for _process, receive in helpers:
            read = 0
            while (batch := _receive(receive)) is not None:
                for ordinal, pred, row in batch:
                    read = ordinal
                    yield offset + ordinal, pred, row
            offset += read
    finally:
        for process, receive in helpers:
            if process.is_alive():
                process.terminate()
            process.join()
            receive.close()


def _receive(receive):
    try:
        message = receive.recv()
    except EOFError:
        raise ReadError("an audit verification worker stopped without finishing its range") from None
    if isinstance(message, str):
        raise ReadError(f"an audit verification worker failed: {message}")
    return message


def _read_range(params: dict, snapshot: str, low: int, high: int, chunk_size: int, marked: Set[int], send) -> None:
    """A worker: the interesting rows of sequences [low, high), read through the parent's snapshot."""
    try:
        with psycopg.connect(**params) as raw:
            raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            raw.read_only = True
            raw.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            batch = []
            for item in interesting(_rows_fast(raw, low, high, chunk_size), marked):
                batch.append(item)
                if len(batch) >= _BATCH:
                    send.send(batch)
                    batch = []
            send.send(batch)
            send.send(None)
    except BaseException as exc:  # reported to the parent, which raises it
        send.send(f"{type(exc).__name__}: {exc}")
    finally:
        send.close()


_FAST_SQL = """
SELECT id, actor_id, hash, sequence,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_pk, actor_name, action, object_type, object_id, object_repr,
       before::text, after::text, request_id, prev_hash
FROM audit_event WHERE sequence >= %s {until} ORDER BY sequence
"""

_SORT_KEYS = orjson.OPT_SORT_KEYS


class _Declined(Exception):
    """A text `_ascii_json` cannot escape safely: the row is hashed the exact way."""


def _quick_text(fields: dict, before: str | None, after: str | None) -> bytes | None:
    """Very likely the canonical JSON of the event (as `compute_hash` writes it), through orjson.

    `fields` holds the other hashed fields; `before` and `after` are the jsonb columns' text.
    orjson writes compact, key-sorted JSON as json.dumps does, in one call for the whole event, but
    leaves non-ASCII characters as UTF-8 (see `_ascii_json`). None where that cannot be done
    safely. The text is always a JSON encoding of the row's values; where it differs from the
    canonical one (orjson writes 1.0 and 1e-07 its own way, DEL unescaped) the hash does not match
    and the caller hashes the exact way. A match is as good as the exact way: it is the text the
    event was hashed from, and that text parses to the row's values.
    """
    try:
        if after is not None:
            fields["after"] = _quick_document(after)
        if before is not None:
            fields["before"] = _quick_document(before)
        text = orjson.dumps(fields, option=_SORT_KEYS)
    except (_Declined, orjson.JSONDecodeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        return None
    return text if text.isascii() else _ascii_json(text)


def _quick_document(text: str):
    """A jsonb column's value for `_quick_text`: parsed, or if it has non-ASCII text already
    written and escaped (the document alone is shorter to escape than the whole event)."""
    value = orjson.loads(text)
    if text.isascii():
        return value
    escaped = _ascii_json(orjson.dumps(value, option=_SORT_KEYS))
    if escaped is None:
        raise _Declined
    return orjson.Fragment(escaped)


def _ascii_json(text: bytes) -> bytes | None:
    """orjson's UTF-8 `text` with non-ASCII characters escaped as json.dumps(ensure_ascii=True) does.

    The codec's `backslashreplace` writes `\\uNNNN`, and `\\xNN` for U+0080-U+00FF, which becomes
    the `\\u00NN` json.dumps writes. That is only safe when the text has no escaped backslash (one
    followed by an `x` would be taken for an escape) and nothing beyond the BMP (`\\UNNNNNNNN`,
    which json.dumps writes as a surrogate pair): for those, None.
    """
    if b"\\" in text and b"\\\\" in text:  # memchr first: most texts have no backslash at all
        return None
    text = text.decode("utf-8").encode("ascii", "backslashreplace")
    if text.find(b"\\U") >= 0:
        return None
    return text.replace(b"\\x", b"\\u00")


def _exact_hash(fields: dict, before: str | None, after: str | None) -> str:
    """`compute_hash` of a row read by `_FAST_SQL`: the JSON parsed as the ORM parses it, hashed the same way."""
    fields["before"] = None if before is None else json.loads(before)
    fields["after"] = None if after is None else json.loads(after)
    return hash_canonical(fields)


def _fetch_batches(cursor, size: int, out: queue.Queue, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            rows = cursor.fetchmany(size)
            out.put(rows)
            if not rows:
                return
    except BaseException as exc:  # handed to the consumer, which raises it
        out.put(exc)


def _rows_fast(raw, low: int, high: int | None, chunk_size: int) -> Iterator[Row]:
    """Rows of sequences [low, high) hashed as they arrive; a thread fetches the next batches while
    this one hashes.

    PostgreSQL producing the rows and Python hashing them take about as long as each other, so
    overlapping them (psycopg waits on the socket without the GIL) nearly halves the wall time.
    The queue holds a few batches at most, so memory stays flat. `raw` is a psycopg connection in a
    transaction: a named (server-side) cursor streams the table and is not materialized up front.
    """
    batches: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    query = _FAST_SQL.format(until="" if high is None else "AND sequence < %s")
    with raw.cursor(name=f"audit_verify_{low}") as cursor:
        cursor.itersize = chunk_size
        cursor.execute(query, [low] if high is None else [low, high])
        reader = threading.Thread(target=_fetch_batches, args=(cursor, chunk_size, batches, stop), daemon=True)
        reader.start()
        quick = _quick_text
        try:
            while True:
                rows = batches.get()
                if isinstance(rows, BaseException):
                    raise rows
                if not rows:
                    return
                for row in rows:
                    (event_id, actor_id, stored, sequence, created_at, actor_pk, actor_name, action,
                     object_type, object_id, object_repr, before, after, request_id, prev_hash) = row  # fmt: skip
                    fields = {
                        "action": action,
                        "actor_name": actor_name,
                        "actor_pk": actor_pk,
                        "after": None,
                        "before": None,
                        "created_at": created_at,
                        "object_id": object_id,
                        "object_repr": object_repr,
                        "object_type": object_type,
                        "prev_hash": prev_hash,
                        "request_id": request_id,
                        "sequence": sequence,
                    }
                    text = quick(fields, before, after)
                    computed = sha256(text).hexdigest() if text is not None else ""
                    if computed != stored:
                        computed = _exact_hash(fields, before, after)
                    yield (event_id, actor_id, actor_pk, sequence, prev_hash, stored, computed)
        finally:
            stop.set()
            while reader.is_alive():
                with contextlib.suppress(queue.Empty):
                    batches.get(timeout=0.1)
            reader.join()


_ORM_COLUMNS = ("id", "actor_id", "hash", *HASHED_FIELDS)


def _rows_orm(using: str, start: int, chunk_size: int) -> Iterator[Row]:
    rows = (
        AuditEvent.objects.using(using)
        .filter(sequence__gte=start)
        .order_by("sequence")
        .values_list(*_ORM_COLUMNS)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        values = dict(zip(_ORM_COLUMNS, row, strict=True))
        yield (
            values["id"],
            values["actor_id"],
            values["actor_pk"],
            values["sequence"],
            values["prev_hash"],
            values["hash"],
            compute_hash(values),
        )
