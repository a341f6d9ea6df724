"""Reads for the evidence pages: packages and the campaigns they are evidence of, scoped to the user.

Who may read a campaign's evidence is who may open the campaign (`reviews.selectors.
campaign_for_user`: overseers, i.e. reviews administrators and auditors) among those holding
`evidence.export`, which the views require. A package of a campaign the user may not open is
neither listed nor downloadable (404, as for a package that does not exist). The campaigns are
read through the reviews app's selectors only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.http import Http404

from governance.evidence.models import EvidencePackage

logger = logging.getLogger(__name__)

CAMPAIGN = "reviews.campaign"  # the subject_type of a campaign's packages
CAMPAIGNS_PER_PAGE = 25


def _visible_campaigns(user: Any) -> QuerySet:
    from governance.reviews import selectors as reviews

    return reviews.visible_campaigns(user)


def visible_packages(user: Any) -> QuerySet:
    """Stored packages the user may read: those of other subjects, and of the campaigns they may open."""
    campaign_ids = _visible_campaigns(user).order_by().annotate(text_id=Cast("pk", CharField())).values("text_id")
    return EvidencePackage.objects.stored().filter(~Q(subject_type=CAMPAIGN) | Q(subject_id__in=campaign_ids))


def recent_packages(user: Any, *, limit: int) -> list[EvidencePackage]:
    return list(visible_packages(user).select_related("created_by").order_by("-created_at", "-id")[:limit])


def package_or_404(user: Any, package_id) -> EvidencePackage:
    package = visible_packages(user).filter(pk=package_id).first()
    if package is None:
        raise Http404("No such evidence package.")
    return package


@dataclass
class CampaignRow:
    campaign: Any
    packages: int = 0
    latest: EvidencePackage | None = None


@dataclass
class CampaignPage:
    rows: list[CampaignRow]
    next_after: int | None


def campaigns_for_evidence(user: Any, *, after: int | None = None, size: int = CAMPAIGNS_PER_PAGE) -> CampaignPage:
    """The campaigns whose evidence the user may read, newest first, keyset-paged by id, each with
    its number of stored packages and the newest one (two queries whatever the page's size)."""
    campaigns = _visible_campaigns(user).order_by("-pk")
    if after:
        campaigns = campaigns.filter(pk__lt=after)
    found = list(campaigns[: size + 1])
    next_after = found[size - 1].pk if len(found) > size else None
    rows = {c.pk: CampaignRow(campaign=c) for c in found[:size]}
    if not rows:
        return CampaignPage(rows=[], next_after=None)
    packages = (
        EvidencePackage.objects.stored()
        .filter(subject_type=CAMPAIGN, subject_id__in=[str(pk) for pk in rows])
        .order_by("subject_id", "-created_at", "-id")
        .only("id", "subject_id", "created_at", "sha256", "size")
    )
    for package in packages:
        row = rows[int(package.subject_id)]
        row.packages += 1
        row.latest = row.latest or package
    return CampaignPage(rows=list(rows.values()), next_after=next_after)


def campaign_or_404(user: Any, campaign_id: int) -> Any:
    """The campaign, if the user may open it; 404 otherwise (also when it does not exist)."""
    from governance.reviews import selectors as reviews

    return reviews.campaign_for_user(user, campaign_id)


def campaign_evidence(campaign: Any) -> dict[str, Any]:
    """A campaign's evidence page: its stored packages (newest first), its sign-offs, the campaign's report."""
    from governance.reviews import selectors as reviews

    return {
        "packages": list(
            EvidencePackage.objects.stored()
            .for_subject(CAMPAIGN, str(campaign.pk))
            .select_related("created_by")
            .order_by("-created_at", "-id")
        ),
        "signoffs": reviews.signoffs_for_export(campaign),
        "report": reviews.report(campaign),
    }


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
