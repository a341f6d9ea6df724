from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance.audit.models import AuditEvent, compute_hash
from governance.audit.services import record
from governance.audit.verify import verify_chain
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(alice):
    """Five events: sequences 1 to 5."""
    return [
        record(actor=alice if number % 2 else None, action=f"test.step{number}", after={"number": number})
        for number in range(1, 6)
    ]


def _broken(kind: str, sequence: int):
    report = verify_chain(chunk_size=2)
    assert not report.intact
    assert (report.problem.kind, report.problem.sequence) == (kind, sequence), report.problem
    return report


def test_an_empty_log_is_intact():
    report = verify_chain()
    assert (report.intact, report.events, report.head_sequence) == (True, 0, None)


def test_an_untouched_chain_is_intact(chain):
    report = verify_chain(chunk_size=2)
    assert report.intact
    assert (report.events, report.head_sequence, report.head_hash) == (5, 5, chain[-1].hash)


def test_it_finds_an_altered_row(chain):
    tamper("UPDATE audit_event SET action = %s WHERE sequence = %s", ["test.forged", 3])

    report = _broken("altered", 3)
    assert report.problem.event_id == chain[2].pk
    assert "altered" in str(report.problem)
    assert len(report.problems) == 1  # the walk goes on: the next event still links to the stored hash
    assert report.events == 5


def test_it_finds_an_altered_json_value(chain):
    tamper("UPDATE audit_event SET actor_name = %s WHERE sequence = %s", ["mallory", 1])
    _broken("altered", 1)


def test_it_finds_a_row_altered_and_rehashed_at_the_next_link(chain):
    forged = AuditEvent.objects.get(sequence=2)
    fields = forged.hashed_fields() | {"action": "test.forged"}
    tamper(
        "UPDATE audit_event SET action = %s, hash = %s WHERE sequence = %s",
        ["test.forged", compute_hash(fields), 2],
    )

    report = _broken("link", 3)
    assert "hash of sequence 2" in report.problem.message


def test_it_finds_a_deleted_row(chain):
    tamper("DELETE FROM audit_event WHERE sequence = %s", [3])

    report = _broken("gap", 3)
    assert report.problem.last_sequence == 3
    assert report.problem.event_id == chain[3].pk
    assert "sequence 3 missing (deleted)" in report.problem.message


def test_it_finds_the_first_row_deleted(chain):
    tamper("DELETE FROM audit_event WHERE sequence = %s", [1])
    _broken("gap", 1)


def test_it_finds_deleted_rows_renumbered_to_close_the_gap(chain):
    tamper("DELETE FROM audit_event WHERE sequence = %s", [3])
    tamper("UPDATE audit_event SET sequence = 3 WHERE sequence = 4")
    tamper("UPDATE audit_event SET sequence = 4 WHERE sequence = 5")

    _broken("link", 3)


def test_it_finds_an_inserted_row(chain):
    for sequence in (5, 4, 3):
        tamper("UPDATE audit_event SET sequence = %s WHERE sequence = %s", [sequence + 1, sequence])
    forged = {
        "sequence": 3,
        "created_at": timezone.now(),
        "actor_pk": None,
        "actor_name": "system",
        "action": "test.inserted",
        "object_type": "",
        "object_id": "",
        "object_repr": "",
        "before": None,
        "after": None,
        "request_id": "",
        "prev_hash": chain[1].hash,
    }
    tamper(
        "INSERT INTO audit_event (sequence, created_at, actor_pk, actor_name, action, object_type, object_id,"
        " object_repr, before, after, request_id, prev_hash, hash) VALUES (%s, %s, NULL, %s, %s, '', '', '',"
        " NULL, NULL, '', %s, %s)",
        [3, forged["created_at"], "system", "test.inserted", forged["prev_hash"], compute_hash(forged)],
    )

    # The forged row itself hashes correctly; the row after it no longer links to its predecessor.
    report = _broken("link", 4)
    assert report.problem.event_id == chain[2].pk


def test_it_finds_an_appended_row_with_a_made_up_hash(chain):
    tamper(
        "INSERT INTO audit_event (sequence, created_at, actor_pk, actor_name, action, object_type, object_id,"
        " object_repr, before, after, request_id, prev_hash, hash) VALUES (6, %s, NULL, 'system', 'test.x', '', '',"
        " '', NULL, NULL, '', %s, %s)",
        [timezone.now(), chain[-1].hash, "f" * 64],
    )
    _broken("altered", 6)


def test_it_finds_reordered_rows(chain):
    tamper("UPDATE audit_event SET sequence = 100 WHERE sequence = 2")
    tamper("UPDATE audit_event SET sequence = 2 WHERE sequence = 3")
    tamper("UPDATE audit_event SET sequence = 3 WHERE sequence = 100")

    report = verify_chain(chunk_size=2)
    # The swapped rows and the one after them: one range per kind of damage.
    assert {(p.kind, p.sequence, p.last_sequence) for p in report.problems} == {("link", 2, 4), ("altered", 2, 3)}
    link = next(p for p in report.problems if p.kind == "link")
    assert link.event_id == chain[2].pk
    assert str(link).startswith("sequences 2-4: prev_hash links broken")


def test_it_finds_an_event_pointed_at_another_user(chain, bob):
    tamper("UPDATE audit_event SET actor_id = %s WHERE sequence = 1", [bob.pk])
    report = _broken("actor", 1)
    assert f"user {bob.pk}" in report.problem.message


def test_an_anchor_catches_events_cut_off_the_end(chain):
    anchor = (5, chain[-1].hash)
    assert verify_chain(anchor=anchor).intact

    tamper("DELETE FROM audit_event WHERE sequence >= %s", [4])

    assert verify_chain(checkpoints=False).intact  # a bare hash chain cannot see a shortened tail
    report = verify_chain(anchor=anchor)
    assert report.problem.kind == "anchor"
    assert "chain ends at sequence 3" in report.problem.message


def test_an_anchor_catches_a_rewritten_chain(chain):
    anchor = (3, chain[2].hash)
    tamper("UPDATE audit_event SET hash = %s WHERE sequence = 3", ["e" * 64])
    assert verify_chain(anchor=anchor).problem.kind in {"altered", "anchor"}


def test_the_command_says_the_chain_is_intact(chain, capsys):
    call_command("verify_audit_log")
    assert (
        capsys.readouterr().out.strip() == f"5 events, chain intact; head 5:{chain[-1].hash}; no signed checkpoint yet"
    )


def test_the_command_says_an_empty_log_is_intact(capsys):
    call_command("verify_audit_log", no_checkpoints=True)
    assert capsys.readouterr().out.strip() == "0 events, chain intact"


def test_the_command_exits_non_zero_naming_the_first_bad_event(chain):
    tamper("UPDATE audit_event SET after = NULL WHERE sequence = %s", [4])

    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_log")

    assert excinfo.value.returncode == 1
    assert f"altered: event id {chain[3].pk} (sequence 4)" in str(excinfo.value)
    assert "was altered" in str(excinfo.value)


def test_the_command_checks_an_anchor(chain):
    tamper("DELETE FROM audit_event WHERE sequence = %s", [5])
    with pytest.raises(CommandError, match="removed from its end") as excinfo:
        call_command("verify_audit_log", anchor=f"5:{chain[-1].hash}")
    assert excinfo.value.returncode == 1


def test_the_command_rejects_a_malformed_anchor():
    with pytest.raises(CommandError, match="SEQUENCE:HASH"):
        call_command("verify_audit_log", anchor="5:nothex")


def test_the_command_rejects_a_worker_count_below_one():
    with pytest.raises(CommandError, match="--workers must be at least 1"):
        call_command("verify_audit_log", workers=0)
