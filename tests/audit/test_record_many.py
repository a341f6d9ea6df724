"""record_many(): N events under one lock, chained exactly as N calls of record() would chain them."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection

from governance.audit.models import GENESIS_HASH, AuditEvent, compute_hash
from governance.audit.services import AuditRecordError, record, record_many
from governance.audit.verify import verify_chain

pytestmark = pytest.mark.django_db


def test_it_appends_each_entry_linked_to_the_one_before(alice):
    first = record(actor=alice, action="test.single")
    count = record_many(
        actor=alice,
        action="test.bulk",
        entries=[
            {"object_type": "reviews.item", "object_id": n, "after": {"decision": "keep", "n": n}} for n in range(5)
        ],
        request_id="req-1",
    )
    assert count == 5
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[1].prev_hash == first.hash
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for event in events:
        assert event.hash == compute_hash(event.hashed_fields())
    bulk = events[1:]
    assert {(e.action, e.actor_name, e.request_id) for e in bulk} == {("test.bulk", "alice@example.com", "req-1")}
    assert [e.object_id for e in bulk] == ["0", "1", "2", "3", "4"]
    assert bulk[3].after == {"decision": "keep", "n": 3}
    assert verify_chain().intact
    # The chain continues after a bulk append.
    assert record(actor=None, action="test.after").prev_hash == events[-1].hash


def test_it_starts_the_chain_when_it_is_empty(alice):
    record_many(actor=None, action="test.bulk", entries=[{"obj": alice}])
    event = AuditEvent.objects.get()
    assert event.prev_hash == GENESIS_HASH and event.object_type == "authz.user" and event.object_id == str(alice.pk)


def test_no_entries_write_nothing(alice):
    assert record_many(actor=alice, action="test.bulk", entries=[]) == 0
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"object_id": 1, "after": {"x": float("nan")}},
        {"object_id": 1, "colour": "red"},
        {"object_type": "x" * 101},
    ],
)
def test_one_bad_entry_writes_none(alice, bad):
    with pytest.raises(AuditRecordError):
        record_many(actor=alice, action="test.bulk", entries=[{"object_id": 0}, bad])
    assert not AuditEvent.objects.exists()


def test_it_refuses_what_record_refuses(alice):
    with pytest.raises(AuditRecordError, match="action"):
        record_many(actor=alice, action="", entries=[{"object_id": 1}])
    assert not AuditEvent.objects.exists()


def test_what_it_writes_verifies_whatever_the_values(alice):
    """Unicode, integral and huge floats, nesting, no before: hashed as record() would hash them."""
    entries = [
        {
            "object_type": "reviews.reviewitem",
            "object_id": n,
            "object_repr": f"Zugriff nötig — ✓ 😀 {n}",
            "before": None if n % 2 else {"decision": "", "version": n},
            "after": {"n": float(n), "big": 1e20, "ratio": n / 7, "nested": {"b": [1, 2.5, None], "a": 'é\t"x"'}},
        }
        for n in range(3)
    ]
    record_many(actor=alice, action="test.bulk", entries=entries)
    singles = [record(actor=alice, action="test.bulk", **entry) for entry in entries]
    events = list(AuditEvent.objects.order_by("sequence"))
    for event in events:
        assert event.hash == compute_hash(event.hashed_fields())
    assert events[1].before is None and events[2].before == {"decision": "", "version": 2}
    assert events[0].after["nested"] == {"b": [1, 2.5, None], "a": 'é\t"x"'}
    assert [e.object_repr for e in events[:3]] == [e.object_repr for e in singles]
    assert verify_chain().intact


def test_thousands_of_events_chain_in_one_write(alice, django_assert_max_num_queries):
    entries = [
        {"object_type": "reviews.reviewitem", "object_id": n, "after": {"decision": "keep"}} for n in range(2500)
    ]
    # PostgreSQL: lock, head, one COPY (and savepoints); SQLite binds at most 999 values a statement.
    with django_assert_max_num_queries(6 if connection.vendor == "postgresql" else 60):
        assert record_many(actor=alice, action="test.bulk", entries=entries) == 2500
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(range(1, 2501))
    report = verify_chain()
    assert report.intact and report.events == 2500
