"""The audit trail: one append-only, hash-chained table that every service writes through `record()`.

Each event's `hash` is SHA-256 over the canonical JSON of its own fields and the previous event's
hash, so altering, deleting, inserting or reordering rows shows up in `verify_chain()`. Rows are
never changed after they are written; the model, its QuerySet and (on PostgreSQL) a trigger refuse.

The one exception is the `actor` foreign key: deleting a user sets it to NULL, as Django does for
`SET_NULL`. The chain covers `actor_pk` and `actor_name`, copied when the event was recorded, so
the history still names the person and the chain stays intact; a foreign key that points anywhere
other than `actor_pk` is reported as tampering.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"

# The fields the hash covers, in the order verify reads them. `id` is not among them: the database
# assigns it after the hash is computed, and `sequence` is the event's place in the chain.
HASHED_FIELDS = (
    "sequence",
    "created_at",
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
)


class AuditLogImmutableError(Exception):
    """Raised on any attempt to change or remove a recorded audit event."""


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _canonical_value(value: Any) -> Any:
    # PostgreSQL's jsonb returns 1e20 as 100000000000000000000 and 1.0 as 1.0; folding integral
    # floats into ints makes the hash the same whichever way a number comes back. (`type() is`
    # rather than isinstance: verify calls this for every value of every event.)
    kind = type(value)
    if kind is dict:
        return {key: _canonical_value(item) for key, item in value.items()}
    if kind is list:
        return [_canonical_value(item) for item in value]
    if kind is float and value.is_integer():
        return int(value)
    return value


def compute_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace, ISO UTC time) of `HASHED_FIELDS`."""
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["created_at"] = canonical_time(payload["created_at"])
    return hash_canonical(payload)


def hash_canonical(payload: dict[str, Any]) -> str:
    """`compute_hash` of exactly the hashed fields, `created_at` already in canonical form (changes `payload`)."""
    payload["before"] = _canonical_value(payload["before"])
    payload["after"] = _canonical_value(payload["after"])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        # Deleting a user runs `update(actor=None)` on their events (on_delete=SET_NULL); nothing else may.
        if set(kwargs) <= {"actor", "actor_id"} and all(value is None for value in kwargs.values()):
            return super().update(**kwargs)
        raise AuditLogImmutableError("Audit events cannot be updated.")

    def delete(self):
        raise AuditLogImmutableError("Audit events cannot be deleted.")

    def bulk_create(self, *args, **kwargs):
        raise AuditLogImmutableError("Audit events are written one at a time through audit.record().")

    def bulk_update(self, *args, **kwargs):
        raise AuditLogImmutableError("Audit events cannot be updated.")

    def for_object(self, obj: models.Model) -> AuditEventQuerySet:
        return self.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))


class AuditEvent(models.Model):
    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
        editable=False,
    )
    actor_pk = models.BigIntegerField(null=True, blank=True, editable=False, help_text="The actor's id when recorded.")
    actor_name = models.CharField(max_length=150, editable=False)
    action = models.CharField(max_length=64, editable=False)
    object_type = models.CharField(max_length=100, blank=True, editable=False)
    object_id = models.CharField(max_length=512, blank=True, editable=False)
    object_repr = models.CharField(max_length=200, blank=True, editable=False)
    before = models.JSONField(null=True, blank=True, editable=False)
    after = models.JSONField(null=True, blank=True, editable=False)
    request_id = models.CharField(max_length=64, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "audit_event"
        ordering = ["-sequence"]
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_event_object_idx"),
            models.Index(fields=["action"], name="audit_event_action_idx"),
            models.Index(fields=["actor_name"], name="audit_event_actor_name_idx"),
            models.Index(fields=["request_id"], name="audit_event_request_idx"),
            models.Index(fields=["created_at"], name="audit_event_created_idx"),
        ]

    def __str__(self) -> str:
        target = f" {self.object_type}:{self.object_id}" if self.object_type else ""
        return f"#{self.sequence} {self.actor_name} {self.action}{target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogImmutableError(f"Audit event #{self.sequence} cannot be changed.")
        if not self.hash:
            raise AuditLogImmutableError("Audit events are written through governance.audit.services.record().")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutableError(f"Audit event #{self.sequence} cannot be deleted.")

    def hashed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HASHED_FIELDS}


CHECKPOINT_FORMAT = "governance-audit-checkpoint/1"


def checkpoint_statement(*, sequence: int, head_hash: str, signed_at: datetime, key_id: str) -> str:
    """The exact text a checkpoint signs: canonical JSON naming the chain head, the time and the key."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "sequence": sequence,
        "hash": head_hash,
        "signed_at": canonical_time(signed_at),
        "key_id": key_id,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class AuditCheckpointQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogImmutableError("Audit checkpoints cannot be updated.")

    def delete(self):
        raise AuditLogImmutableError("Audit checkpoints cannot be deleted.")

    def bulk_update(self, *args, **kwargs):
        raise AuditLogImmutableError("Audit checkpoints cannot be updated.")

    def covering(self, sequence: int) -> AuditCheckpointQuerySet:
        """Checkpoints whose signed head is at or after `sequence`, oldest first."""
        return self.filter(sequence__gte=sequence).order_by("sequence", "id")


class AuditCheckpoint(models.Model):
    """A signed statement that, at `signed_at`, the chain's head was `sequence` with `head_hash`.

    The database owner can rewrite rows and recompute every hash, but cannot sign: a checkpoint
    pins the chain up to its sequence, and one whose sequence is past the head shows events were
    cut off the end. `statement` is stored exactly as signed so anyone can check it with the public
    key (`openssl pkeyutl -verify -rawin`); `signature` is base64 of the 64-byte Ed25519 signature.
    Append-only like the events (model, QuerySet and a PostgreSQL trigger refuse changes).
    """

    sequence = models.PositiveBigIntegerField(editable=False)
    head_hash = models.CharField(max_length=64, editable=False)
    signed_at = models.DateTimeField(editable=False)
    key_id = models.CharField(max_length=64, editable=False)
    statement = models.TextField(editable=False)
    signature = models.CharField(max_length=100, editable=False)

    objects = AuditCheckpointQuerySet.as_manager()

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["-sequence", "-id"]
        base_manager_name = "objects"
        indexes = [models.Index(fields=["sequence"], name="audit_checkpoint_seq_idx")]

    def __str__(self) -> str:
        return f"checkpoint of #{self.sequence} signed {canonical_time(self.signed_at)} by {self.key_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogImmutableError("Audit checkpoints cannot be changed.")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutableError("Audit checkpoints cannot be deleted.")
