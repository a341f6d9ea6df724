"""Recurring launches (each template's cron) and event-driven reviews after a sync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from croniter import croniter
from django.utils import timezone

from governance.inventory.after_sync import RUN_STATUSES
from governance.inventory.models import SyncRun
from governance.reviews import launch
from governance.reviews.models import Campaign, CampaignTemplate, TriggerKind


def _quarter_start(now: datetime) -> datetime:
    return now.replace(month=3 * ((now.month - 1) // 3) + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def launch_scheduled(*, now: datetime | None = None) -> dict[str, Any]:
    """Launch each scheduled template whose cron fired since the quarter began and that has no
    campaign for the quarter yet (idempotent: launch() refuses a second one per period)."""
    now = now or timezone.now()
    launched = []
    for template in CampaignTemplate.objects.filter(active=True, trigger=TriggerKind.SCHEDULED):
        last_fire = croniter(template.recurrence_cron, now).get_prev(datetime)
        if last_fire < _quarter_start(now):
            continue
        result = launch.launch(template=template, actor=None, now=now)
        if result.created:
            launched.append(result.campaign.pk)
    return {"launched": launched}


def after_sync(*, run_id: int) -> dict[str, Any]:
    """For each event-driven template, a small campaign of what this sync found new in its scope
    (first seen by this run, after an earlier sync made the baseline)."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"triggered": []}
    # The first sync is the baseline: everything in it is "first seen", none of it is news.
    if not SyncRun.objects.filter(status__in=RUN_STATUSES, started_at__lt=run.started_at).exists():
        return {"triggered": []}
    opened = []
    for template in CampaignTemplate.objects.filter(active=True, trigger=TriggerKind.EVENT):
        period = f"sync-{run.pk}"
        if Campaign.objects.filter(template=template, period=period).exists():
            continue
        if not launch.has_new(template, run.started_at):
            continue
        result = launch.launch(template=template, actor=None, period=period, new_since=run.started_at)
        if result.created:
            opened.append(result.campaign.pk)
    return {"triggered": opened}
