"""Every state change of just-in-time access: one function each, audited in its own transaction.

Requests and approvals live here; what happens in AWS (creating and deleting the assignment) is in
`governance.jit.lifecycle`, queued after the commit as tasks that take ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit.services import record
from governance.authz.capabilities import Capability, capabilities
from governance.authz.selectors import linked_principal
from governance.inventory.models import AccountAssignment, GroupMembership
from governance.jit import eligibility, notices, people
from governance.jit.models import (
    LIVE_STATUSES,
    AccessRequest,
    Approval,
    ApproverSource,
    Decision,
    EligibilityPolicy,
    EndReason,
    Grant,
    GrantStatus,
    RequestKind,
    RequestStatus,
)

MIN_DURATION_MINUTES = 5
MAX_START_AHEAD = timedelta(days=30)
START_SKEW = timedelta(minutes=5)
MAX_JUSTIFICATION = 2000
BREAK_GLASS_MIN_JUSTIFICATION = 20
_TICKET = re.compile(r"[\w.:/#-]{1,128}")


class JitError(ValidationError):
    """A request, decision or change that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class DecisionOutcome:
    counted: bool  # False when this person's decision was already on the request
    status: str
    approvals: int
    required: int


def _request_repr(r: AccessRequest) -> dict:
    return {
        "kind": r.kind,
        "policy": r.policy.name,
        "requester": r.requester_name,
        "account_id": r.account.account_id,
        "permission_set": r.permission_set.name,
        "starts_at": r.starts_at,
        "duration_minutes": r.duration_minutes,
        "justification": r.justification,
        "ticket": r.ticket,
        "status": r.status,
        "extends": r.extends_id,
    }


def _grant_repr(g: Grant) -> dict:
    return {
        "request": g.request_id,
        "status": g.status,
        "account_id": g.account.account_id,
        "permission_set": g.permission_set.name,
        "principal": g.principal.arn,
        "starts_at": g.starts_at,
        "ends_at": g.ends_at,
        "end_reason": g.end_reason,
    }


def _clean_text(justification: str, ticket: str, *, break_glass: bool) -> tuple[str, str]:
    justification = (justification or "").strip()
    ticket = (ticket or "").strip()
    if not justification:
        raise JitError("Say why you need this access (a justification is required).")
    if len(justification) > MAX_JUSTIFICATION:
        raise JitError(f"The justification is too long ({len(justification)} > {MAX_JUSTIFICATION} characters).")
    if break_glass and len(justification) < BREAK_GLASS_MIN_JUSTIFICATION:
        raise JitError(
            f"Break-glass access needs a real justification (at least {BREAK_GLASS_MIN_JUSTIFICATION} characters): "
            "it is reviewed afterwards."
        )
    if ticket and not _TICKET.fullmatch(ticket):
        raise JitError("A ticket reference is up to 128 letters, digits or any of . : / # - _ (e.g. OPS-1234).")
    return justification, ticket


def _standing(principal: Any, account: Any, permission_set: Any) -> str:
    """How the requester already holds this set on this account ("" when they do not)."""
    groups = GroupMembership.objects.present().filter(member=principal).values("group_id")
    held = (
        AccountAssignment.objects.present()
        .filter(aws_account_id=account.account_id, permission_set=permission_set)
        .filter(Q(principal=principal) | Q(principal_id__in=groups))
        .select_related("principal")
        .first()
    )
    if held is None:
        return ""
    return "directly" if held.principal_id == principal.pk else f"through the group {held.principal.name}"


def _check_request(
    *, actor: Any, policy: EligibilityPolicy, account: Any, permission_set: Any, duration_minutes: int
) -> Any:
    """The requester's Identity Center user, once every eligibility rule holds; JitError otherwise."""
    principal = linked_principal(actor)
    if principal is None:
        raise JitError("You are not linked to an IAM Identity Center user, so there is nobody to grant access to.")
    if not policies_allow(actor, policy):
        raise JitError("You are not eligible under this policy (its requester group does not include you in AWS).")
    if not eligibility.is_covered(policy, account, permission_set):
        raise JitError(f"{policy.name} does not cover {permission_set.name} on {account.account_id}.")
    if not isinstance(duration_minutes, int) or duration_minutes < MIN_DURATION_MINUTES:
        raise JitError(f"Ask for at least {MIN_DURATION_MINUTES} minutes.")
    if duration_minutes > policy.max_duration_minutes:
        raise JitError(f"{policy.name} allows at most {policy.max_duration_minutes} minutes.")
    return principal


def policies_allow(actor: Any, policy: EligibilityPolicy) -> bool:
    return eligibility.policies_for_requester(actor).filter(pk=policy.pk).exists()


@transaction.atomic
def submit_request(
    *,
    actor: Any,
    policy: EligibilityPolicy,
    account: Any,
    permission_set: Any,
    duration_minutes: int,
    justification: str,
    ticket: str = "",
    starts_at: datetime | None = None,
    request: Any = None,
) -> AccessRequest:
    """Ask for a permission set on an account; break-glass and auto-approved requests are granted at once."""
    now = timezone.now()
    principal = _check_request(
        actor=actor, policy=policy, account=account, permission_set=permission_set, duration_minutes=duration_minutes
    )
    justification, ticket = _clean_text(justification, ticket, break_glass=policy.break_glass)
    starts_at = starts_at or now
    if starts_at < now - START_SKEW:
        raise JitError("The start is in the past; choose now or a later time.")
    if starts_at > now + MAX_START_AHEAD:
        raise JitError("Schedule the start at most 30 days ahead.")
    starts_at = max(starts_at, now)
    if how := _standing(principal, account, permission_set):
        raise JitError(f"You already hold {permission_set.name} on {account.account_id} {how}; nothing to request.")
    open_request = AccessRequest.objects.filter(
        principal=principal, account=account, permission_set=permission_set, status=RequestStatus.PENDING
    ).exists()
    live = Grant.objects.filter(
        principal=principal, account=account, permission_set=permission_set, status__in=LIVE_STATUSES
    ).exists()
    if open_request or live:
        raise JitError(
            f"You already have {'a pending request' if open_request else 'a grant'} for {permission_set.name} on "
            f"{account.account_id}; {'wait for its decision' if open_request else 'extend it instead'}."
        )
    access_request = AccessRequest.objects.create(
        kind=RequestKind.NEW,
        policy=policy,
        requester=actor,
        requester_name=actor.get_username(),
        principal=principal,
        account=account,
        permission_set=permission_set,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        justification=justification,
        ticket=ticket,
        approvals_required=policy.approvals_required,
        break_glass=policy.break_glass,
        created_at=now,
    )
    record(
        actor=actor,
        action="jit.request.submitted",
        obj=access_request,
        after=_request_repr(access_request),
        request=request,
    )
    _route(access_request, actor=actor, request=request, now=now)
    return access_request


def _route(access_request: AccessRequest, *, actor: Any, request: Any, now: datetime) -> None:
    """Approve a break-glass or auto-approved request now; otherwise ask its approvers."""
    policy = access_request.policy
    if policy.break_glass:
        Approval.objects.create(
            request=access_request,
            approver=actor,
            approver_name=actor.get_username(),
            decision=Decision.APPROVE,
            comment="break-glass: self-approved",
            created_at=now,
        )
        everyone = {u.pk: u for u in [*people.approvers_for(access_request), *people.jit_admins()]}
        record(
            actor=actor,
            action="jit.request.break_glass",
            obj=access_request,
            after={
                "self_approved_by": actor.get_username(),
                "justification": access_request.justification,
                "ticket": access_request.ticket,
                "notified": sorted(u.get_username() for u in everyone.values()),
            },
            request=request,
        )
        _approve(access_request, actor=actor, request=request, now=now, how="break_glass")
        notices.break_glass_used(access_request, list(everyone.values()))
        return
    if eligibility.auto_approves(policy, access_request.account, access_request.permission_set):
        access_request.auto_approved = True
        access_request.save(update_fields=["auto_approved"])
        _approve(access_request, actor=None, request=request, now=now, how="auto")
        return
    approvers = people.approvers_for(access_request)
    notices.approvers_asked(access_request, approvers)
    if not approvers:
        notices.admins_alerted_request(access_request, list(people.jit_admins()))


def _approve(access_request: AccessRequest, *, actor: Any, request: Any, now: datetime, how: str) -> Grant:
    """Mark the request approved and grant it (a new grant, or more time on the running one)."""
    access_request.status = RequestStatus.APPROVED
    access_request.decided_at = now
    access_request.save(update_fields=["status", "decided_at"])
    record(
        actor=actor,
        action="jit.request.approved",
        obj=access_request,
        after={"how": how, **_request_repr(access_request)},
        request=request,
    )
    if access_request.kind == RequestKind.EXTENSION:
        grant = Grant.objects.select_for_update().get(pk=access_request.extends_id)
        if not grant.is_live or grant.revoke_due_at is not None:
            raise JitError("The grant this extends has already ended; request new access instead.")
        before = {"ends_at": grant.ends_at}
        grant.ends_at = grant.ends_at + access_request.duration
        grant.save(update_fields=["ends_at"])
        record(
            actor=actor,
            action="jit.grant.extended",
            obj=grant,
            before=before,
            after={"ends_at": grant.ends_at, "request": access_request.pk},
            request=request,
        )
        from governance.jit import lifecycle

        lifecycle.schedule_expiry(grant)
        notices.requester_told(access_request, f"extended until {grant.ends_at:%Y-%m-%d %H:%M} UTC")
        return grant
    starts_at = max(access_request.starts_at, now)
    grant = Grant.objects.create(
        request=access_request,
        policy=access_request.policy,
        requester=access_request.requester,
        principal=access_request.principal,
        account=access_request.account,
        permission_set=access_request.permission_set,
        grantor=access_request.policy.grantor,
        status=GrantStatus.SCHEDULED,
        starts_at=starts_at,
        ends_at=starts_at + access_request.duration,
        approved_at=now,
        created_at=now,
    )
    record(actor=actor, action="jit.grant.scheduled", obj=grant, after=_grant_repr(grant), request=request)
    from governance.jit import lifecycle

    lifecycle.queue_start(grant, now=now)
    notices.requester_told(access_request, "approved")
    return grant


@transaction.atomic
def decide_request(
    *, actor: Any, access_request: AccessRequest, decision: str, comment: str = "", request: Any = None
) -> DecisionOutcome:
    """One person's approve or deny. The same person deciding twice counts once; enough distinct
    approvals grant exactly once (the request row is locked while its approvals are counted)."""
    if decision not in Decision.values:
        raise JitError("Choose approve or deny.")
    comment = (comment or "").strip()
    if len(comment) > MAX_JUSTIFICATION:
        raise JitError("The comment is too long.")
    locked = (
        AccessRequest.objects.select_for_update()
        .select_related("policy", "account", "permission_set", "principal")
        .get(pk=access_request.pk)
    )
    mine = Approval.objects.filter(request=locked, approver=actor).first()
    approvals = locked.approvals.filter(decision=Decision.APPROVE).count()
    if mine is not None:
        return DecisionOutcome(False, locked.status, approvals, locked.approvals_required)
    if locked.status != RequestStatus.PENDING:
        raise JitError(f"This request is already {locked.get_status_display().lower()}.")
    allowed, why = eligibility.may_decide(actor, locked)
    if not allowed:
        raise JitError(why)
    if decision == Decision.DENY and not comment:
        raise JitError("Say why you deny the request (a comment is required).")
    now = timezone.now()
    try:
        with transaction.atomic():
            Approval.objects.create(
                request=locked,
                approver=actor,
                approver_name=actor.get_username(),
                decision=decision,
                comment=comment,
                created_at=now,
            )
    except IntegrityError:
        return DecisionOutcome(False, locked.status, approvals, locked.approvals_required)
    record(
        actor=actor,
        action=f"jit.request.{'approval' if decision == Decision.APPROVE else 'denial'}",
        obj=locked,
        after={"decision": decision, "comment": comment},
        request=request,
    )
    if decision == Decision.DENY:
        locked.status = RequestStatus.DENIED
        locked.decided_at = now
        locked.save(update_fields=["status", "decided_at"])
        record(actor=actor, action="jit.request.denied", obj=locked, after=_request_repr(locked), request=request)
        notices.requester_told(locked, f"denied by {actor.get_username()}: {comment}")
        return DecisionOutcome(True, locked.status, approvals, locked.approvals_required)
    approvals += 1
    if approvals >= locked.approvals_required:
        _approve(locked, actor=actor, request=request, now=now, how="approvals")
    return DecisionOutcome(True, locked.status, approvals, locked.approvals_required)


@transaction.atomic
def cancel_request(*, actor: Any, access_request: AccessRequest, request: Any = None) -> AccessRequest:
    """The requester withdraws a request nobody has finished deciding."""
    locked = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
    if locked.requester_id != actor.pk:
        raise JitError("Only the requester can cancel a request.")
    if locked.status == RequestStatus.CANCELLED:
        return locked
    if locked.status != RequestStatus.PENDING:
        raise JitError(f"This request is already {locked.get_status_display().lower()}.")
    locked.status = RequestStatus.CANCELLED
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_at"])
    record(actor=actor, action="jit.request.cancelled", obj=locked, request=request)
    return locked


@transaction.atomic
def request_extension(
    *, actor: Any, grant: Grant, duration_minutes: int, justification: str, ticket: str = "", request: Any = None
) -> AccessRequest:
    """Ask for more time on a running grant; it is decided like a new request (approval again)."""
    now = timezone.now()
    locked = Grant.objects.select_for_update().select_related("policy", "account", "permission_set").get(pk=grant.pk)
    if locked.requester_id != actor.pk:
        raise JitError("Only the person holding the grant can ask to extend it.")
    if not locked.is_live or locked.revoke_due_at is not None:
        raise JitError("This grant has ended; request new access instead.")
    policy = locked.policy
    if not policy.enabled:
        raise JitError(f"{policy.name} is disabled; nothing under it can be extended.")
    principal = _check_request(
        actor=actor,
        policy=policy,
        account=locked.account,
        permission_set=locked.permission_set,
        duration_minutes=duration_minutes,
    )
    justification, ticket = _clean_text(justification, ticket, break_glass=policy.break_glass)
    if (locked.ends_at + timedelta(minutes=duration_minutes)) - max(now, locked.starts_at) > policy.max_duration:
        raise JitError(
            f"With this extension the grant would run longer than {policy.name}'s "
            f"{policy.max_duration_minutes} minutes from now."
        )
    if AccessRequest.objects.filter(extends=locked, status=RequestStatus.PENDING).exists():
        raise JitError("An extension of this grant is already waiting for a decision.")
    extension = AccessRequest.objects.create(
        kind=RequestKind.EXTENSION,
        policy=policy,
        requester=actor,
        requester_name=actor.get_username(),
        principal=principal,
        account=locked.account,
        permission_set=locked.permission_set,
        starts_at=locked.ends_at,
        duration_minutes=duration_minutes,
        justification=justification,
        ticket=ticket,
        extends=locked,
        approvals_required=policy.approvals_required,
        break_glass=policy.break_glass,
        created_at=now,
    )
    record(actor=actor, action="jit.request.submitted", obj=extension, after=_request_repr(extension), request=request)
    _route(extension, actor=actor, request=request, now=now)
    return extension


@transaction.atomic
def end_grant(*, actor: Any, grant: Grant, request: Any = None) -> Grant:
    """End a grant now (the requester, or a JIT administrator); its assignment is deleted right after."""
    locked = Grant.objects.select_for_update().select_related("account", "permission_set", "principal").get(pk=grant.pk)
    if locked.requester_id != actor.pk and not capabilities(actor).has(Capability.JIT_ADMIN):
        raise JitError("Only the person holding the grant or a JIT administrator can end it.")
    if not locked.is_live or locked.revoke_due_at is not None:
        return locked
    now = timezone.now()
    before = _grant_repr(locked)
    locked.ends_at = min(locked.ends_at, max(now, locked.starts_at + timedelta(seconds=1)))
    locked.end_reason = EndReason.ENDED_EARLY
    locked.ended_by_name = actor.get_username()
    fields = ["ends_at", "end_reason", "ended_by_name"]
    if locked.requester_id != actor.pk:
        locked.revoke_as = actor
        fields.append("revoke_as")
    if locked.status == GrantStatus.SCHEDULED:
        locked.status = GrantStatus.ENDED
        locked.end_reason = EndReason.NEVER_GRANTED
        locked.revoked_at = now
        fields += ["status", "revoked_at"]
    else:
        locked.revoke_due_at = now
        fields.append("revoke_due_at")
    locked.save(update_fields=fields)
    record(
        actor=actor,
        action="jit.grant.ended_early",
        obj=locked,
        before=before,
        after=_grant_repr(locked),
        request=request,
    )
    if locked.status != GrantStatus.ENDED:
        from governance.jit import lifecycle

        lifecycle.queue_revoke(locked)
    return locked


@transaction.atomic
def retry_grants(*, actor: Any, grants: Any, request: Any = None) -> int:
    """An administrator asks for the backed-off AWS operations of these grants to run now (the next
    tick queues them); how many were waiting."""
    if not capabilities(actor).has(Capability.JIT_ADMIN):
        raise JitError("Only a JIT administrator can retry grants.")
    waiting = list(
        Grant.objects.select_for_update()
        .filter(pk__in=[g.pk for g in grants], status__in=[GrantStatus.PROVISIONING, GrantStatus.REVOKING])
        .order_by("pk")
    )
    for grant in waiting:
        before = {"next_attempt_at": grant.next_attempt_at, "attempts": grant.attempts, "last_error": grant.last_error}
        grant.next_attempt_at = None
        grant.save(update_fields=["next_attempt_at"])
        record(
            actor=actor,
            action="jit.grant.retry_requested",
            obj=grant,
            before=before,
            after={"status": grant.status, "next_attempt_at": None},
            request=request,
        )
    return len(waiting)


def grantor_refusal(*, actor: Any, permission_sets: list[Any]) -> str:
    """Why `actor` cannot back a policy's grants ("" when they can): AWS must let them create and
    delete these assignments themselves, as the writer gate will check at every grant."""
    from governance.authz.aws_writes import check_write
    from governance.authz.selectors import governance_account_id

    account_id = governance_account_id()
    for permission_set in permission_sets:
        for action in ("sso:CreateAccountAssignment", "sso:DeleteAccountAssignment"):
            check = check_write(actor=actor, action=action, resource=permission_set.arn, account_id=account_id)
            if not check.allowed:
                return check.reason
    return ""


def _policy_repr(policy: EligibilityPolicy) -> dict:
    return {
        "name": policy.name,
        "enabled": policy.enabled,
        "permission_sets": sorted(s.name for s in policy.permission_sets.all()),
        "accounts": sorted(a.account_id for a in policy.accounts.all()),
        "units": sorted(u.ou_id for u in policy.units.all()),
        "requester_group": policy.requester_group.name,
        "max_duration_minutes": policy.max_duration_minutes,
        "approvals_required": policy.approvals_required,
        "approver_source": policy.approver_source,
        "approver_group": policy.approver_group.name if policy.approver_group else "",
        "auto_approve_permission_sets": sorted(s.name for s in policy.auto_approve_permission_sets.all()),
        "auto_approve_except_units": sorted(u.ou_id for u in policy.auto_approve_except_units.all()),
        "break_glass": policy.break_glass,
        "grantor": policy.grantor.get_username(),
    }


@transaction.atomic
def create_policy(
    *,
    actor: Any,
    grantor: Any,
    name: str,
    requester_group: Any,
    permission_sets: Sequence[Any],
    accounts: Sequence[Any] = (),
    units: Sequence[Any] = (),
    approver_group: Any = None,
    auto_approve_permission_sets: Sequence[Any] = (),
    auto_approve_except_units: Sequence[Any] = (),
    request: Any = None,
    **fields: Any,
) -> EligibilityPolicy:
    """Create an eligibility policy outside the admin (the demo's seed), under the admin form's rules:
    something to request somewhere, approvers named unless break-glass, auto-approval only of covered
    sets, and a grantor whose own AWS permissions allow the grants."""
    break_glass = bool(fields.get("break_glass"))
    if not permission_sets:
        raise JitError("Name at least one permission set that the policy covers.")
    if not accounts and not units:
        raise JitError("Name at least one account or OU that the policy covers.")
    source = fields.get("approver_source", ApproverSource.GROUP)
    if source == ApproverSource.GROUP and approver_group is None and not break_glass:
        raise JitError("Name the Identity Center group whose members approve.")
    if set(auto_approve_permission_sets) - set(permission_sets):
        raise JitError("Auto-approve only sets the policy covers.")
    if refusal := grantor_refusal(actor=grantor, permission_sets=list(permission_sets)):
        raise JitError(f"{grantor.get_username()} cannot back this policy's grants: {refusal}")
    policy = EligibilityPolicy(
        name=name, requester_group=requester_group, approver_group=approver_group, grantor=grantor, **fields
    )
    policy.full_clean(exclude=["permission_sets", "accounts", "units"])
    policy.save()
    policy.permission_sets.set(permission_sets)
    policy.accounts.set(accounts)
    policy.units.set(units)
    policy.auto_approve_permission_sets.set(auto_approve_permission_sets)
    policy.auto_approve_except_units.set(auto_approve_except_units)
    policy_saved(actor=actor, policy=policy, created=True, before=None, request=request)
    return policy


def policy_saved(
    *, actor: Any, policy: EligibilityPolicy, created: bool, before: dict | None, request: Any = None
) -> None:
    """Audit a policy the admin created or changed (called once its relations are saved, in the
    admin's transaction)."""
    record(
        actor=actor,
        action="jit.policy.created" if created else "jit.policy.changed",
        obj=policy,
        before=before,
        after=_policy_repr(policy),
        request=request,
    )
