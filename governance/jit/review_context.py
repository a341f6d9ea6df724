"""What just-in-time access tells an access review: the reviews' provider (`governance.reviews.providers`).

At each launch, over the campaign's items and set-based (one UPDATE per distinct text):

- An Identity Center assignment that is a live just-in-time grant is not standing access: its item
  says so (`jit_grant`) and is recommended "keep" (it ends by itself), unless the grant is
  break-glass: then it is the after-the-fact review the policy promises, high risk, "review".
- A standing assignment that an enabled eligibility policy covers (its permission set on its
  account) is flagged "could be just-in-time" (`could_be_jit`) and the recommendation says so:
  "revoke" when its holder could request it (a user in the policy's requester group, or that group
  itself), "review" otherwise (the holder would first have to join the group).
- Grants in effect during the campaign's period (its quarter for `2026-Q4`, else the 90 days before
  launch) are listed (`jit_grants`) on the items of the grantee, and of the Identity Center groups
  the grantee belongs to, in the grant's account; break-glass uses among them raise the risk.

Break-glass uses also get a triggered review at once, whether or not an administrator made an
event-driven template: when such a grant is active, a sync is queued (`queue_break_glass_sync`), and
after each sync (`open_break_glass_reviews`) every break-glass grant that was active when the sync
began and whose assignment the sync saw (a short use that ended while it ran included) gets its own
small campaign, once: the template `jit-break-glass-<policy id>` (made on first use; its account
scope matches nothing, so it never launches by itself) launched on the grant's account for what is
new there since the grant was approved, the grant's assignment first. This provider marks its item
high risk, "review"; the reviewer is the account's owner, else the policy's grantor (never the
requester: the launch reroutes self-reviews).

A grant in the period whose account holds no item of the grantee or their groups is listed on the
grantee's items elsewhere in the campaign, so it is seen wherever the person is reviewed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from governance.inventory.models import GroupMembership, PrincipalKind
from governance.jit import selectors
from governance.jit.models import EligibilityPolicy, Grant, GrantStatus

SSO_ASSIGNMENT = "sso_assignment"  # governance.reviews.models.ItemKind.SSO_ASSIGNMENT
OTHER_PERIOD_DAYS = 90
BREAK_GLASS_NO_SCOPE = "none"
BREAK_GLASS_DUE_DAYS = 7
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")


def period_window(campaign: Any) -> tuple[datetime, datetime]:
    """[start, end] of the campaign's period: its quarter up to the launch, else the 90 days before it."""
    end = campaign.launched_at
    match = _QUARTER.fullmatch(campaign.period or "")
    if match:
        year, quarter = int(match.group(1)), int(match.group(2))
        start = end.replace(year=year, month=3 * (quarter - 1) + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
        if start < end:
            return start, end
    return end - timedelta(days=OTHER_PERIOD_DAYS), end


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def review_context(*, campaign: Any, items: QuerySet) -> None:
    from governance.reviews import providers

    assignments = items.filter(kind=SSO_ASSIGNMENT)
    grant_items = _mark_live_grants(assignments, providers)
    _flag_could_be_jit(assignments.exclude(pk__in=grant_items), providers)
    _list_period_grants(campaign, items, providers)


def _mark_live_grants(assignments: QuerySet, providers: Any) -> list[int]:
    """Items that are a live grant's assignment: marked, and their ids (they are not standing access)."""
    marked: list[int] = []
    grants = (
        Grant.objects.live()
        .filter(standing=False, provisioned_at__isnull=False)
        .select_related("account", "permission_set", "principal", "request")
        .prefetch_related("request__approvals")
    )
    # The accounts as a subquery: with no live grant it is never read (a campaign's million items).
    live = list(grants.filter(account__account_id__in=assignments.order_by().values("aws_account_id")))
    if not live:
        return marked
    # Every assignment item a live grant could be, read once: (account, principal, permission set) -> ids.
    wanted = {(g.account.account_id, g.principal.arn, g.permission_set.arn) for g in live}
    ids_of: dict[tuple[str, str, str], list[int]] = {}
    rows = assignments.filter(
        aws_account_id__in={a for a, _, _ in wanted}, principal_arn__in={p for _, p, _ in wanted}
    ).values_list("pk", "aws_account_id", "principal_arn", "target_arn")
    for pk, *key in rows:
        ids_of.setdefault(tuple(key), []).append(pk)
    for grant in live:
        ids = ids_of.get((grant.account.account_id, grant.principal.arn, grant.permission_set.arn))
        if not ids:
            continue
        marked += ids
        request = grant.request
        approvers = ", ".join(a.approver_name for a in request.approvals.all() if a.decision == "approve")
        chosen = assignments.filter(pk__in=ids)
        if request.break_glass:
            providers.merge_context(
                chosen,
                "jit_grant",
                f"Break-glass grant #{grant.pk}, self-approved by {request.requester_name}, until "
                f"{_when(grant.ends_at)}. Justification: {request.justification}",
            )
            providers.recommend(
                chosen,
                recommendation="review",
                reason=f"review: break-glass use by {request.requester_name} (self-approved), reviewed after the "
                f"fact; justification: {request.justification}",
                risk="high",
            )
            continue
        how = "approved automatically" if request.auto_approved else f"approved by {approvers or 'nobody'}"
        providers.merge_context(
            chosen,
            "jit_grant",
            f"Just-in-time grant #{grant.pk} (request #{request.pk}, {how}) until {_when(grant.ends_at)}.",
        )
        providers.recommend(
            chosen,
            recommendation="keep",
            reason=f"keep: a just-in-time grant that ends by itself at {_when(grant.ends_at)}",
        )
    return marked


def _flag_could_be_jit(assignments: QuerySet, providers: Any) -> None:
    if not EligibilityPolicy.objects.enabled().filter(break_glass=False).exists():
        return  # nothing could cover an assignment: the campaign's items need not be read
    rows = list(assignments.values_list("pk", "aws_account_id", "target_arn", "principal_arn"))
    covering = selectors.covering_policies(sorted({(account, arn) for _, account, arn, _ in rows}))
    if not covering:
        return
    policies = {
        p.name: p
        for p in EligibilityPolicy.objects.filter(
            name__in={n for names in covering.values() for n in names}
        ).select_related("requester_group")
    }
    holders = {principal for *_, principal in rows}
    groups_of = _groups_of(holders)
    by_text: dict[tuple[str, str], list[int]] = {}
    for pk, account, arn, holder in rows:
        names = covering.get((account, arn))
        if not names:
            continue
        groups = {policies[n].requester_group.arn: policies[n].requester_group.name for n in names}
        eligible = holder in groups or bool(groups.keys() & groups_of.get(holder, set()))
        listed = ", ".join(names)
        if eligible:
            key = ("revoke", f"revoke: could be just-in-time: {listed} lets the holder request it when needed")
        else:
            key = (
                "review",
                f"review: could be just-in-time under {listed}, once the holder is in "
                f"{', '.join(sorted(groups.values()))}",
            )
        by_text.setdefault(key, []).append(pk)
    for (recommendation, reason), pks in by_text.items():
        chosen = assignments.filter(pk__in=pks)
        providers.merge_context(chosen, "could_be_jit", reason.split(": ", 1)[1])
        providers.recommend(chosen, recommendation=recommendation, reason=reason)


def _groups_of(principal_arns: set[str]) -> dict[str, set[str]]:
    """{member ARN: ARNs of the Identity Center groups it belongs to}, as the last sync saw them."""
    found: dict[str, set[str]] = {}
    rows = GroupMembership.objects.present().filter(member__arn__in=sorted(principal_arns), group__removed_at=None)
    for member, group in rows.values_list("member__arn", "group__arn"):
        found.setdefault(member, set()).add(group)
    return found


def _list_period_grants(campaign: Any, items: QuerySet, providers: Any) -> None:
    start, end = period_window(campaign)
    account_ids = items.order_by().values("aws_account_id")  # a subquery, read only if grants exist
    holders = items.filter(principal_kind=PrincipalKind.SSO_USER).order_by().values("principal_arn")
    grants = selectors.grants_during(start, end, account_ids=account_ids, or_principal_arns=holders)
    if not grants:
        return
    groups_of = _groups_of({g.principal_arn for g in grants})
    # (account, holder ARN) -> the lines about the grants that holder's items should show.
    lines: dict[tuple[str, str], list[str]] = {}
    break_glass: set[tuple[str, str]] = set()
    for g in grants:
        how = "break-glass, self-approved" if g.break_glass else f"approved by {', '.join(g.approvers) or 'policy'}"
        line = f"#{g.grant_id} {g.requester}: {g.permission_set} {_when(g.starts_at)} to {_when(g.ends_at)} ({how})" + (
            f", ticket {g.ticket}" if g.ticket else ""
        )
        for holder in {g.principal_arn, *groups_of.get(g.principal_arn, set())}:
            lines.setdefault((g.account_id, holder), []).append(line)
            if g.break_glass:
                break_glass.add((g.account_id, holder))
    # Grants whose account holds no item of the grantee or their groups go on the grantee's items elsewhere.
    held = set(_holding(items, lines).order_by().values_list("aws_account_id", "principal_arn").distinct())
    elsewhere: dict[str, list[str]] = {}
    for g in grants:
        if not any((g.account_id, h) in held for h in {g.principal_arn, *groups_of.get(g.principal_arn, set())}):
            line = next(t for t in lines[(g.account_id, g.principal_arn)] if t.startswith(f"#{g.grant_id} "))
            elsewhere.setdefault(g.principal_arn, []).append(f"{line} on {g.account_id}")
    by_text: dict[str, list[tuple[str, str]]] = {}
    for key, found in lines.items():
        if key in held:
            by_text.setdefault("; ".join(found), []).append(key)
    for text, keys in by_text.items():
        providers.merge_context(_holding(items, keys), "jit_grants", f"Just-in-time grants in the period: {text}")
    for holder, found in elsewhere.items():
        providers.merge_context(
            items.filter(principal_arn=holder),
            "jit_grants_elsewhere",
            f"Just-in-time grants in the period on accounts where nothing else is reviewed: {'; '.join(found)}",
        )
    if break_glass:
        _holding(items, break_glass).exclude(risk="high").update(risk="high")
    bg_elsewhere = {g.principal_arn for g in grants if g.break_glass and g.principal_arn in elsewhere}
    if bg_elsewhere:
        items.filter(principal_arn__in=sorted(bg_elsewhere)).exclude(risk="high").update(risk="high")


def _holding(items: QuerySet, keys: Iterable[tuple[str, str]]) -> QuerySet:
    """The items held by these (account, principal ARN) pairs, as one query."""
    held = Q(pk__in=[])
    for account, holder in keys:
        held |= Q(aws_account_id=account, principal_arn=holder)
    return items.filter(held)


def queue_break_glass_sync(grant: Grant) -> None:
    """A break-glass grant is active: sync now, so the triggered reviews see it while AWS holds it."""
    from django.db import transaction

    from governance.inventory.models import SyncTrigger

    if grant.status != GrantStatus.ACTIVE or not grant.request.break_glass:
        return

    def queue() -> None:
        from django_q.tasks import async_task

        async_task(
            "governance.inventory.tasks.sync_org",
            trigger=SyncTrigger.PORTAL,
            task_name=f"jit.break_glass_sync.{grant.pk}",
        )

    transaction.on_commit(queue)


def break_glass_template(policy: EligibilityPolicy) -> Any:
    """The policy's after-the-fact review template, made on first use (the reviews app's launch runs it)."""
    from governance.reviews.models import CampaignTemplate, ReviewerRule, TriggerKind

    if not policy.grantor.email:
        raise ValueError(f"The grantor of {policy.name} has no e-mail address to review its break-glass uses.")
    template, _ = CampaignTemplate.objects.get_or_create(
        name=f"jit-break-glass-{policy.pk}",
        defaults={
            "description": f"After-the-fact review of each break-glass use under {policy.name}, launched by "
            "just-in-time access for the grant's account; the scope is given at each launch, so it never "
            "launches on its own.",
            # No account has this id: the after-sync trigger never finds anything new in scope.
            "scope_account_ids": [BREAK_GLASS_NO_SCOPE],
            "kinds": [SSO_ASSIGNMENT],
            "reviewer_rules": [ReviewerRule.ACCOUNT_OWNER],
            "fallback_reviewer": policy.grantor.email,
            "due_days": BREAK_GLASS_DUE_DAYS,
            "trigger": TriggerKind.EVENT,
        },
    )
    return template


def open_break_glass_reviews(*, run_id: int) -> dict[str, list[int]]:
    """After a sync: each break-glass grant active when it began, whose assignment it saw, gets its
    triggered review, once."""
    from governance.inventory.models import Account, AccountAssignment, SyncRun
    from governance.reviews import launch

    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or any((e or {}).get("scope") == "identity_center" for e in run.errors or []):
        return {"opened": []}
    # Active when the run began: a short use that ended while the sync read is reviewed too (the run
    # may still have seen its assignment; `seen` below says whether it did).
    grants = (
        Grant.objects.filter(request__break_glass=True, standing=False, provisioned_at__lt=run.started_at)
        .filter(Q(status__in=[GrantStatus.ACTIVE, GrantStatus.REVOKING]) | Q(revoked_at__gte=run.started_at))
        .select_related("policy__grantor", "account", "permission_set")
    )
    opened = []
    for grant in grants:
        seen = (
            AccountAssignment.objects.present()
            .filter(
                aws_account_id=grant.account.account_id,
                permission_set=grant.permission_set,
                principal_id=grant.principal_id,
            )
            .values_list("first_seen", flat=True)
            .first()
        )
        if seen is None:
            continue  # the sync did not find it: reconcile ends the grant, the period's campaign lists it
        result = launch.launch(
            template=break_glass_template(grant.policy),
            actor=None,
            period=f"break-glass-{grant.pk}",
            accounts=Account.objects.filter(pk=grant.account_id),
            new_since=min(seen, grant.approved_at),
        )
        if result.created:
            opened.append(result.campaign.pk)
    return {"opened": opened}
