"""Background tasks: take ids, call a service. Schedules are collected by `setup_schedules`."""

from __future__ import annotations

from governance.reviews import remediation, triggers
from governance.reviews.models import Campaign, CampaignStatus

SCHEDULES = [
    {
        "name": "remediation_retry",
        "func": "governance.reviews.tasks.remediate_due",
        "schedule_type": "minutes",
        "minutes": 5,
    },
    {"name": "campaign_upkeep", "func": "governance.reviews.tasks.campaign_upkeep", "schedule_type": "hourly"},
    # Hourly, so a template launches within the hour its cron fires (monthly, weekly, quarterly, ...).
    {"name": "launch_due", "func": "governance.reviews.tasks.launch_due", "schedule_type": "hourly"},
]


def remediate_campaign(*, campaign_id: int) -> dict:
    results = [remediation.remediate_item(item_id=pk) for pk in remediation.due_items(campaign_id=campaign_id)]
    return {"items": len(results), "done": results.count("done"), "failed": results.count("failed")}


def remediate_due(*, limit: int = 500) -> dict:
    results = [remediation.remediate_item(item_id=pk) for pk in remediation.due_items(limit=limit)]
    return {"items": len(results), "done": results.count("done"), "failed": results.count("failed")}


def campaign_upkeep() -> dict:
    """Close campaigns past their due date; reminders and escalation (services.remind)."""
    from django.utils import timezone

    from governance.reviews import services

    closed = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.OPEN, due_at__lte=timezone.now()):
        services.close_campaign(campaign=campaign, actor=None, reason="due date passed")
        closed += 1
    reminded = services.remind_and_escalate()
    return {"closed": closed, **reminded}


def launch_due() -> dict:
    """Launch every active scheduled template whose cron has come round this period."""
    return triggers.launch_scheduled()


def after_sync(*, run_id: int) -> dict:
    """The after-sync step: verify revokes, open triggered reviews for new entitlements."""
    return {"verified": remediation.verify_after_sync(), **triggers.after_sync(run_id=run_id)}
