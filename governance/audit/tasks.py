"""Scheduled work for the audit trail; `manage.py setup_schedules` writes SCHEDULES.

- hourly, `checkpoint_audit_log_task`: verifies the events since the newest checkpoint and signs
  the head; a chain that does not verify is not signed and the task fails;
- daily, `verify_audit_log_task`: the whole chain against every checkpoint, and a newest checkpoint
  no older than AUDIT_CHECKPOINT_MAX_AGE_HOURS.

A failure raises, so it stays among django-q's failed tasks (and the log says why, at ERROR): the
alert an operator sees in the admin's failed-task list and in whatever watches the logs.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.conf import settings

from governance.audit.models import canonical_time
from governance.audit.services import CheckpointRefusedError, create_checkpoint
from governance.audit.verify import verify_chain

logger = structlog.get_logger(__name__)

SCHEDULES = [
    {
        "name": "checkpoint_audit_log",
        "func": "governance.audit.tasks.checkpoint_audit_log_task",
        "schedule_type": "cron",
        "cron": "7 * * * *",
    },
    {
        "name": "verify_audit_log",
        "func": "governance.audit.tasks.verify_audit_log_task",
        "schedule_type": "cron",
        "cron": "40 2 * * *",
    },
]


class AuditChainBrokenError(RuntimeError):
    pass


def checkpoint_audit_log_task() -> dict:
    """Verify what was appended since the last checkpoint, then sign the head.

    The signed statement goes to the log too (a copy outside the database, where log shipping
    keeps it), and into django-q's task result.
    """
    try:
        checkpoint = create_checkpoint()
    except CheckpointRefusedError as exc:
        logger.error("audit checkpoint refused", problem=str(exc))
        raise AuditChainBrokenError(str(exc)) from None
    if checkpoint is None:
        return {"sequence": None}
    summary = {
        "sequence": checkpoint.sequence,
        "hash": checkpoint.head_hash,
        "signed_at": canonical_time(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "statement": checkpoint.statement,
        "signature": checkpoint.signature,
    }
    logger.info("audit checkpoint signed", **summary)
    return summary


def verify_audit_log_task() -> dict:
    """Verify the whole chain and every checkpoint; any problem fails the task.

    The result names the head (sequence and hash) and the newest checkpoint.
    """
    max_age = timedelta(hours=settings.AUDIT_CHECKPOINT_MAX_AGE_HOURS)
    report = verify_chain(max_checkpoint_age=max_age)
    if not report.intact:
        problems = "; ".join(str(p) for p in report.problems[:10])
        logger.error("audit chain broken", problems=problems, count=len(report.problems))
        raise AuditChainBrokenError(f"Audit chain broken: {problems}.")
    summary = {
        "events": report.events,
        "head_sequence": report.head_sequence,
        "head_hash": report.head_hash,
        "checkpoints": report.checkpoints,
    }
    logger.info("audit chain intact", **summary)
    return summary
