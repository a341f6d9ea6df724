from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.audit.models import AuditEvent, AuditLogImmutableError
from governance.audit.services import record

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger exists on PostgreSQL")


@pytest.fixture
def event(alice):
    record(actor=alice, action="test.first")
    return record(actor=alice, action="test.second", after={"state": "kept"})


def test_it_refuses_to_save_a_recorded_event_again(event):
    event.action = "test.rewritten"
    with pytest.raises(AuditLogImmutableError, match="cannot be changed"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.second"


def test_it_refuses_to_delete_an_event(event):
    with pytest.raises(AuditLogImmutableError, match="cannot be deleted"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_its_queryset_refuses_update_delete_and_bulk_writes(event):
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(action="test.rewritten")
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.bulk_update([event], ["action"])
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.bulk_create([AuditEvent(sequence=99, created_at=timezone.now(), action="x")])
    with pytest.raises(AuditLogImmutableError):
        AuditEvent._base_manager.filter(pk=event.pk).update(actor_name="mallory")
    assert AuditEvent.objects.count() == 2


def test_it_refuses_events_not_written_through_record():
    with pytest.raises(AuditLogImmutableError, match="record"):
        AuditEvent.objects.create(sequence=1, created_at=timezone.now(), actor_name="x", action="x", prev_hash="0")
    assert not AuditEvent.objects.exists()


@postgresql_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_event SET action = 'test.rewritten' WHERE sequence = 2",
        "UPDATE audit_event SET actor_name = 'mallory'",
        "UPDATE audit_event SET actor_id = NULL, actor_name = 'mallory'",
        "DELETE FROM audit_event WHERE sequence = 2",
    ],
)
def test_the_database_refuses_raw_updates_and_deletes(event, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get(sequence=2).action == "test.second"
    assert AuditEvent.objects.count() == 2


@postgresql_only
def test_the_database_refuses_pointing_an_event_at_another_user(event, bob):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET actor_id = %s", [bob.pk])
