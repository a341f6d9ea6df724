"""Background tasks: each refresh on its own schedule, and a step after every sync."""

from __future__ import annotations

from governance.inventory import after_sync
from governance.inventory.models import SyncRun
from governance.signals import services
from governance.signals.models import Source

SCHEDULES = [
    # The budget is per minute: one run a minute spends at most that many IAM calls.
    {"name": "last_accessed", "func": "governance.signals.tasks.refresh_last_accessed", "schedule_type": "minutes",
     "minutes": 1},
    {"name": "activity", "func": "governance.signals.tasks.refresh_activity", "schedule_type": "minutes",
     "minutes": 15},
    {"name": "access_analyzer", "func": "governance.signals.tasks.refresh_analyzer", "schedule_type": "hourly"},
    {"name": "config", "func": "governance.signals.tasks.refresh_config", "schedule_type": "cron",
     "cron": "35 * * * *"},
]  # fmt: skip


def refresh_last_accessed() -> dict:
    return services.refresh_last_accessed().as_dict()


def refresh_activity() -> dict:
    return services.refresh_activity().as_dict()


def refresh_analyzer() -> dict:
    return services.refresh_analyzer().as_dict()


def refresh_config() -> dict:
    return services.refresh_config().as_dict()


def prioritize_campaign(*, campaign_id: int) -> dict:
    """A launched campaign's principals fetched ahead of the queue (queued by the launch's commit)."""
    from governance.reviews.models import ReviewItem

    principals = ReviewItem.objects.filter(campaign_id=campaign_id).exclude(principal_id=None).order_by()
    return {"prioritized": services.prioritize_last_accessed(principal_ids=principals.values("principal_id"))}


def refresh(*, sources: list[str], force: bool = False) -> list[dict]:
    """A requested refresh of some sources (a person's, or the command's)."""
    runs = {
        Source.ACCESS_ANALYZER: lambda: services.refresh_analyzer(force=force),
        Source.CLOUDTRAIL: lambda: services.refresh_activity(force=force),
        Source.CONFIG: lambda: services.refresh_config(force=force),
        Source.LAST_ACCESSED: lambda: services.refresh_last_accessed(force=force),
    }
    return [runs[source]().as_dict() for source in sources if source in runs]


def refresh_after_sync(*, run_id: int) -> dict:
    """After a sync: who made the changes it found (CloudTrail of the changed accounts), and the
    analyzer and Config views of the same accounts. Idempotent."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or not after_sync.should_run(run):
        return {"skipped": "no such finished sync"}
    changes = after_sync.changes(run)
    if not changes.anything:
        return {"skipped": "the sync changed nothing"}
    account_ids = None if changes.organization else changes.account_ids
    return {
        "activity": services.refresh_activity(account_ids=account_ids).as_dict(),
        "access_analyzer": services.refresh_analyzer().as_dict(),
        "config": services.refresh_config(account_ids=changes.account_ids or None).as_dict(),
    }
