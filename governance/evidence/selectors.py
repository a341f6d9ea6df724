"""Reads for the evidence pages."""

from __future__ import annotations

import logging

from django.http import Http404

from governance.evidence.models import EvidencePackage

logger = logging.getLogger(__name__)


def recent_packages(*, limit: int) -> list[EvidencePackage]:
    return list(EvidencePackage.objects.stored().select_related("created_by").order_by("-created_at", "-id")[:limit])


def package_or_404(package_id) -> EvidencePackage:
    package = EvidencePackage.objects.stored().filter(pk=package_id).first()
    if package is None:
        raise Http404("No such evidence package.")
    return package


def campaigns_for_evidence(user) -> list:
    """Campaigns an auditor can take evidence of; empty until the reviews app provides them."""
    return []


QUEUE_SCANNED = 500


def being_generated() -> list[str]:
    """The subjects whose package a queued task is still making (`kind id`), oldest first.

    Reads the first QUEUE_SCANNED rows of django-q2's ORM queue (the task name is inside the
    signed payload); a row that cannot be read is skipped, not shown.
    """
    from django_q.models import OrmQ

    from governance.evidence.tasks import TASK_PREFIX

    found = []
    for row in OrmQ.objects.order_by("id")[:QUEUE_SCANNED]:
        try:
            name = row.name()
        except Exception as exc:  # a foreign or damaged payload is not ours to show
            logger.warning("evidence: queue row %s unreadable: %s", row.pk, exc)
            continue
        if isinstance(name, str) and name.startswith(TASK_PREFIX):
            kind, _, subject_id = name[len(TASK_PREFIX) :].partition("-")
            found.append(f"{kind} {subject_id}")
    return found
