"""Background tasks: take ids, call a service. Schedules are collected by `setup_schedules`."""

from __future__ import annotations

import logging

from governance.inventory.models import SyncTrigger
from governance.inventory.sync import SyncAlreadyRunning, summary, sync_organization

logger = logging.getLogger(__name__)

SCHEDULES = [
    {
        "name": "inventory.sync_org",
        "func": "governance.inventory.tasks.sync_org",
        "schedule_type": "H",
        "kwargs": {"trigger": SyncTrigger.SCHEDULE},
    },
]


def sync_org(*, trigger: str = SyncTrigger.SCHEDULE, only_account_id: str = "") -> dict:
    """Sync the organization now; a no-op while another sync is running (delivery is at least once)."""
    try:
        run = sync_organization(trigger=trigger, only_account_id=only_account_id)
    except SyncAlreadyRunning:
        logger.info("inventory sync skipped: another sync is running")
        return {"skipped": "another sync is running"}
    return summary(run)
