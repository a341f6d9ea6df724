"""`record()`: the one way a service writes what it did to the audit trail."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Iterable
from decimal import Decimal
from hashlib import sha256
from json.encoder import encode_basestring_ascii
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from governance.audit.models import (
    ANONYMOUS_ACTOR,
    GENESIS_HASH,
    SYSTEM_ACTOR,
    AuditCheckpoint,
    AuditEvent,
    _canonical_value,
    canonical_time,
    checkpoint_statement,
    compute_hash,
)

# Key of the PostgreSQL advisory lock that makes writers take turns at the head of the chain; an
# arbitrary constant that no other lock in the project uses.
CHAIN_LOCK_KEY = 0x2C4F_7A3E_61B0_93D5

_MAX_ACTION = AuditEvent._meta.get_field("action").max_length
_MAX_OBJECT_TYPE = AuditEvent._meta.get_field("object_type").max_length
_MAX_OBJECT_ID = AuditEvent._meta.get_field("object_id").max_length
_MAX_REPR = AuditEvent._meta.get_field("object_repr").max_length
_MAX_REQUEST_ID = AuditEvent._meta.get_field("request_id").max_length
_MAX_ACTOR_NAME = AuditEvent._meta.get_field("actor_name").max_length


class AuditRecordError(ValueError):
    """record() was called with something it cannot write; nothing was written."""


# Types _to_json passes through as they are (exact types: subclasses such as enums take the long way).
_PLAIN_TYPES = frozenset({type(None), bool, int})


def _to_json(value: Any, path: str) -> Any:
    """A JSON-ready copy of `value`: datetimes become ISO UTC, Decimals and UUIDs strings."""
    if type(value) is dict:
        # The common case (a bulk decision's before/after): a flat dict of strings and numbers,
        # checked without a call per value.
        for key, item in value.items():
            kind = type(item)
            if type(key) is not str or not (kind in _PLAIN_TYPES or (kind is str and "\x00" not in item)):
                break
        else:
            return dict(value)
    if isinstance(value, str) and "\x00" in value:
        raise AuditRecordError(f"{path} contains a NUL character, which the database cannot store.")
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise AuditRecordError(f"{path} is {value}, which JSON cannot represent.")
        return value
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            raise AuditRecordError(f"{path} is a naive datetime; give it a time zone.")
        return canonical_time(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise AuditRecordError(f"{path} is {value}, which JSON cannot represent.")
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return _to_json(value.value, path)
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditRecordError(f"{path} has a key {key!r} that is not a string.")
            result[key] = _to_json(item, f"{path}[{key!r}]")
        return result
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_to_json(item, f"{path}[...]") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_json(dataclasses.asdict(value), path)
    raise AuditRecordError(f"{path} is a {type(value).__name__}, which is not JSON-serializable.")


def _actor_identity(actor) -> tuple[Any, int | None, str]:
    if actor is None:
        return None, None, SYSTEM_ACTOR
    if not getattr(actor, "is_authenticated", False):
        return None, None, ANONYMOUS_ACTOR
    if actor.pk is None:
        raise AuditRecordError("actor is a user that has not been saved.")
    return actor, actor.pk, actor.get_username()[:_MAX_ACTOR_NAME]


def _check_length(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise AuditRecordError(f"{name} is {len(value)} characters long; the limit is {limit}.")
    return value


def _lock_chain(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    # SQLite: settings open every transaction with BEGIN IMMEDIATE, which already holds the one
    # write lock, so a second writer waits before it can read the head.


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    object_repr: str | None = None,
    before: Any = None,
    after: Any = None,
    request=None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the audit chain, inside the caller's transaction.

    `actor` is the acting user, or None for the system (scheduled syncs, expiry). `obj` fills
    `object_type` ("app_label.model"), `object_id` and `object_repr`; pass them explicitly for
    things that are not rows (an AWS ARN, a campaign export). `before`/`after` must be JSON-ready
    after converting datetimes, dates, Decimals, UUIDs, enums, sets and dataclasses; anything else
    raises AuditRecordError and nothing is written. The request id comes from `request` (set by
    RequestIdMiddleware) or `request_id`.

    Writers take turns (an advisory transaction lock on PostgreSQL, the IMMEDIATE write lock on
    SQLite) until the caller's transaction ends, so the chain never forks.
    """
    if not action or not isinstance(action, str):
        raise AuditRecordError("action is required.")
    _check_length("action", action, _MAX_ACTION)
    if request is not None and request_id is not None:
        raise AuditRecordError("Pass request or request_id, not both.")
    if request is not None:
        request_id = getattr(request, "request_id", "") or ""
    request_id = _check_length("request_id", request_id or "", _MAX_REQUEST_ID)

    if obj is not None:
        if obj.pk is None:
            raise AuditRecordError("obj has not been saved; record after the write.")
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
        object_repr = str(obj) if object_repr is None else object_repr
    object_type = _check_length("object_type", object_type or "", _MAX_OBJECT_TYPE)
    object_id = _check_length("object_id", "" if object_id is None else str(object_id), _MAX_OBJECT_ID)
    object_repr = object_repr or ""
    if len(object_repr) > _MAX_REPR:
        object_repr = object_repr[: _MAX_REPR - 1] + "…"

    before = _to_json(before, "before")
    after = _to_json(after, "after")
    actor_obj, actor_pk, actor_name = _actor_identity(actor)

    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        _lock_chain(using)
        head = AuditEvent.objects.using(using).order_by("-sequence").values_list("sequence", "hash").first()
        sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        event = AuditEvent(
            sequence=sequence,
            created_at=timezone.now(),
            actor=actor_obj,
            actor_pk=actor_pk,
            actor_name=actor_name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            before=before,
            after=after,
            request_id=request_id,
            prev_hash=prev_hash,
        )
        event.hash = compute_hash(event.hashed_fields())
        event.save(using=using, force_insert=True)
    return event


class CheckpointRefusedError(RuntimeError):
    """The chain did not verify since the last checkpoint, so its head is not signed."""


def create_checkpoint(*, verify: bool = True) -> AuditCheckpoint | None:
    """Sign the chain head (sequence and hash) with the current key; None for an empty log.

    With `verify` (the default), the events since the newest checkpoint are verified first and a
    head whose chain does not verify is never signed (CheckpointRefusedError names the problems).
    The chain is locked while the head is read, so the signed head is one a writer committed.
    A checkpoint writes no audit event of its own: an event would move the head it signs; the
    checkpoint row is itself the record, signed. An unchanged head still gets a new checkpoint: its
    `signed_at` is the proof that the chain was whole at that hour.
    """
    from governance.audit import signing
    from governance.audit.verify import verify_chain

    using = router.db_for_write(AuditCheckpoint)
    key = signing.current_key()
    with transaction.atomic(using=using):
        # Verified under the chain lock, so no event lands between the check and the signature.
        _lock_chain(using)
        if verify:
            newest = AuditCheckpoint.objects.using(using).order_by("-sequence", "-id").first()
            report = verify_chain(since=newest) if newest else verify_chain()
            problems = [p for p in report.problems if p.kind != "stale"]
            if problems:
                raise CheckpointRefusedError(
                    "Audit chain does not verify; head not signed: " + "; ".join(str(p) for p in problems[:5])
                )
        head = AuditEvent.objects.using(using).order_by("-sequence").values_list("sequence", "hash").first()
        if head is None:
            return None
        signed_at = timezone.now()
        statement = checkpoint_statement(sequence=head[0], head_hash=head[1], signed_at=signed_at, key_id=key.key_id)
        checkpoint = AuditCheckpoint(
            sequence=head[0],
            head_hash=head[1],
            signed_at=signed_at,
            key_id=key.key_id,
            statement=statement,
            signature=signing.b64(key.sign(statement.encode("utf-8"))),
        )
        checkpoint.save(using=using, force_insert=True)
    return checkpoint


# Keys an entry of record_many() may carry: the per-event part of record()'s arguments.
_ENTRY_KEYS = frozenset({"obj", "object_type", "object_id", "object_repr", "before", "after"})
_BULK_BATCH = 1000


def record_many(
    *,
    actor,
    action: str,
    entries: Iterable[dict[str, Any]],
    request=None,
    request_id: str | None = None,
) -> int:
    """Append one event per entry, in order, to the audit chain: a bulk decision's N items.

    Each entry is a dict of record()'s per-event arguments (`obj`, or `object_type`/`object_id`/
    `object_repr`, and `before`/`after`); actor, action and request id are shared. Every entry is
    checked before anything is written, so one bad entry raises AuditRecordError and writes
    none. The events take consecutive sequence numbers under one chain lock and one read of the
    head, each linked to the one before, and are written in one COPY on PostgreSQL (batched
    INSERTs elsewhere): the chain is exactly what N calls of record() would have written, for a
    fraction of the round trips. Returns the count.
    """
    if not action or not isinstance(action, str):
        raise AuditRecordError("action is required.")
    _check_length("action", action, _MAX_ACTION)
    if request is not None and request_id is not None:
        raise AuditRecordError("Pass request or request_id, not both.")
    if request is not None:
        request_id = getattr(request, "request_id", "") or ""
    request_id = _check_length("request_id", request_id or "", _MAX_REQUEST_ID)
    actor_obj, actor_pk, actor_name = _actor_identity(actor)

    prepared = []
    for index, entry in enumerate(entries):
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise AuditRecordError(f"entries[{index}] has unknown keys: {', '.join(sorted(unknown))}.")
        obj = entry.get("obj")
        object_type, object_id, object_repr = entry.get("object_type"), entry.get("object_id"), entry.get("object_repr")
        if obj is not None:
            if obj.pk is None:
                raise AuditRecordError(f"entries[{index}].obj has not been saved; record after the write.")
            object_type = object_type or obj._meta.label_lower
            object_id = obj.pk if object_id is None else object_id
            object_repr = str(obj) if object_repr is None else object_repr
        object_type = _check_length("object_type", object_type or "", _MAX_OBJECT_TYPE)
        object_id = _check_length("object_id", "" if object_id is None else str(object_id), _MAX_OBJECT_ID)
        object_repr = object_repr or ""
        if len(object_repr) > _MAX_REPR:
            object_repr = object_repr[: _MAX_REPR - 1] + "…"
        before = _to_json(entry.get("before"), f"entries[{index}].before")
        after = _to_json(entry.get("after"), f"entries[{index}].after")
        prepared.append((object_type, object_id, object_repr, before, after))
    if not prepared:
        return 0

    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        _lock_chain(using)
        head = AuditEvent.objects.using(using).order_by("-sequence").values_list("sequence", "hash").first()
        sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        now = timezone.now()
        if connections[using].vendor == "postgresql":
            _copy_chained(
                using, sequence, prev_hash, now, actor_obj, actor_pk, actor_name, action, request_id, prepared
            )
            return len(prepared)
        events = []
        for offset, (object_type, object_id, object_repr, before, after) in enumerate(prepared):
            event = AuditEvent(
                sequence=sequence + offset,
                created_at=now,
                actor=actor_obj,
                actor_pk=actor_pk,
                actor_name=actor_name,
                action=action,
                object_type=object_type,
                object_id=object_id,
                object_repr=object_repr,
                before=before,
                after=after,
                request_id=request_id,
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = compute_hash(event.hashed_fields())
            events.append(event)
        # AuditEventQuerySet refuses bulk_create so that nothing else writes unchained rows; these
        # are chained above, under the lock, which is what that refusal protects.
        models.QuerySet.bulk_create(AuditEvent.objects.using(using).all(), events, batch_size=_BULK_BATCH)
    return len(events)


_COPY_COLUMNS = (
    "sequence",
    "created_at",
    "actor_id",
    "actor_pk",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "request_id",
    "prev_hash",
    "hash",
)


# compute_hash's json.dumps options, built once: json.dumps makes a new encoder per call for them.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
_NESTED_TYPES = frozenset({dict, list, float})


def _canonical_json(value: Any) -> str:
    """The JSON text `compute_hash` writes for a before/after value (and what is stored for it)."""
    if type(value) is dict and not any(type(item) in _NESTED_TYPES for item in value.values()):
        return _CANONICAL.encode(value)  # nothing that _canonical_value would change
    return _CANONICAL.encode(_canonical_value(value))


def _copy_chained(
    using: str,
    sequence: int,
    prev_hash: str,
    now: dt.datetime,
    actor_obj: Any,
    actor_pk: int | None,
    actor_name: str,
    action: str,
    request_id: str,
    prepared: list[tuple[str, str, str, Any, Any]],
) -> None:
    """PostgreSQL: hash the events in one pass and stream them in with one COPY.

    Each event's canonical JSON is assembled key by key (`_fast_hash`, which a test holds equal to
    `compute_hash`) from before/after serialized once: that text is hashed and is also
    what the jsonb columns are given, so nothing is serialized twice and no model instance is
    built. Thousands of events then cost one round trip instead of batches of bound parameters.
    """
    created = canonical_time(now)
    actor_id = actor_obj.pk if actor_obj is not None else None
    rows = []
    for offset, (object_type, object_id, object_repr, before, after) in enumerate(prepared):
        before_text = None if before is None else _canonical_json(before)
        after_text = None if after is None else _canonical_json(after)
        current = sequence + offset
        digest = _fast_hash(
            current,
            created,
            actor_pk,
            actor_name,
            action,
            object_type,
            object_id,
            object_repr,
            before_text,
            after_text,
            request_id,
            prev_hash,
        )
        rows.append(
            (
                current,
                now,
                actor_id,
                actor_pk,
                actor_name,
                action,
                object_type,
                object_id,
                object_repr,
                before_text,
                after_text,
                request_id,
                prev_hash,
                digest,
            )
        )
        prev_hash = digest
    table = connections[using].ops.quote_name(AuditEvent._meta.db_table)
    sql = f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with connections[using].cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _fast_hash(
    sequence: int,
    created_at: str,
    actor_pk: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    before: str | None,
    after: str | None,
    request_id: str,
    prev_hash: str,
) -> str:
    """`compute_hash` of an event whose before/after are already canonical JSON (`_canonical_json`).

    The keys are HASHED_FIELDS in sorted order, as `json.dumps(sort_keys=True)` writes them; strings
    go through the same C encoder json.dumps uses. tests/audit/test_fast_hash.py holds the two equal.
    """
    e = encode_basestring_ascii
    text = (
        f'{{"action":{e(action)},"actor_name":{e(actor_name)},'
        f'"actor_pk":{"null" if actor_pk is None else actor_pk},'
        f'"after":{"null" if after is None else after},"before":{"null" if before is None else before},'
        f'"created_at":{e(created_at)},'
        f'"object_id":{e(object_id)},"object_repr":{e(object_repr)},"object_type":{e(object_type)},'
        f'"prev_hash":{e(prev_hash)},"request_id":{e(request_id)},"sequence":{sequence}}}'
    )
    return sha256(text.encode("ascii")).hexdigest()
