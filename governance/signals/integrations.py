"""What AWS's signals give other apps through the hooks those apps offer.

- The SCP editor's diagnostics (`governance.scp.diagnostics.register_provider`): ValidatePolicy.
- Impact analysis' recent use (`governance.scp.impact.register_usage_provider`): services a principal
  used according to service last accessed, and actions it called according to CloudTrail.
- Review decision hints: `selectors.last_accessed_hints` (and `tasks.prioritize_campaign`, queued
  when the launch commits, to fetch a campaign's principals first), for the reviews app to call.
"""

from __future__ import annotations

from datetime import datetime

from governance.signals.models import ActionLastUsed, ServiceLastAccessed


def _usage(source: str):
    from governance.scp.impact import Usage

    return Usage(source=source)


def service_last_accessed_usage(principal_ids: list[int], since: datetime) -> dict:
    """{principal id: Usage} of the services each principal used since `since` (service last accessed)."""
    found: dict = {}
    rows = ServiceLastAccessed.objects.filter(principal_id__in=principal_ids, last_authenticated__gte=since)
    for principal_id, namespace, used in rows.values_list("principal_id", "namespace", "last_authenticated"):
        usage = found.setdefault(principal_id, _usage("service last accessed"))
        if namespace not in usage.services or usage.services[namespace] < used:
            usage.services[namespace] = used
    return found


def cloudtrail_usage(principal_ids: list[int], since: datetime) -> dict:
    """{principal id: Usage} of the services whose actions each principal called since `since` (CloudTrail)."""
    found: dict = {}
    rows = ActionLastUsed.objects.filter(principal_id__in=principal_ids, last_used_at__gte=since, source="cloudtrail")
    for principal_id, action, used in rows.values_list("principal_id", "action", "last_used_at"):
        service = action.partition(":")[0].lower()
        usage = found.setdefault(principal_id, _usage("CloudTrail"))
        if service not in usage.services or usage.services[service] < used:
            usage.services[service] = used
    return found


def review_hints(*, campaign, items) -> None:
    """The reviews' provider: each item's service-last-accessed hint in its context, "revoke"
    recommended where AWS tracked the principal and it used nothing allowed in 90 days, and the
    campaign's principals fetched ahead of the queue. The context value holds the sentence, the day
    AWS was asked, the most recently used service and its day, and whether revoke is recommended.
    Set-based: one UPDATE per distinct hint (days, not instants, so principals share them).

    Putting the principals first in the fetch queue is a task queued when the launch commits
    (`tasks.prioritize_campaign`): it changes only the order of background reads, and on a
    million-item launch its INSERT of a hundred thousand fetches took 1.3 s of the launch's 10."""
    from django.db import transaction

    from governance.reviews import providers
    from governance.signals.selectors import last_accessed_hints

    campaign_id = campaign.pk
    transaction.on_commit(lambda: _queue_prioritize(campaign_id))
    principals = items.exclude(principal_id=None).order_by().values("principal_id")
    # Only a principal AWS reported services for gets a hint: read just those (a few, or none
    # before the first fetches; a campaign's principals may be a hundred thousand).
    tracked = ServiceLastAccessed.objects.filter(principal_id__in=principals).order_by()
    principal_ids = sorted(set(tracked.values_list("principal_id", flat=True).distinct()))
    if not principal_ids:
        return
    hints = last_accessed_hints(principal_ids)
    by_value: dict[tuple, list[int]] = {}
    for pk, hint in hints.items():
        if hint.services:
            last = max((u for u in hint.services if u.last_used), key=lambda u: u.last_used, default=None)
            key = (
                hint.text,
                hint.fetched_at.date().isoformat() if hint.fetched_at else None,
                last.name if last else None,
                last.last_used.date().isoformat() if last else None,
                hint.suggests_revoke,
            )
            by_value.setdefault(key, []).append(pk)
    for (text, fetched, last_service, last_used, revoke), pks in by_value.items():
        value = {
            "text": text,
            "fetched_at": fetched,
            "last_service": last_service,
            "last_used": last_used,
            "revoke_recommended": revoke,
        }
        providers.merge_context(items.filter(principal_id__in=pks), "last_accessed", value)
    unused = [pk for pk, hint in hints.items() if hint.suggests_revoke]
    if unused:
        providers.recommend(
            items.filter(principal_id__in=unused, recommendation="review"),
            recommendation="revoke",
            reason="AWS's service last accessed: nothing this principal may use was used in 90 days.",
        )


def _queue_prioritize(campaign_id: int) -> None:
    from django_q.tasks import async_task

    async_task(
        "governance.signals.tasks.prioritize_campaign",
        campaign_id=campaign_id,
        task_name=f"signals.prioritize_campaign.{campaign_id}",
    )


def register() -> None:
    from governance.reviews import providers
    from governance.scp import diagnostics, impact
    from governance.signals import validation

    providers.register("signals.last_accessed", "governance.signals.integrations.review_hints")
    diagnostics.register_provider("access_analyzer", validation.scp_diagnostics, order=50)
    impact.register_usage_provider("service_last_accessed", service_last_accessed_usage)
    impact.register_usage_provider("cloudtrail", cloudtrail_usage)
