"""A review campaign's evidence, read through the reviews app's export selectors.

items.csv / items.jsonl (a row per item), attestations.json (the sign-offs), population.json (the
manifest the campaign was launched from, as the reviews app recorded it), and the campaign's audit
events with the checkpoint covering the last of them. summary.pdf is not produced yet.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from governance.audit.spreadsheet import csv_chunks
from governance.evidence import sources
from governance.evidence.package import PackageFile, json_file, jsonl_chunks

COLUMNS = (
    ("campaign_id", None), ("campaign_name", None), ("account_id", "aws_account_id"), ("account_name", "account_name"),
    ("principal_arn", "principal_arn"), ("principal_type", "principal_kind"), ("principal_name", "principal_name"),
    ("entitlement_arn", "target_arn"), ("entitlement_name", "target_name"), ("held_via", "via"), ("kind", "kind"),
    ("risk", "risk"), ("recommendation", "recommendation"), ("recommendation_reason", "recommendation_reason"),
    ("assigned_reviewer", "reviewer_email"), ("delegated_from", "delegated_from"), ("decided_by", None),
    ("decision", "decision"), ("justification", "justification"), ("decided_at", "decided_at"),
    ("bulk_decision", "decided_in_bulk"), ("remediation_status", "remediation_status"),
    ("aws_request_id", "remediation_request_id"), ("verified_at", "verified_at"),
)  # fmt: skip
HEADER = [name for name, _ in COLUMNS]


def campaign_source(subject_id: str) -> sources.Source:
    from governance.reviews import selectors

    try:
        campaign = selectors.campaign_for_export(int(subject_id))
    except (ValueError, LookupError) as exc:
        raise sources.NotFound(f"No campaign {subject_id!r}.") from exc
    except Exception as exc:
        if type(exc).__name__ == "DoesNotExist":
            raise sources.NotFound(f"No campaign {subject_id!r}.") from None
        raise
    names: dict[int, str] = {}

    def decider(user_id: int | None) -> str:
        if user_id is None:
            return ""
        if user_id not in names:
            names[user_id] = get_user_model().objects.filter(pk=user_id).values_list(
                "username", flat=True
            ).first() or str(user_id)
        return names[user_id]

    def rows() -> Any:
        for item in selectors.items_for_export(campaign):
            yield [
                campaign.pk if name == "campaign_id"
                else campaign.name if name == "campaign_name"
                else decider(item.get("decided_by_id")) if name == "decided_by"
                else item.get(field)
                for name, field in COLUMNS
            ]  # fmt: skip

    def dict_rows() -> Any:
        for row in rows():
            yield dict(zip(HEADER, row, strict=True))

    files = [
        PackageFile("items.csv", lambda: csv_chunks(HEADER, rows())),
        PackageFile("items.jsonl", lambda: jsonl_chunks(dict_rows())),
        json_file("attestations.json", selectors.signoffs_for_export(campaign)),
        json_file("population.json", {"sync_run_id": campaign.sync_run_id, "manifest": campaign.manifest}),
        *sources.audit_files(selectors.decision_history(campaign)),
    ]
    return sources.Source(
        subject_type="reviews.campaign",
        subject_id=str(campaign.pk),
        subject_repr=f"{campaign.name} ({campaign.period})",
        subject={
            "type": "campaign",
            "id": campaign.pk,
            "name": campaign.name,
            "period": campaign.period,
            "status": campaign.status,
        },
        files=files,
    )
