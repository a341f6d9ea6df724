"""Tasks: the impact analysis of a change request, run by django-q2 with progress on the request."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from governance.scp.models import ChangeRequest, ImpactStatus

logger = logging.getLogger(__name__)


def queue_impact(change_id: int) -> None:
    """Mark the request's impact as queued and hand it to the task cluster."""
    ChangeRequest.objects.filter(pk=change_id).update(impact_status=ImpactStatus.QUEUED, impact_done=0, impact_total=0)
    async_task("governance.scp.tasks.run_impact", change_id, task_name=f"scp-impact-{change_id}")


def run_impact(change_id: int) -> str:
    """Compute and store the impact (idempotent: a second delivery recomputes the same answer)."""
    from governance.scp.impact import analyze

    change = ChangeRequest.objects.select_related("policy").filter(pk=change_id).first()
    if change is None:
        return "gone"
    ChangeRequest.objects.filter(pk=change_id).update(impact_status=ImpactStatus.RUNNING, impact_done=0)

    def progress(done: int, total: int) -> None:
        ChangeRequest.objects.filter(pk=change_id).update(impact_done=done, impact_total=total)

    try:
        impact = analyze(change, progress=progress)
    except Exception as exc:
        logger.exception("impact analysis of change request %s failed", change_id)
        ChangeRequest.objects.filter(pk=change_id).update(
            impact_status=ImpactStatus.FAILED, impact={"error": str(exc)[:2000]}, impact_at=timezone.now()
        )
        return "failed"
    with transaction.atomic():
        ChangeRequest.objects.filter(pk=change_id).update(
            impact_status=ImpactStatus.DONE, impact=impact, impact_at=timezone.now()
        )
    return "done"
