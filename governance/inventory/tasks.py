"""Background tasks: take ids, call a service. Schedules are collected by `setup_schedules`."""

from __future__ import annotations

import logging

from django.db import transaction
from django_q.tasks import async_task

from governance.inventory import after_sync as after_sync_steps
from governance.inventory.models import SyncRun, SyncTrigger
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
    if after_sync_steps.should_run(run) and after_sync_steps.steps():
        transaction.on_commit(lambda: async_task("governance.inventory.tasks.after_sync", run_id=run.pk))
    return summary(run)


def after_sync(*, run_id: int) -> dict:
    """Run the steps feature apps registered to follow a sync (see `governance.inventory.after_sync`)."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or not after_sync_steps.should_run(run):
        return {"skipped": "no such finished run"}
    return {"ran": after_sync_steps.run_steps(run.pk)}
