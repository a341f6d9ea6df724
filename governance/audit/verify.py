"""Walk the audit chain and say whether anyone changed it, and where."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, router, transaction

from governance.audit.models import GENESIS_HASH, HASHED_FIELDS, AuditEvent, compute_hash

_COLUMNS = ("id", "actor_id", "hash", *HASHED_FIELDS)


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    sequence: int
    kind: str  # "gap", "link", "altered", "actor" or "anchor"
    message: str

    def __str__(self) -> str:
        return f"event id {self.event_id} (sequence {self.sequence}): {self.message}"


@dataclass(frozen=True)
class ChainReport:
    events: int
    head_sequence: int | None
    head_hash: str
    problem: ChainProblem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_chain(*, chunk_size: int = 5000, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Recompute every event's hash in sequence order and stop at the first broken link.

    Catches an altered row (its hash no longer matches its fields), a deleted one (a sequence
    gap), an inserted or moved one (a `prev_hash` that is not the previous event's hash) and an
    actor link pointing at someone else. `anchor` (sequence, hash), noted from an earlier run,
    also catches rows cut off the end of the chain, which a hash chain alone cannot see.

    Streams the table through a server-side cursor, so memory stays flat on millions of rows. On
    PostgreSQL the walk runs in one read-only transaction: a consistent snapshot, and a cursor that
    is not materialized up front (outside a transaction Django declares it WITH HOLD). On SQLite a
    transaction would take the write lock for the whole walk, so it reads without one.
    """
    using = router.db_for_read(AuditEvent)
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _walk(using, chunk_size, anchor)
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        return _walk(using, chunk_size, anchor)


def _walk(using: str, chunk_size: int, anchor: tuple[int, str] | None) -> ChainReport:
    rows = AuditEvent.objects.using(using).order_by("sequence").values_list(*_COLUMNS).iterator(chunk_size=chunk_size)
    count = 0
    expected_sequence = 1
    prev_hash = GENESIS_HASH
    anchor_seen = anchor is None
    for row in rows:
        values = dict(zip(_COLUMNS, row, strict=True))
        problem = _check(values, expected_sequence, prev_hash)
        if anchor and values["sequence"] == anchor[0]:
            anchor_seen = True
            if problem is None and values["hash"] != anchor[1]:
                problem = _problem(values, "anchor", f"hash is {values['hash']}, the anchor says {anchor[1]}")
        if problem:
            return ChainReport(events=count, head_sequence=expected_sequence - 1, head_hash=prev_hash, problem=problem)
        count += 1
        expected_sequence = values["sequence"] + 1
        prev_hash = values["hash"]
    head_sequence = expected_sequence - 1 if count else None
    if not anchor_seen:
        problem = ChainProblem(
            event_id=0,
            sequence=anchor[0],
            kind="anchor",
            message=f"the anchor's event is missing; the chain ends at sequence {head_sequence or 0}"
            " (events were removed from its end)",
        )
        return ChainReport(events=count, head_sequence=head_sequence, head_hash=prev_hash, problem=problem)
    return ChainReport(events=count, head_sequence=head_sequence, head_hash=prev_hash, problem=None)


def _problem(values: dict, kind: str, message: str) -> ChainProblem:
    return ChainProblem(event_id=values["id"], sequence=values["sequence"], kind=kind, message=message)


def _check(values: dict, expected_sequence: int, prev_hash: str) -> ChainProblem | None:
    sequence = values["sequence"]
    if sequence != expected_sequence:
        missing = (
            f"sequence {expected_sequence}"
            if sequence == expected_sequence + 1
            else f"sequences {expected_sequence}-{sequence - 1}"
        )
        return _problem(values, "gap", f"expected sequence {expected_sequence}; {missing} missing (deleted)")
    if values["prev_hash"] != prev_hash:
        where = "the genesis hash" if expected_sequence == 1 else f"the hash of sequence {expected_sequence - 1}"
        return _problem(
            values,
            "link",
            f"prev_hash does not match {where}: an event before it was inserted, removed or moved",
        )
    if compute_hash(values) != values["hash"]:
        return _problem(values, "altered", "hash does not match the event's fields: the event was altered")
    if values["actor_id"] is not None and values["actor_id"] != values["actor_pk"]:
        return _problem(
            values,
            "actor",
            f"actor link points at user {values['actor_id']}, but the event was recorded by user {values['actor_pk']}",
        )
    return None
