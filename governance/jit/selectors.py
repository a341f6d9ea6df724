"""Reads over just-in-time access, scoped to who asks; and what other apps may read of it.

A requester sees their own requests and grants; an approver the requests routed to them (and those
they decided); JIT administrators and auditors (`jit.admin`, `audit.view`) every grant. Other apps
read through `grants_during` and `covering_policies` (access reviews), never the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from governance.authz.capabilities import Capability, capabilities
from governance.inventory.pagination import Page, paginate
from governance.jit import eligibility
from governance.jit.models import (
    AccessRequest,
    Approval,
    EligibilityPolicy,
    Grant,
    GrantStatus,
    RequestStatus,
)

PER_PAGE = 50
_REQUEST_RELATED = ("policy", "account", "permission_set", "principal", "extends")
_GRANT_RELATED = ("account", "permission_set", "requester", "request", "policy")


def _requests() -> QuerySet:
    return AccessRequest.objects.select_related(*_REQUEST_RELATED)


def my_requests(user: Any, *, after: str = "", before: str = "") -> Page:
    rows = _requests().filter(requester=user).prefetch_related("approvals")
    page = paginate(rows, order=("-id",), after=after, before=before, per_page=PER_PAGE)
    grants = {g.request_id: g for g in Grant.objects.filter(request__in=[r.pk for r in page.items])}
    for r in page.items:
        r.the_grant = r.extends if r.extends_id else grants.get(r.pk)
    return page


def request_for_requester_or_404(user: Any, request_id: int) -> AccessRequest:
    found = _requests().filter(requester=user, pk=request_id).prefetch_related("approvals").first()
    if found is None:
        raise Http404("No such request of yours.")
    return found


def inbox(user: Any) -> list[AccessRequest]:
    """Pending requests the user may decide and has not decided yet, oldest first."""
    routed = eligibility.decidable_filter(user)
    if routed is None:
        return []
    decided = Approval.objects.filter(request=OuterRef("pk"), approver=user)
    rows = _requests().pending().filter(routed).exclude(Exists(decided)).prefetch_related("approvals")
    return list(rows.order_by("created_at", "id")[:200])


def recently_decided(user: Any, limit: int = 20) -> list[Approval]:
    return list(
        Approval.objects.filter(approver=user)
        .select_related("request__account", "request__permission_set")
        .order_by("-created_at", "-id")[:limit]
    )


def request_for_approver_or_404(user: Any, request_id: int) -> AccessRequest:
    """A request routed to the user (pending or not), or one they decided."""
    routed = eligibility.decidable_filter(user)
    mine = Q(approvals__approver=user)
    found = _requests().filter(mine | routed if routed is not None else mine, pk=request_id)
    found = found.prefetch_related("approvals").distinct().first()
    if found is None:
        raise Http404("No such request for you to decide.")
    return found


def sees_all_grants(user: Any) -> bool:
    return capabilities(user).has_any(Capability.JIT_ADMIN, Capability.AUDIT_VIEW)


def visible_grants(user: Any) -> QuerySet:
    """Grants of any status the user may see: their own, or every one for administrators and
    auditors (as the grants and history pages scope them)."""
    rows = Grant.objects.select_related(*_GRANT_RELATED, "principal")
    if not sees_all_grants(user):
        rows = rows.filter(requester=user)
    return rows


def with_extension_pending(rows: QuerySet) -> QuerySet:
    """Annotate `extension_pending`: an extension of the grant is waiting for a decision."""
    waiting = AccessRequest.objects.filter(extends=OuterRef("pk"), status=RequestStatus.PENDING)
    return rows.annotate(extension_pending=Exists(waiting))


def active_grants(user: Any) -> list[Grant]:
    """Live grants: the user's own, or every one for administrators and auditors; ending soonest first."""
    return list(visible_grants(user).live().order_by("ends_at", "id")[:500])


def grant_for_viewer_or_404(user: Any, grant_id: int) -> Grant:
    found = with_extension_pending(visible_grants(user)).filter(pk=grant_id).first()
    if found is None:
        raise Http404("No such grant within your reach.")
    return found


def grant_for_holder_or_404(user: Any, grant_id: int) -> Grant:
    found = Grant.objects.select_related(*_GRANT_RELATED).filter(requester=user, pk=grant_id).first()
    if found is None:
        raise Http404("No such grant of yours.")
    return found


def history(
    user: Any, *, status: str = "", account: str = "", requester: str = "", after: str = "", before: str = ""
) -> Page:
    """Every grant (administrators and auditors), newest first, filtered."""
    rows = visible_grants(user)
    if status in GrantStatus.values:
        rows = rows.filter(status=status)
    if account:
        rows = rows.filter(account__account_id=account)
    if requester:
        rows = rows.filter(requester__username=requester)
    return paginate(rows, order=("-id",), after=after, before=before, per_page=PER_PAGE)


def dashboard_card(request: Any) -> dict | None:
    caps = capabilities(request.user)
    if not caps.has_any(Capability.JIT_REQUEST, Capability.JIT_APPROVE, Capability.JIT_ADMIN):
        return None
    waiting = len(inbox(request.user)) if caps.has(Capability.JIT_APPROVE) else None
    mine = Grant.objects.live().filter(requester=request.user).count()
    pending = AccessRequest.objects.pending().filter(requester=request.user).count()
    return {"waiting": waiting, "mine": mine, "pending": pending, "can_request": caps.has(Capability.JIT_REQUEST)}


# For other apps (access reviews) ----------------------------------------------------------------


@dataclass(frozen=True)
class GrantRecord:
    """A just-in-time grant as a review shows it."""

    grant_id: int
    requester: str
    principal_arn: str
    account_id: str
    permission_set: str
    permission_set_arn: str
    starts_at: datetime
    ends_at: datetime
    status: str
    break_glass: bool
    justification: str
    ticket: str
    approvers: tuple[str, ...]


def grants_during(
    start: datetime, end: datetime, *, account_ids: Any = None, or_principal_arns: Any = None
) -> list[GrantRecord]:
    """Grants that were in effect at any time in [start, end] (ever provisioned), oldest first; with
    `account_ids`, those on these accounts, and (`or_principal_arns`) those of these principals on
    any account; either may be a list or a subquery."""
    rows = (
        Grant.objects.filter(starts_at__lt=end, ends_at__gt=start, provisioned_at__isnull=False)
        .select_related("account", "permission_set", "principal", "requester", "request")
        .prefetch_related("request__approvals")
        .order_by("starts_at", "id")
    )
    if account_ids is not None:
        wanted = Q(account__account_id__in=account_ids)
        if or_principal_arns is not None:
            wanted |= Q(principal__arn__in=or_principal_arns)
        rows = rows.filter(wanted)
    return [
        GrantRecord(
            grant_id=g.pk,
            requester=g.requester.get_username(),
            principal_arn=g.principal.arn,
            account_id=g.account.account_id,
            permission_set=g.permission_set.name,
            permission_set_arn=g.permission_set.arn,
            starts_at=g.starts_at,
            ends_at=min(g.ends_at, g.revoked_at) if g.revoked_at else g.ends_at,
            status=g.status,
            break_glass=g.request.break_glass,
            justification=g.request.justification,
            ticket=g.request.ticket,
            approvers=tuple(a.approver_name for a in g.request.approvals.all() if a.decision == "approve"),
        )
        for g in rows
    ]


def covering_policies(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """For (account id, permission set ARN) pairs, the names of enabled, non-break-glass policies
    that would let someone request that set on that account just in time ("could be JIT")."""
    found: dict[tuple[str, str], list[str]] = {}
    if not pairs:
        return found
    wanted = set(pairs)
    policies = (
        EligibilityPolicy.objects.enabled()
        .filter(break_glass=False, permission_sets__arn__in={arn for _, arn in wanted})
        .distinct()
        .prefetch_related("permission_sets", "accounts", "units")
    )
    for policy in policies:
        arns = {s.arn for s in policy.permission_sets.all()}
        accounts = set(eligibility.covered_accounts(policy).values_list("account_id", flat=True))
        for pair in wanted:
            if pair[0] in accounts and pair[1] in arns:
                found.setdefault(pair, []).append(policy.name)
    return found


def time_left_seconds(grant: Grant, now: datetime | None = None) -> int:
    return max(0, int((grant.ends_at - (now or timezone.now())).total_seconds()))
