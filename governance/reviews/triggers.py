"""Recurring launches (each template's cron) and event-driven reviews after a sync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from governance.inventory.after_sync import RUN_STATUSES
from governance.inventory.models import SyncRun
from governance.reviews import launch
from governance.reviews.models import Campaign, CampaignTemplate, TriggerKind


def _quarter_start(now: datetime) -> datetime:
    return now.replace(month=3 * ((now.month - 1) // 3) + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def launch_scheduled(*, now: datetime | None = None) -> dict[str, Any]:
    """Launch each scheduled template whose cron has fired in the current period and that has no
    campaign for it yet (idempotent: launch() refuses a second one per period). The period is the
    calendar quarter for a cron that fires once a quarter (the default: a template's cron must have
    fired since the quarter began), else the cron's last fire (`launch.template_period`): a monthly
    cron launches monthly. A template whose launch fails is reported and the others still launch."""
    now = now or timezone.now()
    launched, failed = [], {}
    for template in CampaignTemplate.objects.filter(active=True, trigger=TriggerKind.SCHEDULED):
        try:
            fired = launch.last_fire(template, now)
            if launch.fires_once_a_quarter(template, fired) and fired < _quarter_start(now):
                continue
            result = launch.launch(template=template, actor=None, now=now)
        except launch.LaunchError as exc:
            failed[template.name] = str(exc)
            continue
        if result.created:
            launched.append(result.campaign.pk)
    return {"launched": launched, **({"failed": failed} if failed else {})}


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
