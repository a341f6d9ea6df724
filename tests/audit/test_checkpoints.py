"""Signed checkpoints: what the table's owner can no longer hide (rewrites, cut ends, truncation)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.audit import signing
from governance.audit.models import (
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditLogImmutableError,
    checkpoint_statement,
    compute_hash,
)
from governance.audit.services import CheckpointRefusedError, create_checkpoint, record
from governance.audit.tasks import AuditChainBrokenError, checkpoint_audit_log_task, verify_audit_log_task
from governance.audit.verify import verify_chain
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db


def _events(count: int, start: int = 1):
    return [record(actor=None, action=f"test.step{n}", after={"n": n}) for n in range(start, start + count)]


def _rehash_from(sequence: int, *, change: dict | None = None) -> None:
    """What a table owner does: alter from `sequence` on and recompute every hash after it."""
    rows = list(AuditEvent.objects.filter(sequence__gte=sequence - 1).order_by("sequence"))
    prev = rows[0].hash if sequence > 1 else GENESIS_HASH
    for row in rows if sequence == 1 else rows[1:]:
        fields = row.hashed_fields() | {"prev_hash": prev}
        if change and row.sequence == sequence:
            fields |= change
        new_hash = compute_hash(fields)
        tamper(
            "UPDATE audit_event SET action = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [fields["action"], prev, new_hash, row.pk],
        )
        prev = new_hash


def _kinds(report) -> list[tuple[str, int, int | None]]:
    return [(p.kind, p.sequence, p.last_sequence) for p in report.problems]


def test_a_checkpoint_signs_the_head_with_the_current_key():
    events = _events(3)
    checkpoint = create_checkpoint()

    assert (checkpoint.sequence, checkpoint.head_hash, checkpoint.key_id) == (3, events[-1].hash, "test-key-1")
    statement = json.loads(checkpoint.statement)
    assert statement == {
        "format": "governance-audit-checkpoint/1",
        "sequence": 3,
        "hash": events[-1].hash,
        "signed_at": statement["signed_at"],
        "key_id": "test-key-1",
    }
    public = signing.public_key("test-key-1")
    assert public.verify(signing.unb64(checkpoint.signature), checkpoint.statement.encode())
    assert not public.verify(
        signing.unb64(checkpoint.signature), checkpoint.statement.replace('"sequence":3', '"sequence":4').encode()
    )


def test_an_empty_log_has_nothing_to_sign():
    assert create_checkpoint() is None
    assert AuditCheckpoint.objects.count() == 0


def test_checkpoints_are_append_only():
    _events(1)
    checkpoint = create_checkpoint()
    with pytest.raises(AuditLogImmutableError):
        checkpoint.save()
    with pytest.raises(AuditLogImmutableError):
        checkpoint.delete()
    with pytest.raises(AuditLogImmutableError):
        AuditCheckpoint.objects.all().delete()
    with pytest.raises(AuditLogImmutableError):
        AuditCheckpoint.objects.update(signature="")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_database_refuses_to_change_a_checkpoint():
    _events(1)
    create_checkpoint()
    for sql in ("UPDATE audit_checkpoint SET sequence = 9", "DELETE FROM audit_checkpoint"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_an_untouched_chain_verifies_against_its_checkpoints(capsys):
    _events(2)
    create_checkpoint()
    _events(3, start=3)
    create_checkpoint()

    report = verify_chain()
    assert report.intact and report.checkpoints == 2
    assert report.newest_checkpoint.sequence == 5
    call_command("verify_audit_log")
    out = capsys.readouterr().out
    assert "5 events, chain intact" in out
    assert "2 checkpoint(s) verified, newest of sequence 5" in out
    assert "by key test-key-1" in out


def test_it_names_a_chain_rewritten_and_rehashed_by_the_tables_owner():
    _events(2)
    create_checkpoint()  # sequence 2
    _events(3, start=3)
    create_checkpoint()  # sequence 5
    _events(1, start=6)

    _rehash_from(4, change={"action": "test.forged"})

    assert verify_chain(checkpoints=False).intact  # the hash chain alone is fooled
    report = verify_chain()
    assert _kinds(report) == [("rewritten", 3, 5)]
    assert "events after sequence 2 up to 5 were rewritten" in report.problems[0].message


def test_it_names_an_inserted_event_with_the_chain_renumbered_and_rehashed():
    _events(4)
    create_checkpoint()
    for sequence in (4, 3):
        tamper("UPDATE audit_event SET sequence = %s WHERE sequence = %s", [sequence + 1, sequence])
    tamper(
        "INSERT INTO audit_event (sequence, created_at, actor_pk, actor_name, action, object_type, object_id,"
        " object_repr, before, after, request_id, prev_hash, hash) VALUES (3, %s, NULL, 'system', 'test.inserted',"
        " '', '', '', NULL, NULL, '', '', '')",
        [timezone.now()],
    )
    _rehash_from(3)

    assert verify_chain(checkpoints=False).intact
    report = verify_chain()
    # The checkpoint said sequence 4 was the head; now it is another event and the chain goes on to 5.
    assert _kinds(report) == [("rewritten", 1, 4)]


def test_it_names_reordered_events_rehashed():
    _events(4)
    create_checkpoint()
    tamper("UPDATE audit_event SET sequence = 100 WHERE sequence = 2")
    tamper("UPDATE audit_event SET sequence = 2 WHERE sequence = 3")
    tamper("UPDATE audit_event SET sequence = 3 WHERE sequence = 100")
    _rehash_from(2)

    assert verify_chain(checkpoints=False).intact
    assert _kinds(verify_chain()) == [("rewritten", 1, 4)]


def test_it_names_events_cut_off_the_end():
    _events(6)
    create_checkpoint()
    tamper("DELETE FROM audit_event WHERE sequence >= 4")

    assert verify_chain(checkpoints=False).intact
    report = verify_chain()
    assert _kinds(report) == [("truncated", 4, 6)]
    assert "events 4-6 were deleted or truncated" in report.problems[0].message


def test_it_names_a_truncated_table():
    _events(3)
    create_checkpoint()
    if connection.vendor == "postgresql":
        tamper("SET CONSTRAINTS ALL IMMEDIATE")  # the inserts' deferred FK checks would block a TRUNCATE
        tamper("TRUNCATE audit_event")
    else:
        tamper("DELETE FROM audit_event")

    report = verify_chain()
    assert _kinds(report) == [("truncated", 1, 3)]
    with pytest.raises(CommandError, match=r"truncated: sequences 1-3") as excinfo:
        call_command("verify_audit_log")
    assert excinfo.value.returncode == 1


def test_it_names_a_deleted_range_and_an_altered_event_together():
    _events(8)
    create_checkpoint()
    tamper("DELETE FROM audit_event WHERE sequence IN (3, 4)")
    tamper("UPDATE audit_event SET action = 'test.forged' WHERE sequence = 7")

    report = verify_chain()
    assert _kinds(report) == [("gap", 3, 4), ("altered", 7, None)]


def test_a_forged_checkpoint_is_reported():
    _events(3)
    checkpoint = create_checkpoint()
    forged = checkpoint.statement.replace(checkpoint.head_hash, "a" * 64)
    tamper(
        "INSERT INTO audit_checkpoint (sequence, head_hash, signed_at, key_id, statement, signature)"
        " VALUES (3, %s, %s, %s, %s, %s)",
        ["a" * 64, checkpoint.signed_at, checkpoint.key_id, forged, checkpoint.signature],
    )
    report = verify_chain()
    assert [p.kind for p in report.problems] == ["signature"]
    assert "does not verify with key test-key-1" in str(report.problems[0])


def test_a_checkpoint_by_an_unknown_key_is_reported():
    _events(2)
    other = Ed25519PrivateKey.generate()
    signed_at = timezone.now()
    statement = checkpoint_statement(sequence=2, head_hash="b" * 64, signed_at=signed_at, key_id="someone-else")
    AuditCheckpoint.objects.create(
        sequence=2,
        head_hash="b" * 64,
        signed_at=signed_at,
        key_id="someone-else",
        statement=statement,
        signature=signing.b64(other.sign(statement.encode())),
    )
    report = verify_chain()
    assert [p.kind for p in report.problems] == ["unknown_key"]
    assert "'someone-else', which is neither current nor retired" in str(report.problems[0])


def test_a_retired_key_still_verifies_its_checkpoints(settings, tmp_path):
    _events(2)
    create_checkpoint()
    old_public = signing.current_key().public.pem
    (tmp_path / "old.pem").write_text(old_public)
    signing.generate_key_file(tmp_path / "new.pem")
    settings.SIGNING_KEY_FILE = str(tmp_path / "new.pem")
    settings.SIGNING_KEY_ID = "test-key-2"

    assert [p.kind for p in verify_chain().problems] == ["unknown_key"]
    settings.SIGNING_RETIRED_KEYS = [f"test-key-1={tmp_path / 'old.pem'}"]
    _events(1, start=3)
    assert create_checkpoint().key_id == "test-key-2"
    report = verify_chain()
    assert report.intact and report.checkpoints == 2


def test_a_broken_chain_is_never_signed():
    _events(3)
    create_checkpoint()
    _events(2, start=4)
    tamper("UPDATE audit_event SET action = 'test.forged' WHERE sequence = 4")

    with pytest.raises(CheckpointRefusedError, match="sequence 4"):
        create_checkpoint()
    with pytest.raises(AuditChainBrokenError, match="head not signed"):
        checkpoint_audit_log_task()
    assert AuditCheckpoint.objects.count() == 1


def test_the_hourly_task_checks_only_what_came_since_the_last_checkpoint(django_assert_max_num_queries):
    _events(3)
    first = checkpoint_audit_log_task()
    # Damage before the newest checkpoint is the daily full verification's to find.
    tamper("UPDATE audit_event SET action = 'test.forged' WHERE sequence = 2")
    _events(2, start=4)
    second = checkpoint_audit_log_task()
    assert (first["sequence"], second["sequence"]) == (3, 5)
    assert json.loads(second["statement"])["sequence"] == 5
    with pytest.raises(AuditChainBrokenError, match="sequence 2"):
        verify_audit_log_task()


def test_the_hourly_task_refuses_when_the_last_checkpoint_was_cut_off():
    _events(4)
    create_checkpoint()
    tamper("DELETE FROM audit_event WHERE sequence = 4")
    record(actor=None, action="test.after_the_cut")  # takes sequence 4 again, linking to 3

    with pytest.raises(AuditChainBrokenError, match="rewritten"):
        checkpoint_audit_log_task()


def test_a_stale_newest_checkpoint_warns_in_the_command_and_fails_the_daily_task(capsys):
    _events(2)
    old = timezone.now() - timedelta(hours=5)
    key = signing.current_key()
    head = AuditEvent.objects.order_by("-sequence").first()
    statement = checkpoint_statement(sequence=2, head_hash=head.hash, signed_at=old, key_id=key.key_id)
    AuditCheckpoint.objects.create(
        sequence=2, head_hash=head.hash, signed_at=old, key_id=key.key_id, statement=statement,
        signature=signing.b64(key.sign(statement.encode())),
    )  # fmt: skip

    call_command("verify_audit_log")
    assert "warning: sequence 3: the newest checkpoint was signed" in capsys.readouterr().err
    with pytest.raises(CommandError, match="stale"):
        call_command("verify_audit_log", max_checkpoint_age=1)
    with pytest.raises(AuditChainBrokenError, match="is the hourly checkpoint running"):
        verify_audit_log_task()


def test_the_on_demand_command_prints_the_signed_checkpoint(capsys):
    _events(2)
    call_command("checkpoint_audit_log")
    printed = json.loads(capsys.readouterr().out)
    assert (printed["sequence"], printed["key_id"]) == (2, "test-key-1")
    assert AuditCheckpoint.objects.get().signature == printed["signature"]


def test_the_on_demand_command_on_an_empty_log(capsys):
    call_command("checkpoint_audit_log")
    assert "empty" in capsys.readouterr().out
