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

The rows are read and hashed by `reading.read_chain`, which hands the walk only the events it must
look at; on PostgreSQL a large log is read by several processes through one snapshot.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from governance.audit import signing
from governance.audit.models import CHECKPOINT_FORMAT, GENESIS_HASH, AuditCheckpoint, AuditEvent, canonical_time
from governance.audit.reading import read_chain

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
    workers: int | None = None,
) -> ChainReport:
    """Verify the chain (and, unless `checkpoints=False`, every signed checkpoint against it).

    `anchor` (sequence, hash), noted from an earlier run or taken from an evidence package, is
    checked like a checkpoint. `since` starts the walk at a checkpoint (whose signature and hash
    are checked) instead of at the genesis: the hourly job's incremental check. When
    `max_checkpoint_age` is given, a newest checkpoint older than that (or none at all over events
    older than that) is a problem, otherwise a warning: someone may have cut the end and the
    checkpoints that would show it. `workers` caps the processes reading the chain (see
    `reading.read_chain`; 1 reads it in this process); the report is the same whatever it is.
    """
    using = router.db_for_read(AuditEvent)
    connection = connections[using]
    args = (using, chunk_size, anchor, checkpoints, since, max_checkpoint_age)
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # In the caller's transaction, other processes could not see what it wrote.
        return _verify(*args, workers=1)
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            # One snapshot for the checkpoints and every range of events, whichever process reads it.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _verify(*args, workers=workers)


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


class _Walk:
    """The chain walked event by event: what each event's predecessor and checkpoints say it must be."""

    def __init__(self, problems: _Problems, by_sequence: dict[int, list[_Checkpoint]], anchor, start: int) -> None:
        self.problems = problems
        self.by_sequence = by_sequence
        self.anchor = anchor
        self.expected_sequence = start
        self.prev_hash = GENESIS_HASH if start == 1 else None  # None: take the first row's prev_hash on trust
        self.last_confirmed = start - 1 if start > 1 else 0  # the newest sequence a checkpoint confirmed
        self.confirmed = 0

    def see(self, row) -> None:
        event_id, actor_id, actor_pk, sequence, stored_prev, stored_hash, computed = row
        if sequence != self.expected_sequence:
            missing = (
                f"sequence {self.expected_sequence}"
                if sequence == self.expected_sequence + 1
                else f"sequences {self.expected_sequence}-{sequence - 1}"
            )
            self.problems.add(
                ChainProblem(
                    kind="gap",
                    sequence=self.expected_sequence,
                    last_sequence=sequence - 1,
                    event_id=event_id,
                    message=f"{missing} missing (deleted); the chain resumes at event id {event_id}",
                )
            )
        elif self.prev_hash is not None and stored_prev != self.prev_hash:
            where = "the genesis hash" if sequence == 1 else f"the hash of sequence {sequence - 1}"
            self.problems.add(
                ChainProblem(
                    kind="link",
                    sequence=sequence,
                    event_id=event_id,
                    message=f"prev_hash does not match {where}: an event before it was inserted, removed or moved",
                )
            )
        if computed != stored_hash:
            self.problems.add(
                ChainProblem(
                    kind="altered",
                    sequence=sequence,
                    event_id=event_id,
                    message="hash does not match the event's fields: the event was altered",
                )
            )
        if actor_id is not None and actor_id != actor_pk:
            self.problems.add(
                ChainProblem(
                    kind="actor",
                    sequence=sequence,
                    event_id=event_id,
                    message=f"actor link points at user {actor_id}, but the event was recorded by user {actor_pk}",
                )
            )
        marks = self.by_sequence.get(sequence)
        if marks:
            for mark in marks:
                mark.matched = True
                signed = mark.row.head_hash if mark.row is not None else self.anchor[1]  # type: ignore[index]
                if signed == stored_hash:
                    if mark.row is not None:
                        self.confirmed += 1
                        self.last_confirmed = sequence
                    continue
                if mark.row is None:
                    self.problems.add(
                        ChainProblem(
                            kind="anchor",
                            sequence=sequence,
                            event_id=event_id,
                            message=f"hash is {stored_hash}, the anchor says {signed}",
                        )
                    )
                    continue
                self.problems.add(
                    ChainProblem(
                        kind="rewritten",
                        sequence=self.last_confirmed + 1,
                        last_sequence=sequence,
                        event_id=0,
                        message=(
                            f"the checkpoint signed {canonical_time(mark.row.signed_at)} by {mark.row.key_id} says"
                            f" sequence {sequence} had hash {signed}; the chain now has {stored_hash}: events after"
                            f" sequence {self.last_confirmed} up to {sequence} were rewritten, inserted or removed"
                        ),
                    )
                )
        self.expected_sequence = sequence + 1
        self.prev_hash = stored_hash


def _verify(
    using: str,
    chunk_size: int,
    anchor: tuple[int, str] | None,
    with_checkpoints: bool,
    since: AuditCheckpoint | None,
    max_age: timedelta | None,
    workers: int | None,
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

    walk = _Walk(problems, by_sequence, anchor, start)
    count = 0
    # Only the events with something to report (and the first and last) come through, each with
    # its predecessor: every event skipped followed its predecessor and hashed as it should.
    with contextlib.closing(read_chain(using, start, chunk_size, by_sequence.keys(), workers)) as items:
        for count, pred, row in items:  # noqa: B007 - count is the number read when the loop ends
            if pred is not None:
                walk.expected_sequence, walk.prev_hash = pred[0] + 1, pred[1]
            walk.see(row)
            if problems.full:
                break

    head_sequence = walk.expected_sequence - 1 if count else None
    head_hash = walk.prev_hash or ""
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
        checkpoints=walk.confirmed,
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


def head() -> tuple[int, str] | None:
    """The chain head (sequence, hash), or None for an empty log."""
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()


__all__ = ["KINDS", "ChainProblem", "ChainReport", "CheckpointSummary", "head", "verify_chain"]
