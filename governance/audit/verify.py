"""Walk the audit chain and its signed checkpoints and say whether anyone changed them, and where.

Two kinds of evidence, checked together by default:

- **The hash chain** (each event's hash covers its fields and the previous event's hash) shows rows
  altered without re-hashing, deleted from the middle (a sequence gap), inserted, moved or
  reordered (a `prev_hash` that is not its predecessor's hash), and actor links pointed elsewhere.
- **Signed checkpoints** (`AuditCheckpoint`, Ed25519 over the head's sequence and hash) show what
  the chain alone cannot: a chain rewritten and re-hashed by someone who owns the table (the hash
  at a checkpoint's sequence is no longer the one that was signed), and events cut off the end or
  truncated (a checkpoint whose sequence is past the head). A checkpoint with a bad signature or an
  unknown key id is itself reported.

The walk does not stop at the first problem: it resynchronizes on the row it read and goes on, and
neighbouring problems of one kind merge into one range ("sequences 3-5"), so the report names
every damaged stretch (up to `MAX_PROBLEMS`).

On PostgreSQL the rows come through one server-side cursor in a read-only transaction, with the
time already in canonical form and the JSON columns as text, and each row's canonical JSON is
written by orjson in one call (see `_quick_text`, which a test holds to `compute_hash`), the exact
way only where that differs. Other databases use the ORM and `compute_hash`.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hashlib import sha256

import orjson
from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from governance.audit import signing
from governance.audit.models import (
    CHECKPOINT_FORMAT,
    GENESIS_HASH,
    HASHED_FIELDS,
    AuditCheckpoint,
    AuditEvent,
    canonical_time,
    compute_hash,
    hash_canonical,
)

MAX_PROBLEMS = 100

# What each kind of problem means, for people reading the report.
KINDS = {
    "gap": "deleted",
    "link": "inserted, removed or moved",
    "altered": "altered",
    "actor": "actor link changed",
    "rewritten": "rewritten and re-hashed",
    "truncated": "cut off the end",
    "anchor": "not as the anchor says",
    "signature": "checkpoint signature invalid",
    "unknown_key": "checkpoint signed by an unknown key",
    "stale": "no recent checkpoint",
}


@dataclass(frozen=True)
class ChainProblem:
    kind: str
    sequence: int  # the first sequence of the damaged range
    message: str
    last_sequence: int | None = None  # the range's end, when it spans more than one event
    event_id: int = 0

    @property
    def where(self) -> str:
        if self.last_sequence is not None and self.last_sequence != self.sequence:
            return f"sequences {self.sequence}-{self.last_sequence}"
        return f"event id {self.event_id} (sequence {self.sequence})" if self.event_id else f"sequence {self.sequence}"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class CheckpointSummary:
    sequence: int
    head_hash: str
    signed_at: datetime
    key_id: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    head_sequence: int | None
    head_hash: str
    problems: tuple[ChainProblem, ...] = ()
    checkpoints: int = 0  # checkpoints whose signature and hash were confirmed
    newest_checkpoint: CheckpointSummary | None = None
    warnings: tuple[ChainProblem, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def problem(self) -> ChainProblem | None:
        return self.problems[0] if self.problems else None


@dataclass
class _Checkpoint:
    row: AuditCheckpoint
    matched: bool = False


def verify_chain(
    *,
    chunk_size: int = 5000,
    anchor: tuple[int, str] | None = None,
    checkpoints: bool = True,
    since: AuditCheckpoint | None = None,
    max_checkpoint_age: timedelta | None = None,
) -> ChainReport:
    """Verify the chain (and, unless `checkpoints=False`, every signed checkpoint against it).

    `anchor` (sequence, hash), noted from an earlier run or taken from an evidence package, is
    checked like a checkpoint. `since` starts the walk at a checkpoint (whose signature and hash
    are checked) instead of at the genesis: the hourly job's incremental check. When
    `max_checkpoint_age` is given, a newest checkpoint older than that (or none at all over events
    older than that) is a problem, otherwise a warning: someone may have cut the end and the
    checkpoints that would show it.
    """
    using = router.db_for_read(AuditEvent)
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _verify(using, chunk_size, anchor, checkpoints, since, max_checkpoint_age)
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        return _verify(using, chunk_size, anchor, checkpoints, since, max_checkpoint_age)


class _Problems:
    """Collects problems, merging a run of one kind over consecutive sequences into one range."""

    def __init__(self) -> None:
        self.items: list[ChainProblem] = []
        self._last_of_kind: dict[str, int] = {}
        self.full = False

    def add(self, problem: ChainProblem) -> None:
        index = self._last_of_kind.get(problem.kind)
        last = self.items[index] if index is not None else None
        if (
            last is not None
            and problem.kind in _RANGE_MESSAGES
            and problem.sequence == (last.last_sequence or last.sequence) + 1
        ):
            self.items[index] = ChainProblem(
                kind=last.kind,
                sequence=last.sequence,
                last_sequence=problem.sequence,
                message=_RANGE_MESSAGES[last.kind],
                event_id=last.event_id,
            )
            return
        if len(self.items) >= MAX_PROBLEMS:
            self.full = True
            return
        self._last_of_kind[problem.kind] = len(self.items)
        self.items.append(problem)

    def sorted(self) -> tuple[ChainProblem, ...]:
        return tuple(sorted(self.items, key=lambda p: (p.sequence, p.last_sequence or p.sequence)))


_RANGE_MESSAGES = {
    "link": "prev_hash links broken: events were inserted, removed or moved here",
    "altered": "hashes do not match the events' fields: the events were altered",
    "actor": "actor links point at users other than the ones who recorded the events",
}


def _load_checkpoints(problems: _Problems) -> dict[int, list[_Checkpoint]]:
    """Every checkpoint with a good signature by a known key, by sequence; the others are problems."""
    try:
        keys = {key.key_id: key for key in signing.public_keys()}
    except signing.SigningKeyError as exc:
        keys = {}
        problems.add(ChainProblem(kind="unknown_key", sequence=0, message=f"no key to check checkpoints with: {exc}"))
    by_sequence: dict[int, list[_Checkpoint]] = {}
    for row in AuditCheckpoint.objects.order_by("sequence", "id").iterator():
        key = keys.get(row.key_id)
        where = f"checkpoint {row.pk} of sequence {row.sequence} (signed {canonical_time(row.signed_at)})"
        if key is None:
            if keys:
                problems.add(
                    ChainProblem(
                        kind="unknown_key",
                        sequence=row.sequence,
                        message=f"{where} names key {row.key_id!r}, which is neither current nor retired",
                    )
                )
            continue
        expected = None
        try:
            statement = json.loads(row.statement)
            expected = {
                "format": CHECKPOINT_FORMAT,
                "sequence": row.sequence,
                "hash": row.head_hash,
                "signed_at": canonical_time(row.signed_at),
                "key_id": row.key_id,
            }
            signature = signing.unb64(row.signature)
        except (ValueError, TypeError):
            statement, signature = None, b""
        if statement != expected or not key.verify(signature, row.statement.encode("utf-8")):
            problems.add(
                ChainProblem(
                    kind="signature",
                    sequence=row.sequence,
                    message=f"{where}: the signature does not verify with key {row.key_id} (forged or altered)",
                )
            )
            continue
        by_sequence.setdefault(row.sequence, []).append(_Checkpoint(row=row))
    return by_sequence


def _verify(
    using: str,
    chunk_size: int,
    anchor: tuple[int, str] | None,
    with_checkpoints: bool,
    since: AuditCheckpoint | None,
    max_age: timedelta | None,
) -> ChainReport:
    problems = _Problems()
    by_sequence = _load_checkpoints(problems) if with_checkpoints or since is not None else {}
    start = 1
    if since is not None:
        good = any(c.row.pk == since.pk for c in by_sequence.get(since.sequence, []))
        if not good:
            problems.add(
                ChainProblem(
                    kind="signature", sequence=since.sequence, message="the starting checkpoint does not verify"
                )
            )
            return ChainReport(events=0, head_sequence=None, head_hash="", problems=tuple(problems.items))
        start = since.sequence
    if anchor is not None:
        by_sequence.setdefault(anchor[0], []).append(_Checkpoint(row=None))  # type: ignore[arg-type]

    rows = (
        _rows_fast(using, start, chunk_size)
        if connections[using].vendor == "postgresql"
        else _rows_orm(using, start, chunk_size)
    )
    count = 0
    expected_sequence = start
    prev_hash = GENESIS_HASH if start == 1 else None  # None: take the first row's prev_hash on trust
    last_confirmed = start - 1 if start > 1 else 0  # the newest sequence a checkpoint confirmed
    confirmed = 0
    for event_id, actor_id, actor_pk, sequence, stored_prev, stored_hash, computed in rows:
        count += 1
        if sequence != expected_sequence:
            missing = (
                f"sequence {expected_sequence}"
                if sequence == expected_sequence + 1
                else f"sequences {expected_sequence}-{sequence - 1}"
            )
            problems.add(
                ChainProblem(
                    kind="gap",
                    sequence=expected_sequence,
                    last_sequence=sequence - 1,
                    event_id=event_id,
                    message=f"{missing} missing (deleted); the chain resumes at event id {event_id}",
                )
            )
        elif prev_hash is not None and stored_prev != prev_hash:
            where = "the genesis hash" if sequence == 1 else f"the hash of sequence {sequence - 1}"
            problems.add(
                ChainProblem(
                    kind="link",
                    sequence=sequence,
                    event_id=event_id,
                    message=f"prev_hash does not match {where}: an event before it was inserted, removed or moved",
                )
            )
        if computed != stored_hash:
            problems.add(
                ChainProblem(
                    kind="altered",
                    sequence=sequence,
                    event_id=event_id,
                    message="hash does not match the event's fields: the event was altered",
                )
            )
        if actor_id is not None and actor_id != actor_pk:
            problems.add(
                ChainProblem(
                    kind="actor",
                    sequence=sequence,
                    event_id=event_id,
                    message=f"actor link points at user {actor_id}, but the event was recorded by user {actor_pk}",
                )
            )
        marks = by_sequence.get(sequence)
        if marks:
            for mark in marks:
                mark.matched = True
                signed = mark.row.head_hash if mark.row is not None else anchor[1]  # type: ignore[index]
                if signed == stored_hash:
                    if mark.row is not None:
                        confirmed += 1
                        last_confirmed = sequence
                    continue
                if mark.row is None:
                    problems.add(
                        ChainProblem(
                            kind="anchor",
                            sequence=sequence,
                            event_id=event_id,
                            message=f"hash is {stored_hash}, the anchor says {signed}",
                        )
                    )
                    continue
                problems.add(
                    ChainProblem(
                        kind="rewritten",
                        sequence=last_confirmed + 1,
                        last_sequence=sequence,
                        event_id=0,
                        message=(
                            f"the checkpoint signed {canonical_time(mark.row.signed_at)} by {mark.row.key_id} says"
                            f" sequence {sequence} had hash {signed}; the chain now has {stored_hash}: events"
                            f" after sequence {last_confirmed} up to {sequence} were rewritten, inserted or removed"
                        ),
                    )
                )
        expected_sequence = sequence + 1
        prev_hash = stored_hash
        if problems.full:
            break

    head_sequence = expected_sequence - 1 if count else None
    head_hash = prev_hash or ""
    if count and start > 1:
        count -= 1  # the starting checkpoint's own event was checked before
    _report_cut_end(problems, by_sequence, head_sequence or (start - 1 if start > 1 else 0), anchor)

    newest = _newest(by_sequence)
    warnings: list[ChainProblem] = []
    if with_checkpoints:
        stale = _staleness(newest, using, max_age)
        if stale is not None:
            (problems.add if max_age is not None else warnings.append)(stale)
    return ChainReport(
        events=count,
        head_sequence=head_sequence,
        head_hash=head_hash,
        problems=problems.sorted(),
        checkpoints=confirmed,
        newest_checkpoint=newest,
        warnings=tuple(warnings),
    )


def _report_cut_end(problems: _Problems, by_sequence: dict, head: int, anchor) -> None:
    """A checkpoint (or the anchor) past the head: events were cut off the end."""
    beyond = sorted(seq for seq, marks in by_sequence.items() if seq > head and any(not m.matched for m in marks))
    if not beyond:
        return
    last = beyond[-1]
    marks = by_sequence[last]
    signed = next((m.row for m in marks if m.row is not None), None)
    if signed is not None:
        message = (
            f"the checkpoint signed {canonical_time(signed.signed_at)} by {signed.key_id} covers sequence {last},"
            f" but the chain ends at sequence {head}: events {head + 1}-{last} were deleted or truncated"
        )
        problems.add(ChainProblem(kind="truncated", sequence=head + 1, last_sequence=last, message=message))
    if anchor is not None and anchor[0] > head:
        problems.add(
            ChainProblem(
                kind="anchor",
                sequence=anchor[0],
                message=f"the anchor's event is missing; the chain ends at sequence {head}"
                " (events were removed from its end)",
            )
        )


def _newest(by_sequence: dict[int, list[_Checkpoint]]) -> CheckpointSummary | None:
    rows = [m.row for marks in by_sequence.values() for m in marks if m.row is not None]
    if not rows:
        return None
    row = max(rows, key=lambda r: (r.signed_at, r.sequence))
    return CheckpointSummary(sequence=row.sequence, head_hash=row.head_hash, signed_at=row.signed_at, key_id=row.key_id)


def _staleness(newest: CheckpointSummary | None, using: str, max_age: timedelta | None) -> ChainProblem | None:
    limit = max_age or timedelta(hours=getattr(settings, "AUDIT_CHECKPOINT_MAX_AGE_HOURS", 2))
    now = timezone.now()
    if newest is not None:
        if now - newest.signed_at <= limit:
            return None
        return ChainProblem(
            kind="stale",
            sequence=newest.sequence + 1,
            message=(
                f"the newest checkpoint was signed {canonical_time(newest.signed_at)}, more than {limit} ago;"
                " events after its sequence are covered by the hash chain alone (is the hourly checkpoint running?)"
            ),
        )
    oldest = AuditEvent.objects.using(using).order_by("sequence").values_list("created_at", flat=True).first()
    if oldest is None or now - oldest <= limit:
        return None
    return ChainProblem(
        kind="stale",
        sequence=1,
        message=(
            f"no signed checkpoint, and events go back to {canonical_time(oldest)};"
            " run `manage.py checkpoint_audit_log`"
        ),
    )


# Reading the rows ---------------------------------------------------------------------------------

_Row = tuple[int, int | None, int | None, int, str, str, str]  # id, actor_id, actor_pk, sequence, prev, hash, computed

_FAST_SQL = """
SELECT id, actor_id, hash, sequence,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_pk, actor_name, action, object_type, object_id, object_repr,
       before::text, after::text, request_id, prev_hash
FROM audit_event WHERE sequence >= %s ORDER BY sequence
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
    if b"\\\\" in text:
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


def _rows_fast(using: str, start: int, chunk_size: int) -> Iterator[_Row]:
    """Rows hashed as they arrive; a thread fetches the next batches while this one hashes.

    PostgreSQL producing the rows and Python hashing them take about as long as each other, so
    overlapping them (psycopg waits on the socket without the GIL) nearly halves the wall time.
    The queue holds a few batches at most, so memory stays flat.
    """
    connection = connections[using]
    connection.ensure_connection()
    raw = connection.connection
    batches: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    # A named (server-side) cursor streams the table; inside the read-only transaction it is not
    # materialized up front.
    with raw.cursor(name="audit_verify") as cursor:
        cursor.itersize = chunk_size
        cursor.execute(_FAST_SQL, [start])
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


def _rows_orm(using: str, start: int, chunk_size: int) -> Iterable[_Row]:
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


def head() -> tuple[int, str] | None:
    """The chain head (sequence, hash), or None for an empty log."""
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()


__all__ = ["KINDS", "ChainProblem", "ChainReport", "CheckpointSummary", "head", "verify_chain"]
