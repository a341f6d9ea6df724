"""The campaign's evidence package contents, for governance/evidence (registered in apps.py).

Files: `campaign.json` (the campaign, its template's settings and the population manifest),
`items.jsonl` (every item as frozen at launch, with its decision and remediation, and the campaign's
name, the decider's e-mail and the remediation action: JSONL_EXTRA; what can still change after
the close last, after the head that the close stores on PostgreSQL: `write_heads`),
`items.csv` (the same items, the columns an auditor reads, spreadsheet-safe),
`signoffs.json` (each reviewer's signed statement with `decisions_sha256`, the hash of the
decisions it covered: see `attestation_hash`), `summary.pdf` (scope, completion, decisions,
revokes and their verification, exceptions, charts: `summary_context`), and the audit events of
the campaign and its items with the checkpoint that covers them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from django.db import connections, router
from django.db.models import Count, Q
from django.utils import timezone

from governance.audit.models import AuditEvent, canonical_time
from governance.audit.spreadsheet import csv_chunks
from governance.evidence import sources
from governance.evidence.package import PackageFile, json_file, jsonl_chunks
from governance.evidence.pdf import pdf_file
from governance.reviews import evidence_sql, remediation, selectors
from governance.reviews.models import (
    CHANGES_WHEN_LOCKED,
    Campaign,
    CampaignStatus,
    Decision,
    ItemHead,
    RemediationStatus,
    ReviewItem,
)


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
        *_item_files(campaign),
        json_file("signoffs.json", _signoffs(campaign)),
        pdf_file("summary.pdf", "evidence/campaign_summary.html", lambda: summary_context(campaign)),
        *sources.audit_files(events),
    ]
    return sources.Source(
        subject_type="reviews.campaign",
        subject_id=str(campaign.pk),
        subject_repr=campaign.name,
        subject=subject,
        files=files,
    )


# items.csv: a row per item, the columns the auditor reads (items.jsonl keeps every field): the
# risk context as copied at launch, and the remediation a revoke runs (computed, REMEDIATION_ACTION).
REMEDIATION_ACTION = "remediation_action"
DECIDED_BY = "decided_by"  # the e-mail of the person who decided, in both files
CSV_COLUMNS = (
    ("item_id", "id"), ("account_id", "aws_account_id"), ("account_name", "account_name"),
    ("principal_arn", "principal_arn"), ("principal_type", "principal_kind"), ("principal_name", "principal_name"),
    ("kind", "kind"), ("entitlement_arn", "target_arn"), ("entitlement_name", "target_name"), ("held_via", "via"),
    ("last_used", "last_used"), ("mfa_enabled", "mfa_enabled"), ("key_created", "key_created"),
    ("open_findings", "open_findings"), ("admin_access", "admin_access"),
    ("risk", "risk"), ("recommendation", "recommendation"), ("recommendation_reason", "recommendation_reason"),
    ("assigned_reviewer", "reviewer_email"), ("delegated_from", "delegated_from"), (DECIDED_BY, "decided_by__email"),
    ("decision", "decision"), ("justification", "justification"), ("decided_at", "decided_at"),
    ("bulk_decision", "decided_in_bulk"), ("defaulted_at_close", "defaulted_at_close"),
    ("remediation_action", REMEDIATION_ACTION), ("remediation_status", "remediation_status"),
    ("aws_request_id", "remediation_request_id"), ("remediation_ticket", "remediation_ticket"),
    ("verified_at", "verified_at"),
)  # fmt: skip
CSV_HEADER = ("campaign_id", "campaign_name", *(name for name, _ in CSV_COLUMNS))

# items.jsonl: every field of the item as frozen (its attname) and, each after the field it explains,
# what the item does not hold itself: the campaign's name, the e-mail of the person who decided (the
# user `decided_by_id` names, after delegation; null while undecided) and the remediation a revoke
# runs, as items.csv has them. In field order, but what can still change once the campaign has
# closed (CHANGES_WHEN_LOCKED, the decider's e-mail and the remediation action) comes last, in the
# same order: the rest of the line is the item's stored head (ItemHead).
JSONL_EXTRA = (
    ("campaign_name", "campaign_id"),
    (DECIDED_BY, "decided_by_id"),
    (REMEDIATION_ACTION, "remediation_status"),
)
JSONL_LIVE_EXTRA = (DECIDED_BY, REMEDIATION_ACTION)


def _on_postgresql(campaign: Campaign) -> str | None:
    """The database alias when the items can be written by PostgreSQL (evidence_sql), else None."""
    using = campaign._state.db or router.db_for_read(ReviewItem)
    return using if connections[using].vendor == "postgresql" else None


def _item_files(campaign: Campaign) -> list[PackageFile]:
    """items.jsonl and items.csv; when PostgreSQL writes both, from one snapshot by two backends at
    once (`evidence_sql.SameSnapshot`)."""
    using = _on_postgresql(campaign)
    jsonl, csv = _jsonl_copy(campaign, using), _csv_copy(campaign, using)
    if jsonl is None or csv is None:
        return [
            PackageFile("items.jsonl", lambda: _items_jsonl(campaign)),
            PackageFile("items.csv", lambda: _items_csv(campaign)),
        ]
    pair = evidence_sql.SameSnapshot(using, jsonl, csv)
    return [PackageFile("items.jsonl", pair.first), PackageFile("items.csv", pair.second)]


def _items_jsonl(campaign: Campaign):
    using = _on_postgresql(campaign)
    copy = _jsonl_copy(campaign, using)
    return jsonl_chunks(_jsonl_rows(campaign)) if copy is None else copy.chunks(using)


def _items_csv(campaign: Campaign):
    using = _on_postgresql(campaign)
    copy = _csv_copy(campaign, using)
    return csv_chunks(CSV_HEADER, _csv_rows(campaign)) if copy is None else copy.chunks(using)


def _field_order_keys() -> list[str]:
    """items.jsonl's keys in field order, each extra after the field it explains."""
    keys = [field.attname for field in ReviewItem._meta.concrete_fields]
    for key, after in JSONL_EXTRA:
        keys.insert(keys.index(after) + 1, key)
    return keys


def _jsonl_live() -> list[str]:
    """The keys that can still change after the close, in their order: the line's end."""
    return [key for key in _field_order_keys() if key in CHANGES_WHEN_LOCKED or key in JSONL_LIVE_EXTRA]


def _jsonl_keys() -> list[str]:
    live = _jsonl_live()
    return [key for key in _field_order_keys() if key not in live] + live


def _jsonl_rows(campaign: Campaign):
    """items.jsonl's rows on the Python path: dicts of `_jsonl_keys()`, in id order."""
    fields = [field.attname for field in ReviewItem._meta.concrete_fields]
    in_field_order, keys = _field_order_keys(), _jsonl_keys()
    inserts = sorted((in_field_order.index(key), key) for key, _ in JSONL_EXTRA)  # in field order, in order
    order = [in_field_order.index(key) for key in keys]
    kind, via, decision = (fields.index(name) for name in ("kind", "via", "decision"))
    action_for, name = remediation.action_for, campaign.name
    rows = campaign.items.order_by("id").values_list(*fields, "decided_by__email").iterator(chunk_size=5000)
    for *values, email in rows:
        added = {
            "campaign_name": name,
            DECIDED_BY: email,
            REMEDIATION_ACTION: action_for(kind=values[kind], via=values[via], decision=values[decision]),
        }
        for at, key in inserts:
            values.insert(at, added[key])
        yield dict(zip(keys, [values[at] for at in order], strict=True))


def _jsonl_copy(campaign: Campaign, using: str | None) -> evidence_sql.Copy | None:
    if not _jsonl_by_sql(using):
        return None
    heads = None
    if campaign.status == CampaignStatus.CLOSED:  # only a closed campaign's items have heads
        quote = connections[using].ops.quote_name
        table, item = quote(ItemHead._meta.db_table), quote(ItemHead._meta.pk.column)
        heads = evidence_sql.Heads(f"LEFT JOIN {table} h ON h.{item} = i.{quote(ReviewItem._meta.pk.column)}", "h.head")
    return evidence_sql.jsonl_copy(
        ReviewItem, using, "i.campaign_id = %s", [campaign.pk], heads=heads, **_line_parts(campaign, using)
    )


def write_heads(campaign: Campaign) -> int:
    """Store the heads of a closed campaign's items.jsonl lines (ItemHead), on PostgreSQL; returns how
    many. services.close_campaign calls it in the close's transaction, once every item is locked.
    Elsewhere (the Python path writes whole lines) and for a campaign that has them already: 0."""
    if campaign.status != CampaignStatus.CLOSED:
        raise ValueError("Only a closed campaign's items have heads.")
    using = _on_postgresql(campaign)
    if not _jsonl_by_sql(using) or ItemHead.objects.using(using).filter(campaign=campaign).exists():
        return 0
    select = evidence_sql.head_select(ReviewItem, using, "i.campaign_id = %s", **_line_parts(campaign, using))
    quote = connections[using].ops.quote_name
    columns = ", ".join(quote(ItemHead._meta.get_field(name).column) for name in ("item_id", "head", "campaign"))
    insert = f"INSERT INTO {quote(ItemHead._meta.db_table)} ({columns}) SELECT h.*, %s FROM ({select}) AS h"  # noqa: S608
    return evidence_sql.store(using, insert, [campaign.pk, campaign.pk])


def _jsonl_by_sql(using: str | None) -> bool:
    """Whether PostgreSQL can write items.jsonl's lines (evidence_sql handles every field's type)."""
    email = ReviewItem._meta.get_field("decided_by").related_model._meta.get_field("email")
    return using is not None and evidence_sql.jsonl_supported(ReviewItem) and evidence_sql.csv_kind(email) == "text"


def _line_parts(campaign: Campaign, using: str) -> dict:
    """The keyword arguments of `jsonl_copy` and `head_select` for the campaign's items: JSONL_EXTRA
    as SQL over `reviews_item i` and the users `u`, the join, and the keys that come last."""
    quote = connections[using].ops.quote_name
    users = ReviewItem._meta.get_field("decided_by").related_model._meta
    decided_by = ReviewItem._meta.get_field("decided_by").column
    email = users.get_field("email")
    extra = {
        "campaign_name": evidence_sql.constant("campaign_name", "campaign_id", campaign.name),
        DECIDED_BY: evidence_sql.Extra(DECIDED_BY, "decided_by_id", f"u.{quote(email.column)}", "text", null=True),
        REMEDIATION_ACTION: evidence_sql.Extra(
            REMEDIATION_ACTION, "remediation_status", _remediation_action_sql(), "text",
            escapes=any(_escaped(text) for texts in remediation.ACTIONS.values() for text in texts),
        ),
    }  # fmt: skip
    return {
        "extra": [extra[key] for key, _ in JSONL_EXTRA],
        "joins": f"LEFT JOIN {quote(users.db_table)} u ON u.{quote(users.pk.column)} = i.{quote(decided_by)}",
        "live": _jsonl_live(),
    }


def _escaped(text: str) -> bool:
    """Whether JSON escapes a character of the text."""
    return any(c in '"\\' or ord(c) < 0x20 for c in text)


def _csv_columns() -> list[tuple[str, str]] | None:
    """items.csv's cells as (SQL expression, kind) over `reviews_item i LEFT JOIN <users> u`."""
    columns = []
    for _, name in CSV_COLUMNS:
        if name == REMEDIATION_ACTION:
            columns.append((_remediation_action_sql(), "text"))
            continue
        if name == "decided_by__email":  # the person, as items.jsonl's DECIDED_BY
            field, table = ReviewItem._meta.get_field("decided_by").related_model._meta.get_field("email"), "u"
        else:
            field, table = ReviewItem._meta.get_field(name), "i"
        kind = evidence_sql.csv_kind(field)
        if not kind:
            return None
        columns.append((f'{table}."{field.column}"', kind))
    return columns


def _csv_copy(campaign: Campaign, using: str | None) -> evidence_sql.Copy | None:
    columns = _csv_columns() if using is not None else None
    if columns is None:
        return None
    users = ReviewItem._meta.get_field("decided_by").related_model._meta.db_table
    from_sql = (
        f'FROM "{ReviewItem._meta.db_table}" i LEFT JOIN "{users}" u ON u.id = i.decided_by_id'
        " WHERE i.campaign_id = %s ORDER BY i.id"
    )
    lead = (campaign.pk, campaign.name)
    return evidence_sql.csv_copy(CSV_HEADER, lead, columns, from_sql, [campaign.pk])


def _remediation_action_sql() -> str:
    """`remediation.action_for` as SQL over `reviews_item i`."""
    literal = evidence_sql._literal
    whens = []
    for kind, (action, inline) in remediation.ACTIONS.items():
        if inline:
            whens.append(f"WHEN i.kind = {literal(kind)} AND i.via = 'inline' THEN {literal(inline)}")
        whens.append(f"WHEN i.kind = {literal(kind)} THEN {literal(action)}")
    revoke = literal(Decision.REVOKE.value)
    return f"CASE WHEN i.decision = {revoke} THEN CASE {' '.join(whens)} ELSE '' END ELSE '' END"


def _csv_rows(campaign: Campaign):
    lead = (campaign.pk, campaign.name)
    fields = [field for _, field in CSV_COLUMNS if field != REMEDIATION_ACTION]
    at = [field for _, field in CSV_COLUMNS].index(REMEDIATION_ACTION)
    action_for = remediation.action_for
    rows = campaign.items.order_by("id").values_list(*fields, "kind", "via", "decision").iterator(chunk_size=5000)
    for *values, kind, via, decision in rows:
        values.insert(at, action_for(kind=kind, via=via, decision=decision))
        yield (*lead, *(canonical_time(v) if isinstance(v, datetime) else v for v in values))


def attestation_hash(campaign: Campaign, reviewer_email: str) -> str:
    """SHA-256 of the decisions a sign-off covered, recomputable from items.jsonl.

    The reviewer's items in id order, one line each: the compact JSON array
    `[id, decision, justification, decided_at]` and a newline; decided_at in UTC as
    `2026-01-31T12:00:00.000000Z`, or null.
    """
    return attestation_hashes(campaign, [reviewer_email]).get(reviewer_email, hashlib.sha256().hexdigest())


def attestation_hashes(campaign: Campaign, reviewer_emails: list[str]) -> dict[str, str]:
    """`attestation_hash` of each of these reviewers, in one pass over their items."""
    digests = {email: hashlib.sha256() for email in reviewer_emails}
    rows = (
        campaign.items.filter(reviewer_email__in=reviewer_emails)
        .order_by("reviewer_email", "id")
        .values_list("reviewer_email", "id", "decision", "justification", "decided_at")
        .iterator(chunk_size=5000)
    )
    for email, pk, decision, justification, decided_at in rows:
        when = canonical_time(decided_at) if decided_at else None
        line = json.dumps([pk, decision, justification, when], ensure_ascii=False, separators=(",", ":"))
        digests[email].update(line.encode("utf-8") + b"\n")
    return {email: digest.hexdigest() for email, digest in digests.items()}


def _signoffs(campaign: Campaign) -> list[dict]:
    signoffs = selectors.signoffs_for_export(campaign)
    hashes = attestation_hashes(campaign, [s["reviewer_email"] for s in signoffs])
    for signoff in signoffs:
        signoff["decisions_sha256"] = hashes[signoff["reviewer_email"]]
    return signoffs


EXCEPTIONS_LISTED = 200


def summary_context(campaign: Campaign) -> dict:
    """What summary.pdf shows: scope, completion, decisions, revokes and their verification, exceptions.

    An exception is an item an auditor asks about: kept at close without a decision, given the
    close default, a revoke not verified by a sync (failed, pending, awaiting approval or manual),
    or a self-review that was rerouted. Counts are complete; the first EXCEPTIONS_LISTED are listed.
    """
    report = selectors.report(campaign)
    totals = report["totals"]
    items = campaign.items.order_by()
    revokes = {
        row["remediation_status"]: row["n"]
        for row in items.filter(decision=Decision.REVOKE).values("remediation_status").annotate(n=Count("id"))
    }
    unverified_revoke = Q(decision=Decision.REVOKE) & ~Q(remediation_status=RemediationStatus.VERIFIED)
    exception = Q(flagged=True) | Q(defaulted_at_close=True) | unverified_revoke | Q(self_review_rerouted=True)
    counts = items.aggregate(
        bulk=Count("id", filter=Q(decided_in_bulk=True)),
        defaulted=Count("id", filter=Q(defaulted_at_close=True)),
        rerouted=Count("id", filter=Q(self_review_rerouted=True)),
        delegated=Count("id", filter=~Q(delegated_from="")),
        unverified=Count("id", filter=unverified_revoke),
        exceptions=Count("id", filter=exception),
    )
    listed = list(
        items.filter(exception)
        .order_by("id")
        .values(
            "id", "aws_account_id", "principal_arn", "target_name", "decision", "flagged", "defaulted_at_close",
            "remediation_status", "remediation_error", "self_review_rerouted", "reviewer_email",
        )[:EXCEPTIONS_LISTED]
    )  # fmt: skip
    for row in listed:
        row["why"] = _exception_reason(row)
    total = totals["total"] or 0
    decided = total - totals["undecided"]
    manifest = campaign.manifest or {}
    by_kind = manifest.get("counts", {}).get("by_kind", {})
    in_inventory = manifest.get("inventory_counts", {})
    kinds = sorted(set(by_kind) | set(in_inventory))
    return {
        "campaign": campaign,
        "generated_at": timezone.now(),
        "manifest": manifest,
        "population": [
            {
                "kind": k,
                "copied": by_kind.get(k, 0),
                "inventory": in_inventory.get(k, 0),
                "agrees": by_kind.get(k, 0) == in_inventory.get(k, 0),
            }
            for k in kinds
        ],
        "report": report,
        "totals": totals,
        "decided": decided,
        "percent_decided": round(100 * decided / total) if total else 100,
        "bars": [
            {"label": label, "n": n, "percent": round(100 * n / total, 1) if total else 0, "css": css}
            for label, n, css in (
                ("Kept", totals["keep"], "keep"),
                ("Revoked", totals["revoke"], "revoke"),
                ("Undecided", totals["undecided"], "undecided"),
            )
        ],
        "revokes": [{"status": _status_label(status), "n": n} for status, n in sorted(revokes.items())],
        "counts": counts,
        "exceptions": listed,
        "exceptions_listed": EXCEPTIONS_LISTED,
        "signoffs": _signoffs(campaign),
    }


def _exception_reason(row: dict) -> str:
    reasons = []
    if row["flagged"]:
        reasons.append("kept at close without a decision")
    elif row["defaulted_at_close"]:
        reasons.append("close default applied")
    if row["decision"] == Decision.REVOKE and row["remediation_status"] != RemediationStatus.VERIFIED:
        status = row["remediation_status"]
        reason = f"revoke not verified ({_status_label(status).lower()})" if status else "revoke not yet carried out"
        reasons.append(f"{reason}: {row['remediation_error']}" if row["remediation_error"] else reason)
    if row["self_review_rerouted"]:
        reasons.append("self-review rerouted")
    return "; ".join(reasons)


def _status_label(status: str) -> str:
    if not status:
        return "Not yet carried out"
    return RemediationStatus(status).label if status in RemediationStatus.values else status
