"""Scheduled work for the audit trail; `manage.py setup_schedules` writes SCHEDULES."""

from __future__ import annotations

import structlog

from governance.audit.verify import verify_chain

logger = structlog.get_logger(__name__)

SCHEDULES = [
    {
        "name": "verify_audit_log",
        "func": "governance.audit.tasks.verify_audit_log_task",
        "schedule_type": "cron",
        "cron": "40 2 * * *",
    },
]


class AuditChainBrokenError(RuntimeError):
    pass


def verify_audit_log_task() -> dict:
    """Verify the whole chain; a broken chain fails the task, so it shows among django-q's failures.

    The result names the head (sequence and hash): kept in django-q's task history, it is the
    anchor a later `verify_audit_log --anchor` uses to notice events cut off the end.
    """
    report = verify_chain()
    if not report.intact:
        logger.error("audit chain broken", problem=str(report.problem))
        raise AuditChainBrokenError(f"Audit chain broken at {report.problem}.")
    summary = {"events": report.events, "head_sequence": report.head_sequence, "head_hash": report.head_hash}
    logger.info("audit chain intact", **summary)
    return summary
