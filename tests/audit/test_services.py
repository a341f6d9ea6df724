from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test import RequestFactory

from governance.audit.models import GENESIS_HASH, AuditEvent, compute_hash
from governance.audit.services import AuditRecordError, record
from governance.audit.verify import verify_chain

pytestmark = pytest.mark.django_db


def test_it_chains_events_in_sequence(alice):
    first = record(actor=alice, action="test.first")
    second = record(actor=None, action="test.second")
    third = record(actor=alice, action="test.third")

    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    for event in AuditEvent.objects.all():
        assert event.hash == compute_hash(event.hashed_fields())
    assert len({first.hash, second.hash, third.hash}) == 3


def test_it_copies_the_actor_and_names_the_system(alice):
    by_alice = record(actor=alice, action="test.by_alice")
    by_system = record(actor=None, action="inventory.synced")

    by_alice.refresh_from_db()
    assert (by_alice.actor, by_alice.actor_pk, by_alice.actor_name) == (alice, alice.pk, "alice@example.com")
    by_system.refresh_from_db()
    assert (by_system.actor, by_system.actor_pk, by_system.actor_name) == (None, None, "system")


def test_it_describes_the_object_and_takes_the_request_id(alice, bob):
    request = RequestFactory().get("/")
    request.request_id = "req-0123456789"

    event = record(actor=alice, action="test.touched", obj=bob, request=request)

    event.refresh_from_db()
    assert event.object_type == "authz.user"
    assert event.object_id == str(bob.pk)
    assert event.object_repr == "bob@example.com"
    assert event.request_id == "req-0123456789"


def test_it_takes_explicit_object_fields_for_things_that_are_not_rows(alice):
    arn = "arn:aws:iam::111111111111:role/Admin"
    event = record(
        actor=alice, action="scp.applied", object_type="aws.role", object_id=arn, object_repr="Admin", request_id="r1"
    )

    event.refresh_from_db()
    assert (event.object_type, event.object_id, event.object_repr, event.request_id) == ("aws.role", arn, "Admin", "r1")


def test_it_converts_datetimes_decimals_and_uuids_in_before_and_after(alice):
    when = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

    event = record(
        actor=alice,
        action="test.converted",
        before={"expires": when, "day": dt.date(2026, 3, 1), "cost": Decimal("1.50")},
        after={"id": ident, "tags": ("a", "b"), "big": 1e20, "ratio": 0.1, "whole": 2.0},
    )

    event.refresh_from_db()
    assert event.before == {"expires": "2026-03-01T10:30:00.000000Z", "day": "2026-03-01", "cost": "1.50"}
    assert event.after["id"] == str(ident)
    assert event.after["tags"] == ["a", "b"]
    # Whatever form the database returns numbers in, the chain still verifies.
    assert verify_chain().intact


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ({"who": object()}, "is a object, which is not JSON-serializable"),
        ({"when": dt.datetime(2026, 1, 1)}, "naive datetime"),
        ({1: "a"}, "not a string"),
        ({"x": float("nan")}, "JSON cannot represent"),
        ({"x": "a\x00b"}, "NUL"),
    ],
)
def test_it_rejects_values_it_cannot_store_and_writes_nothing(alice, before, message):
    with pytest.raises(AuditRecordError, match=message):
        record(actor=alice, action="test.bad", before=before)

    assert not AuditEvent.objects.exists()


def test_it_rejects_an_action_that_is_missing_or_too_long(alice):
    with pytest.raises(AuditRecordError, match="action is required"):
        record(actor=alice, action="")
    with pytest.raises(AuditRecordError, match="limit is 64"):
        record(actor=alice, action="x" * 65)
    assert not AuditEvent.objects.exists()


def test_it_rejects_request_and_request_id_together(alice):
    request = RequestFactory().get("/")
    with pytest.raises(AuditRecordError, match="not both"):
        record(actor=alice, action="test.x", request=request, request_id="abc")


def test_it_shortens_a_long_object_repr(alice):
    event = record(actor=alice, action="test.long", object_type="t", object_id="1", object_repr="y" * 500)
    assert len(event.object_repr) == 200
    assert event.object_repr.endswith("…")
    assert verify_chain().intact


def test_an_event_rolled_back_with_its_transaction_leaves_no_gap(alice):
    record(actor=alice, action="test.kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        record(actor=alice, action="test.rolled_back")
        raise RuntimeError("the service failed after recording")
    after = record(actor=alice, action="test.next")

    assert list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)) == [
        "test.kept",
        "test.next",
    ]
    assert after.sequence == 2
    assert verify_chain().intact


def test_deleting_a_user_keeps_their_history_and_the_chain(alice):
    record(actor=alice, action="test.by_alice")
    record(actor=None, action="test.by_system")

    alice.delete()

    event = AuditEvent.objects.get(action="test.by_alice")
    assert event.actor is None
    assert event.actor_name == "alice@example.com"
    report = verify_chain()
    assert report.intact, report.problem


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_a_single_chain(django_user_model):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database is one connection; PostgreSQL runs real concurrent writers")
    user = django_user_model.objects.create(username="writer@example.com")
    threads_count, per_thread = 8, 10
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait()
            for number in range(per_thread):
                with transaction.atomic():
                    record(actor=user, action="test.concurrent", object_type="t", object_id=f"{index}-{number}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(index,)) for index in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, threads_count * per_thread + 1))
    report = verify_chain()
    assert report.intact, report.problem
    assert report.events == threads_count * per_thread
