"""The campaign's evidence package contents, for governance/evidence (registered in apps.py).

Files: `campaign.json` (the campaign, its template's settings and the population manifest),
`items.jsonl` (every item as frozen at launch, with its decision and remediation),
`signoffs.json` (each reviewer's signed statement), and the audit events of the campaign and its
items with the checkpoint that covers them.
"""

from __future__ import annotations

from django.db.models import Q

from governance.audit.models import AuditEvent
from governance.evidence import sources
from governance.evidence.package import PackageFile, json_file, jsonl_chunks
from governance.reviews import selectors
from governance.reviews.models import Campaign


def campaign_source(subject_id: str) -> sources.Source:
    if not str(subject_id).isdigit():
        raise sources.NotFound(f"A campaign id is a number, not {subject_id!r}.")
    campaign = Campaign.objects.select_related("template").filter(pk=int(subject_id)).first()
    if campaign is None:
        raise sources.NotFound(f"No campaign {subject_id}.")
    subject = {
        "campaign": campaign.pk,
        "name": campaign.name,
        "template": campaign.template.name,
        "period": campaign.period,
        "status": campaign.status,
        "launched_at": campaign.launched_at,
        "due_at": campaign.due_at,
        "closed_at": campaign.closed_at,
        "items": campaign.item_count,
        "attestation": campaign.attestation,
        "close_action": campaign.close_action,
        "remediation_mode": campaign.remediation_mode,
        "manifest": campaign.manifest,
    }
    events = AuditEvent.objects.filter(
        Q(object_type="reviews.campaign", object_id=str(campaign.pk))
        | Q(
            object_type="reviews.reviewitem",
            object_id__in=[str(pk) for pk in campaign.items.values_list("id", flat=True).iterator()],
        )
    )
    files = [
        json_file("campaign.json", subject),
        PackageFile("items.jsonl", lambda: jsonl_chunks(selectors.items_for_export(campaign))),
        json_file("signoffs.json", selectors.signoffs_for_export(campaign)),
        *sources.audit_files(events),
    ]
    return sources.Source(
        subject_type="reviews.campaign",
        subject_id=str(campaign.pk),
        subject_repr=campaign.name,
        subject=subject,
        files=files,
    )
