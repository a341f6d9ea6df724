"""Every change to a campaign: decisions, bulk decisions, delegation, sign-off, close.

Each is one function in one transaction that writes its audit events (bulk work through
`record_many`, one event per item, marked as bulk). Refusals raise `ReviewError` with a message
for the person and write nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from governance.audit.services import record, record_many
from governance.reviews.models import (
    Campaign,
    CampaignCoverage,
    CampaignStatus,
    CloseAction,
    Decision,
    ReviewItem,
    Risk,
    SignOff,
)
from governance.reviews.selectors import my_emails, my_principal_arns

BULK_LIMIT = 5000


class ReviewError(ValueError):
    """A refused change, with the message the person sees; nothing was written."""


class ConflictError(ReviewError):
    """Someone else decided this item since the page was loaded; theirs stands."""

    def __init__(self, message: str, item: ReviewItem) -> None:
        super().__init__(message)
        self.item = item


def _audit_state(item: ReviewItem) -> dict[str, Any]:
    return {
        "decision": item.decision,
        "justification": item.justification,
        "reviewer": item.reviewer_email,
        "version": item.version,
    }


def _check_justification(*, decision: str, justification: str, high_risk: bool) -> None:
    if decision not in (Decision.KEEP, Decision.REVOKE):
        raise ReviewError("Choose keep or revoke.")
    if decision == Decision.REVOKE and not justification:
        raise ReviewError("A revoke needs a justification.")
    if decision == Decision.KEEP and high_risk and not justification:
        raise ReviewError("Keeping a high-risk item needs a justification.")


def _is_self(item: ReviewItem, emails: set[str], arns: set[str]) -> bool:
    return bool(item.principal_email and item.principal_email in emails) or item.principal_arn in arns


def decide_item(
    *,
    item_id: int,
    decision: str,
    justification: str,
    actor: Any,
    expected_version: int | None = None,
    request: Any = None,
) -> ReviewItem:
    """Keep or revoke one item. `expected_version` is the version the reviewer saw: if someone
    decided since, ConflictError tells them what stands (a resubmission of the very same
    decision by the same person is accepted as already done)."""
    justification = (justification or "").strip()
    emails = my_emails(actor)
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("campaign").filter(pk=item_id).first()
        if item is None or item.reviewer_email not in emails:
            raise ReviewError("This item is not yours to decide.")
        if item.campaign.status != CampaignStatus.OPEN:
            raise ReviewError("The campaign is closed; decisions can no longer change.")
        if item.locked:
            raise ReviewError("You signed off this campaign; your decisions are locked.")
        if _is_self(item, emails, my_principal_arns(actor)):
            raise ReviewError("This item is about your own access; it goes to the fallback reviewer.")
        _check_justification(decision=decision, justification=justification, high_risk=item.risk == Risk.HIGH)
        if expected_version is not None and item.version != expected_version:
            if item.decision == decision and item.decided_by_id == actor.pk and item.justification == justification:
                return item  # a double submit: already recorded
            who = item.decided_by.get_username() if item.decided_by_id else "someone"
            raise ConflictError(
                f"{who} decided this item ({item.get_decision_display().lower() or 'cleared'}) while you were "
                "looking at it. Their decision stands; yours was not saved. Decide again if you disagree.",
                item,
            )
        before = _audit_state(item)
        item.decision = decision
        item.justification = justification
        item.decided_by = actor
        item.decided_at = timezone.now()
        item.decided_in_bulk = False
        item.version += 1
        item.save(update_fields=["decision", "justification", "decided_by", "decided_at", "decided_in_bulk", "version"])
        record(
            actor=actor,
            action="reviews.item_decided",
            obj=item,
            before=before,
            after={**_audit_state(item), "bulk": False},
            request=request,
        )
    return item


def decide_bulk(
    *,
    campaign: Campaign,
    items: QuerySet,
    decision: str,
    justification: str,
    actor: Any,
    request: Any = None,
) -> int:
    """Decide every item of `items` (a filtered selection) that is the actor's and still open to
    change, in one UPDATE, with one audit event per item marked as bulk. Returns the count.

    Items that already carry this very decision, justification and decider are left alone, so a
    double submit (or two tabs sending the same bulk decision at once) writes it once: the second
    waits on the first's row locks, then finds nothing left to change and writes nothing."""
    justification = (justification or "").strip()
    if campaign.status != CampaignStatus.OPEN:
        raise ReviewError("The campaign is closed; decisions can no longer change.")
    emails = my_emails(actor)
    arns = my_principal_arns(actor)
    _check_justification(decision=decision, justification=justification, high_risk=False)
    with transaction.atomic():
        chosen = items.filter(campaign=campaign, reviewer_email__in=emails, locked=False)
        chosen = chosen.exclude(principal_email__in=emails).exclude(principal_arn__in=arns)
        chosen = chosen.exclude(decision=decision, justification=justification, decided_by=actor)
        if decision == Decision.KEEP and not justification and chosen.filter(risk=Risk.HIGH).exists():
            raise ReviewError("The selection holds high-risk items; keeping them needs a justification.")
        now = timezone.now()
        changes = {
            "decision": decision,
            "justification": justification,
            "decided_by_id": actor.pk,
            "decided_at": now,
            "decided_in_bulk": True,
        }
        rows = _decide_locked(chosen.order_by("id")[: BULK_LIMIT + 1], changes, campaign_id=campaign.pk)
        if len(rows) > BULK_LIMIT:
            # Raised inside the transaction: what the statement changed is rolled back with it.
            raise ReviewError(f"A bulk decision covers at most {BULK_LIMIT} items; narrow the filter.")
        if not rows:
            return 0
        record_many(
            actor=actor,
            action="reviews.item_decided",
            request=request,
            entries=[
                {
                    "object_type": "reviews.reviewitem",
                    "object_id": pk,
                    "object_repr": f"{principal} — {target}",
                    "before": {"decision": old, "justification": old_text, "reviewer": reviewer, "version": version},
                    "after": {
                        "decision": decision,
                        "justification": justification,
                        "reviewer": reviewer,
                        "version": version + 1,
                        "bulk": True,
                    },
                }
                for pk, old, old_text, reviewer, version, principal, target in rows
            ],
        )
    return len(rows)


# What a bulk decision's audit events need of each item, as it stood before the decision.
_BEFORE = ("id", "decision", "justification", "reviewer_email", "version", "principal_name", "target_name")


def _decide_locked(chosen: QuerySet, changes: dict[str, Any], *, campaign_id: int) -> list[tuple]:
    """Lock the chosen items, apply `changes` (and bump each version), and return each item's
    `_BEFORE` values as they were, in id order.

    On PostgreSQL that is one statement: an UPDATE .. FROM the locking SELECT, RETURNING the old
    values the SELECT read, so the 2,000 rows are found once instead of once to lock and read
    and again to update. Elsewhere (SQLite's RETURNING cannot name the FROM table) the rows are
    read, then updated by id."""
    if connection.vendor != "postgresql":
        rows = list(chosen.select_for_update().values_list(*_BEFORE))
        ReviewItem.objects.filter(pk__in=[row[0] for row in rows]).update(**changes, version=F("version") + 1)
        return rows
    quote = connection.ops.quote_name
    locked, params = chosen.select_for_update().values_list(*_BEFORE).query.sql_with_params()
    assignments = ", ".join(f"{quote(column)} = %s" for column in changes)
    returned = ", ".join(f"o.{quote(column)}" for column in _BEFORE)
    table = quote(ReviewItem._meta.db_table)
    sql = (
        f"UPDATE {table} AS t SET {assignments}, version = t.version + 1 "  # noqa: S608 - the ORM's own SQL
        f"FROM ({locked}) AS o WHERE t.id = o.id AND t.campaign_id = %s RETURNING {returned}"
    )
    with connection.cursor() as cursor:
        # The campaign (the partition key, migration 0007) so that only its partition is read.
        cursor.execute(sql, [*changes.values(), *params, campaign_id])
        return sorted(cursor.fetchall())


def delegate_items(
    *,
    campaign: Campaign,
    items: QuerySet,
    to_email: str,
    reason: str,
    actor: Any,
    request: Any = None,
) -> int:
    """Hand the actor's undecided items to another portal user, with a reason."""
    from django.contrib.auth import get_user_model

    to_email = (to_email or "").strip().lower()
    reason = (reason or "").strip()
    emails = my_emails(actor)
    if campaign.status != CampaignStatus.OPEN:
        raise ReviewError("The campaign is closed.")
    if not reason:
        raise ReviewError("Say why you delegate these items.")
    if not to_email or to_email in emails:
        raise ReviewError("Delegate to someone else: the items are already yours.")
    delegate = get_user_model().objects.filter(email__iexact=to_email, is_active=True).first()
    if delegate is None:
        raise ReviewError(f"{to_email} has no portal account; they must log in once before items can go to them.")
    # The delegate's own access, by every address items reach them at and by their Identity Center
    # user, as decide_item recognises it: such an item could never be decided by them.
    theirs = Q(principal_email__in={to_email, *my_emails(delegate)})
    if their_arns := my_principal_arns(delegate):
        theirs |= Q(principal_arn__in=their_arns)
    with transaction.atomic():
        chosen = items.filter(campaign=campaign, reviewer_email__in=emails, locked=False)
        if chosen.filter(theirs).exists():
            raise ReviewError(f"Some of these items are about {to_email}'s own access; they cannot review them.")
        rows = list(chosen.select_for_update().order_by("id").values_list("id", "reviewer_email", "version"))
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        ReviewItem.objects.filter(pk__in=ids).update(
            reviewer_email=to_email,
            delegated_from=F("reviewer_email"),
            delegation_reason=reason,
            version=F("version") + 1,
        )
        record_many(
            actor=actor,
            action="reviews.item_delegated",
            request=request,
            entries=[
                {
                    "object_type": "reviews.reviewitem",
                    "object_id": pk,
                    "before": {"reviewer": old, "version": version},
                    "after": {"reviewer": to_email, "reason": reason, "version": version + 1},
                }
                for pk, old, version in rows
            ],
        )
    from governance.notify.services import notify

    notify(
        event="reviews.items_delegated",
        recipients=[delegate],
        context={"campaign": campaign.name, "count": len(ids), "from": actor.email, "reason": reason},
    )
    return len(ids)


def sign_off(*, campaign: Campaign, actor: Any, mfa_methods: list[str], request: Any = None) -> SignOff:
    """Sign the campaign's attestation for the actor's items; locks them. Closes the campaign
    when it was the last reviewer's signature."""
    emails = my_emails(actor)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.OPEN:
            raise ReviewError("The campaign is closed.")
        mine = ReviewItem.objects.filter(campaign=campaign, reviewer_email__in=emails)
        if SignOff.objects.filter(campaign=campaign, reviewer_email__in=emails).exists():
            raise ReviewError("You have already signed off this campaign.")
        total = mine.count()
        if not total:
            raise ReviewError("You have no items in this campaign.")
        undecided = mine.filter(decision=Decision.NONE).count()
        if undecided:
            raise ReviewError(f"Decide every item first: {undecided} still undecided.")
        locked = mine.update(locked=True)
        signoff = SignOff.objects.create(
            campaign=campaign,
            reviewer=actor,
            reviewer_email=actor.email.lower(),
            statement=campaign.attestation,
            signed_at=timezone.now(),
            items=locked,
            mfa_methods=list(mfa_methods),
        )
        record(
            actor=actor,
            action="reviews.signed_off",
            obj=campaign,
            after={"items": locked, "statement": campaign.attestation, "mfa": list(mfa_methods)},
            request=request,
        )
        if not ReviewItem.objects.filter(campaign=campaign, locked=False).exists():
            close_campaign(campaign=campaign, actor=None, reason="everyone signed off")
    return signoff


def close_campaign(*, campaign: Campaign, actor: Any, reason: str = "", request: Any = None) -> dict[str, int]:
    """Close: undecided items take the template's default (keep and flag, or revoke), everything
    locks, revokes go to remediation. Idempotent: closing a closed campaign changes nothing."""
    from governance.reviews import evidence, remediation

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.CLOSED:
            return {"defaulted": 0, "revokes": 0}
        now = timezone.now()
        items = ReviewItem.objects.filter(campaign=campaign)
        undecided = items.filter(decision=Decision.NONE)
        if campaign.close_action == CloseAction.REVOKE:
            defaulted = undecided.update(
                decision=Decision.REVOKE,
                justification="Undecided at close: revoked by the campaign's default.",
                decided_at=now,
                defaulted_at_close=True,
                version=F("version") + 1,
            )
        else:
            defaulted = undecided.update(
                decision=Decision.KEEP,
                justification="Undecided at close: kept and flagged by the campaign's default.",
                decided_at=now,
                defaulted_at_close=True,
                flagged=True,
                version=F("version") + 1,
            )
        items.filter(locked=False).update(locked=True)
        campaign.status = CampaignStatus.CLOSED
        campaign.closed_at = now
        campaign.save(update_fields=["status", "closed_at"])
        record_coverage(campaign=campaign)
        evidence.write_heads(campaign)  # every item is locked now: the heads of its evidence lines
        revokes = remediation.queue_for_campaign(campaign=campaign, actor=actor)
        record(
            actor=actor,
            action="reviews.campaign_closed",
            obj=campaign,
            after={"defaulted": defaulted, "default": campaign.close_action, "revokes": revokes, "reason": reason},
            request=request,
        )
        reviewers = list(items.order_by().values_list("reviewer_email", flat=True).distinct())
        from governance.notify.services import notify

        notify(
            event="reviews.campaign_closed",
            recipients=reviewers,
            context={"campaign": campaign.name, "defaulted": defaulted, "revokes": revokes},
            dedupe_key=f"reviews.close:{campaign.pk}",
        )
    return {"defaulted": defaulted, "revokes": revokes}


def record_coverage(*, campaign: Campaign) -> int:
    """Count what the closed campaign reviewed per AWS account (CampaignCoverage), in one grouped read
    of its items; returns the number of accounts. close_campaign calls it in its transaction, once the
    defaults are in; it refuses an open campaign, whose counts could still change."""
    if campaign.status != CampaignStatus.CLOSED:
        raise ReviewError("Only a closed campaign's coverage can be recorded.")
    rows = (
        ReviewItem.objects.filter(campaign=campaign)
        .order_by()
        .values_list("aws_account_id")
        .annotate(items=Count("id"), undecided=Count("id", filter=Q(decision=Decision.NONE)))
    )
    coverage = [
        CampaignCoverage(campaign=campaign, aws_account_id=aws_id, items=items, undecided=undecided)
        for aws_id, items, undecided in rows
    ]
    CampaignCoverage.objects.bulk_create(coverage)
    return len(coverage)


def remind_and_escalate(*, now: Any = None) -> dict[str, int]:
    """Reminders to reviewers with undecided items (every `reminder_every_days`, once per cycle),
    and escalation of what is still undecided after `escalate_after_days` to the fallback."""
    from governance.notify.services import notify

    now = now or timezone.now()
    reminded = escalated = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.OPEN).select_related("template"):
        template = campaign.template
        age_days = (now - campaign.launched_at).days
        undecided = ReviewItem.objects.filter(campaign=campaign, decision=Decision.NONE, locked=False)
        if template.escalate_after_days and age_days >= template.escalate_after_days:
            fallback = template.fallback_reviewer.lower()
            with transaction.atomic():
                # Never the fallback's own access: they may not review it (no self-review), so it
                # stays with the reviewer it was routed to.
                moving = (
                    undecided.exclude(reviewer_email=fallback)
                    .exclude(principal_email=fallback)
                    .exclude(delegation_reason__startswith="Escalated")
                )
                rows = list(moving.select_for_update().values_list("id", "reviewer_email", "version"))
                if rows:
                    ReviewItem.objects.filter(pk__in=[r[0] for r in rows]).update(
                        reviewer_email=fallback,
                        delegated_from=F("reviewer_email"),
                        delegation_reason=f"Escalated: undecided {template.escalate_after_days} days after launch.",
                        version=F("version") + 1,
                    )
                    record_many(
                        actor=None,
                        action="reviews.item_escalated",
                        entries=[
                            {
                                "object_type": "reviews.reviewitem",
                                "object_id": pk,
                                "before": {"reviewer": old, "version": version},
                                "after": {"reviewer": fallback, "version": version + 1},
                            }
                            for pk, old, version in rows
                        ],
                    )
                    notify(
                        event="reviews.items_escalated",
                        recipients=[fallback],
                        context={"campaign": campaign.name, "count": len(rows)},
                        dedupe_key=f"reviews.escalate:{campaign.pk}",
                    )
                    escalated += len(rows)
        if template.reminder_every_days and age_days >= template.reminder_every_days:
            cycle = age_days // template.reminder_every_days
            waiting = sorted(set(undecided.order_by().values_list("reviewer_email", flat=True).distinct()))
            if waiting:
                reminded += len(
                    notify(
                        event="reviews.reminder",
                        recipients=waiting,
                        context={"campaign": campaign.name, "due": campaign.due_at.date()},
                        dedupe_key=f"reviews.remind:{campaign.pk}:{cycle}",
                    )
                )
    return {"reminded": reminded, "escalated": escalated}
