"""verify_chain with the chain read by several processes (PostgreSQL): the very report one process makes."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from governance.audit import verify
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.reading import ReadError
from governance.audit.services import create_checkpoint, record
from governance.audit.verify import verify_chain
from tests.audit.conftest import tamper
from tests.audit.test_checkpoints import _rehash_from

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the chain is split over processes on PostgreSQL only (other databases read it in one)")


@pytest.fixture
def log(alice):
    """30 events (sequences 1-30), checkpoints at 10, 20 and 30; with 3 workers the ranges start at 1, 11 and 21."""
    for number in range(1, 31):
        record(actor=alice if number % 3 else None, action=f"test.step{number}", after={"n": number, "ä": "ö"})
        if number % 10 == 0:
            create_checkpoint()


def _same_either_way(**kwargs) -> verify.ChainReport:
    serial = verify_chain(workers=1, **kwargs)
    for workers in (2, 3, 7):
        assert verify_chain(workers=workers, **kwargs) == serial, workers
    return serial


def _kinds(report) -> list[tuple[str, int, int | None]]:
    return [(p.kind, p.sequence, p.last_sequence) for p in report.problems]


def test_an_intact_log_reads_the_same_split(log):
    report = _same_either_way()
    assert (report.intact, report.events, report.head_sequence, report.checkpoints) == (True, 30, 30, 3)


def test_tampering_at_and_across_the_ranges_boundaries_is_reported_the_same(log, bob):
    tamper("UPDATE audit_event SET action = 'test.forged' WHERE sequence IN (11, 12, 13)")  # a range's first rows
    tamper("DELETE FROM audit_event WHERE sequence IN (20, 21)")  # across a boundary, with a checkpoint's event
    tamper("UPDATE audit_event SET prev_hash = %s WHERE sequence = 25", ["f" * 64])
    tamper("UPDATE audit_event SET actor_id = %s WHERE sequence = 10", [bob.pk])
    tamper("UPDATE audit_event SET after = '{\"n\": 31}' WHERE sequence = 30")  # the last row

    report = _same_either_way(anchor=(30, "0" * 64))
    assert _kinds(report) == [
        ("actor", 10, None),
        ("altered", 11, 13),
        ("gap", 20, 21),
        ("link", 25, None),
        ("altered", 25, None),  # its prev_hash is hashed too
        ("altered", 30, None),
        ("anchor", 30, None),
    ]
    assert report.problems[2].event_id == AuditEvent.objects.get(sequence=22).pk
    assert (report.events, report.head_sequence, report.checkpoints) == (28, 30, 2)


def test_a_rewritten_and_rehashed_range_and_a_cut_end_are_reported_the_same(log):
    _rehash_from(14, change={"action": "test.forged"})
    tamper("DELETE FROM audit_event WHERE sequence > 28")

    assert verify_chain(workers=3, checkpoints=False).intact
    report = _same_either_way()
    assert _kinds(report) == [("rewritten", 11, 20), ("truncated", 29, 30)]


def test_from_a_checkpoint_the_split_reads_the_same(log):
    tamper("UPDATE audit_event SET object_repr = 'forged' WHERE sequence = 27")
    since = AuditCheckpoint.objects.get(sequence=10)

    report = _same_either_way(since=since)
    assert _kinds(report) == [("altered", 27, None)]
    assert report.events == 20


def test_when_the_report_is_full_it_stops_at_the_same_event(log, monkeypatch):
    monkeypatch.setattr(verify, "MAX_PROBLEMS", 4)
    tamper("UPDATE audit_event SET action = 'test.forged' WHERE sequence %% 2 = 0")

    report = _same_either_way(checkpoints=False)
    assert [p.sequence for p in report.problems] == [2, 4, 6, 8]
    assert (report.events, report.head_sequence) == (10, 10)


def test_it_fails_closed_when_a_worker_cannot_read_its_range(log, monkeypatch):
    connection.ensure_connection()  # this process keeps its connection; the workers' connections fail
    monkeypatch.setitem(connection.settings_dict, "NAME", "no_such_database")

    with pytest.raises(ReadError, match="no_such_database"):
        verify_chain(workers=2)
    with pytest.raises(ReadError, match="no_such_database"):
        call_command("verify_audit_log", workers=3)
    assert verify_chain(workers=1).intact
    call_command("verify_audit_log", workers=1)


def test_the_command_names_the_same_damage_whatever_the_workers(log):
    tamper("UPDATE audit_event SET object_id = 'forged' WHERE sequence = 15")
    messages = []
    for workers in (1, 3):
        with pytest.raises(CommandError) as excinfo:
            call_command("verify_audit_log", workers=workers)
        messages.append(str(excinfo.value))
    assert messages[0] == messages[1]
    assert "altered: event id" in messages[0] and "(sequence 15)" in messages[0]
