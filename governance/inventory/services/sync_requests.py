"""Asking for a sync from the portal: recorded in the audit trail, queued once the request commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_q.tasks import async_task

from governance.audit.services import record
from governance.inventory.models import SyncRun, SyncStatus, SyncTrigger


class SyncAlreadyRequested(RuntimeError):
    """A sync is running; its progress is what the person wants to see."""


def request_sync(*, actor: Any, request: Any = None) -> None:
    """Queue a full sync on behalf of `actor`; refuses while another sync is running."""
    with transaction.atomic():
        SyncRun.objects.fail_dead()
        if SyncRun.objects.filter(status=SyncStatus.RUNNING).exists():
            raise SyncAlreadyRequested("A sync is already running.")
        record(
            actor=actor,
            action="inventory.sync_requested",
            object_type="inventory.syncrun",
            object_id="",
            object_repr="organization sync",
            after={"trigger": SyncTrigger.PORTAL},
            request=request,
        )
        transaction.on_commit(lambda: async_task("governance.inventory.tasks.sync_org", trigger=SyncTrigger.PORTAL))
