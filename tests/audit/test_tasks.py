from __future__ import annotations

import pytest

from governance.audit.services import record
from governance.audit.tasks import AuditChainBrokenError, verify_audit_log_task
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db


def test_the_daily_task_returns_the_head_as_an_anchor(alice):
    record(actor=alice, action="test.one")
    last = record(actor=None, action="test.two")

    assert verify_audit_log_task() == {"events": 2, "head_sequence": 2, "head_hash": last.hash, "checkpoints": 0}


def test_the_daily_task_fails_on_a_broken_chain(alice):
    record(actor=alice, action="test.one")
    record(actor=alice, action="test.two")
    tamper("UPDATE audit_event SET action = %s WHERE sequence = 1", ["test.forged"])

    with pytest.raises(AuditChainBrokenError, match="sequence 1"):
        verify_audit_log_task()
