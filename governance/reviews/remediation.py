"""Carrying out revokes in AWS, through the writer gate, and confirming them at the next sync.

Who acts: the campaign administrator who approved the remediation (campaigns in `approval`
mode) or who launched the campaign (`automatic`). The writer gate evaluates *that person's* own
permission sets on the target account, so they need a permission set there that allows the
write (in the demo, carla.campaign holds GovernanceAccessAdmin on the member accounts); when the
gate refuses, the item shows the reason and stays failed. Nothing
runs as an anonymous system identity: CloudTrail names a person for every revoke.

`manual` campaigns record a ticket reference instead of calling AWS. Failures are retried with
back-off (`due_items`, on a schedule) up to MAX_ATTEMPTS; `retry_failed` (an admin action) runs
them again at once. One AWS call per revoke, so a failed one changed nothing in AWS.
`verify_after_sync` marks an item verified once the inventory no longer holds what it revoked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from governance.audit.services import record, record_many
from governance.inventory.models import (
    AccessKey,
    AccountAssignment,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    PermissionSet,
    Principal,
)
from governance.reviews.models import (
    Campaign,
    Decision,
    ItemKind,
    RemediationMode,
    RemediationStatus,
    ReviewItem,
)

MAX_ATTEMPTS = 5


class RemediationError(ValueError):
    """A remediation that cannot be carried out as asked; nothing was written."""


# How a policy entitlement is revoked, by (item kind, how it is held): the IAM action the writer gate checks
# and the call, each client method named as it is (tests/deploy checks deploy/'s writer role against
# the methods the code names and the calls the suite makes).
_POLICY_REVOKES: dict[tuple[str, str], tuple[str, Callable[[Any, str, str], dict]]] = {
    (ItemKind.USER_POLICY, EntitlementVia.INLINE): (
        "iam:DeleteUserPolicy",
        lambda iam, user, policy_name: iam.delete_user_policy(UserName=user, PolicyName=policy_name),
    ),
    (ItemKind.USER_POLICY, EntitlementVia.DIRECT): (
        "iam:DetachUserPolicy",
        lambda iam, user, policy_arn: iam.detach_user_policy(UserName=user, PolicyArn=policy_arn),
    ),
    (ItemKind.ROLE_POLICY, EntitlementVia.INLINE): (
        "iam:DeleteRolePolicy",
        lambda iam, role, policy_name: iam.delete_role_policy(RoleName=role, PolicyName=policy_name),
    ),
    (ItemKind.ROLE_POLICY, EntitlementVia.DIRECT): (
        "iam:DetachRolePolicy",
        lambda iam, role, policy_arn: iam.detach_role_policy(RoleName=role, PolicyArn=policy_arn),
    ),
}


def _policy_action(kind: str, via: str) -> str:
    return _POLICY_REVOKES[(kind, via)][0]


# What revoking an item does in AWS, by kind: (the action, the action when the policy is inline).
# `_write_for` makes these calls (the policy ones as `_POLICY_REVOKES` names them); the evidence's
# items.csv names them (`remediation_action`). A role's trust is changed by hand.
ACTIONS: dict[str, tuple[str, str]] = {
    **{
        kind: (_policy_action(kind, EntitlementVia.DIRECT), _policy_action(kind, EntitlementVia.INLINE))
        for kind in (ItemKind.USER_POLICY, ItemKind.ROLE_POLICY)
    },
    ItemKind.GROUP_MEMBERSHIP: ("iam:RemoveUserFromGroup", ""),
    ItemKind.ACCESS_KEY: ("iam:UpdateAccessKey (Inactive)", ""),
    ItemKind.SSO_ASSIGNMENT: ("sso:DeleteAccountAssignment", ""),
    ItemKind.ROLE_TRUST: ("by hand: change the role's trust policy", ""),
}


def action_for(*, kind: str, via: str, decision: str) -> str:
    """The remediation a revoke of this item runs (empty for a kept or undecided item)."""
    if decision != Decision.REVOKE or kind not in ACTIONS:
        return ""
    action, inline = ACTIONS[kind]
    return inline if inline and via == "inline" else action


def queue_for_campaign(*, campaign: Campaign, actor: Any) -> int:
    """At close: every revoke gets its remediation status by the campaign's mode. Set-based.

    A role's trust is changed by hand in every mode, so its revokes wait for their ticket
    (`manual`) instead of failing at each attempt. An automatic campaign that no administrator
    launched (the schedule launched it) has nobody to act as: its revokes wait for an
    administrator's approval, who then acts, rather than failing until someone approves."""
    revokes = ReviewItem.objects.filter(campaign=campaign, decision=Decision.REVOKE, remediation_status="")
    by_hand = revokes.filter(kind=ItemKind.ROLE_TRUST).update(remediation_status=RemediationStatus.MANUAL)
    revokes = revokes.exclude(kind=ItemKind.ROLE_TRUST)
    if campaign.remediation_mode == RemediationMode.MANUAL:
        return by_hand + revokes.update(remediation_status=RemediationStatus.MANUAL)
    if campaign.remediation_mode == RemediationMode.APPROVAL or _acting_admin(campaign) is None:
        return by_hand + revokes.update(remediation_status=RemediationStatus.AWAITING_APPROVAL)
    count = revokes.update(remediation_status=RemediationStatus.PENDING, remediation_next_at=timezone.now())
    transaction.on_commit(lambda: _enqueue(campaign.pk))
    return by_hand + count


def approve(*, campaign: Campaign, actor: Any, request: Any = None) -> int:
    """An administrator approves the campaign's revokes: they run as that administrator."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.is_open:
            raise RemediationError("Close the campaign before approving its remediation.")
        waiting = ReviewItem.objects.filter(campaign=campaign, remediation_status=RemediationStatus.AWAITING_APPROVAL)
        count = waiting.update(remediation_status=RemediationStatus.PENDING, remediation_next_at=timezone.now())
        campaign.remediation_approved_at = timezone.now()
        campaign.remediation_approved_by = actor
        campaign.save(update_fields=["remediation_approved_at", "remediation_approved_by"])
        record(
            actor=actor, action="reviews.remediation_approved", obj=campaign, after={"items": count}, request=request
        )
        transaction.on_commit(lambda: _enqueue(campaign.pk))
    return count


def retry_failed(*, campaign: Campaign, actor: Any, request: Any = None) -> int:
    """An administrator retries the campaign's failed revokes now, including those that used up
    their automatic attempts: they run again as the approving administrator. Audited."""
    with transaction.atomic():
        failed = ReviewItem.objects.filter(campaign=campaign, remediation_status=RemediationStatus.FAILED)
        count = failed.update(
            remediation_status=RemediationStatus.PENDING, remediation_attempts=0, remediation_next_at=timezone.now()
        )
        if count:
            record(
                actor=actor, action="reviews.remediation_retried", obj=campaign, after={"items": count}, request=request
            )
            transaction.on_commit(lambda: _enqueue(campaign.pk))
    return count


def record_ticket(*, items: QuerySet, ticket: str, actor: Any, request: Any = None) -> int:
    """Manual campaigns' revokes, carried out by hand: the ticket reference they were done under,
    on every item of `items` or on none (each must be a manual remediation not yet verified).
    The items stay `manual` until the next sync finds the access gone (`verify_after_sync`)."""
    ticket = (ticket or "").strip()
    if not ticket:
        raise RemediationError("Give the ticket reference.")
    if len(ticket) > 128:
        raise RemediationError("A ticket reference is at most 128 characters.")
    with transaction.atomic():
        chosen = items.select_for_update().order_by("id")
        rows = list(chosen.values_list("id", "remediation_status", "remediation_ticket"))
        if not rows:
            raise RemediationError("Choose the items the ticket covers.")
        other = [pk for pk, status, _ in rows if status != RemediationStatus.MANUAL]
        if other:
            raise RemediationError(
                f"{len(other)} of the {len(rows)} items chosen are not manual remediations awaiting their ticket"
                f" (item {other[0]} first); nothing was recorded."
            )
        ReviewItem.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
            remediation_ticket=ticket, remediated_at=timezone.now()
        )
        record_many(
            actor=actor,
            action="reviews.remediation_ticket",
            request=request,
            entries=[
                {
                    "object_type": "reviews.reviewitem",
                    "object_id": pk,
                    "before": {"ticket": old},
                    "after": {"ticket": ticket},
                }
                for pk, _, old in rows
            ],
        )
    return len(rows)


def _enqueue(campaign_id: int) -> None:
    from django_q.tasks import async_task

    async_task("governance.reviews.tasks.remediate_campaign", campaign_id=campaign_id)


def _acting_admin(campaign: Campaign) -> Any:
    return campaign.remediation_approved_by or campaign.launched_by


def _write_for(item: ReviewItem) -> tuple[str, str, Any, str]:
    """(account id, IAM action, call(clients), resource ARN) that revokes the item."""
    name = item.principal_arn.rsplit("/", 1)[-1]
    if item.kind in (ItemKind.USER_POLICY, ItemKind.ROLE_POLICY):
        entitlement = Entitlement.objects.filter(pk=item.source_id).select_related("policy").first()
        if entitlement is None:
            raise RemediationError("The entitlement is no longer in the inventory.")
        how = _POLICY_REVOKES.get((item.kind, entitlement.via))
        if how is None:
            raise RemediationError(f"A policy held {entitlement.get_via_display().lower()} is not revoked here.")
        action, revoke = how
        policy = entitlement.policy.name if entitlement.via == EntitlementVia.INLINE else entitlement.policy.arn
        return (item.aws_account_id, action, lambda c: revoke(c("iam"), name, policy), item.principal_arn)
    if item.kind == ItemKind.GROUP_MEMBERSHIP:
        group = item.target_arn.rsplit("/", 1)[-1]
        return (
            item.aws_account_id,
            "iam:RemoveUserFromGroup",
            lambda c: c("iam").remove_user_from_group(GroupName=group, UserName=name),
            item.target_arn,
        )
    if item.kind == ItemKind.ACCESS_KEY:
        key_id = item.target_arn
        if not key_id:
            raise RemediationError("The inventory holds no id for this key; deactivate it in the console.")
        return (
            item.aws_account_id,
            "iam:UpdateAccessKey",
            lambda c: c("iam").update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive"),
            item.principal_arn,
        )
    if item.kind == ItemKind.SSO_ASSIGNMENT:
        assignment = AccountAssignment.objects.filter(pk=item.source_id).select_related("permission_set").first()
        if assignment is None:
            raise RemediationError("The assignment is no longer in the inventory.")
        permission_set: PermissionSet = assignment.permission_set
        params = {
            "InstanceArn": permission_set.instance_arn,
            "TargetId": assignment.aws_account_id,
            "TargetType": "AWS_ACCOUNT",
            "PermissionSetArn": permission_set.arn,
            "PrincipalType": assignment.principal_type,
            "PrincipalId": assignment.principal_aws_id,
        }
        from governance.authz.selectors import governance_account_id

        return (
            governance_account_id(),
            "sso:DeleteAccountAssignment",
            lambda c: c("sso-admin").delete_account_assignment(**params),
            permission_set.arn,
        )
    raise RemediationError("A role's trust is changed by hand: record the ticket.")


def remediate_item(*, item_id: int) -> str:
    """Run one pending revoke through the writer gate; idempotent (only pending/failed items run)."""
    from governance.authz.aws_writes import WriteRefusedError, perform_write
    from governance.aws.errors import AwsError, AwsNotFound

    with transaction.atomic():
        item = (
            ReviewItem.objects.select_for_update(skip_locked=True)
            .select_related("campaign")
            .filter(pk=item_id, remediation_status__in=[RemediationStatus.PENDING, RemediationStatus.FAILED])
            .first()
        )
        if item is None:
            return "skipped"
        actor = _acting_admin(item.campaign)
        item.remediation_attempts += 1
        try:
            if actor is None:
                raise RemediationError("No administrator launched or approved this campaign; approve it to run.")
            account_id, action, call, resource = _write_for(item)
            response = perform_write(
                actor=actor,
                action=action,
                resource=resource,
                account_id=account_id,
                call=call,
                before={"item": item.pk, "decision": item.decision},
            )
        except AwsNotFound:
            # Already gone in AWS: the revoke's goal holds; the next sync verifies it.
            item.remediation_status, item.remediated_at, item.remediation_error = (
                RemediationStatus.DONE,
                timezone.now(),
                "",
            )
        except (WriteRefusedError, RemediationError, AwsError) as exc:
            item.remediation_error = str(exc)[:2000]
            item.remediation_status = RemediationStatus.FAILED
            item.remediation_next_at = timezone.now() + timedelta(minutes=2 ** min(item.remediation_attempts, 8))
            item.remediation_request_id = getattr(exc, "request_id", "") or ""
        else:
            from governance.aws.writer import request_id

            item.remediation_status, item.remediated_at, item.remediation_error = (
                RemediationStatus.DONE,
                timezone.now(),
                "",
            )
            item.remediation_request_id = request_id(response or {})
        item.save(
            update_fields=[
                "remediation_status",
                "remediation_attempts",
                "remediation_error",
                "remediation_next_at",
                "remediation_request_id",
                "remediated_at",
            ]
        )
        record(
            actor=actor,
            action="reviews.remediation_" + ("done" if item.remediation_status == RemediationStatus.DONE else "failed"),
            obj=item,
            after={
                "status": item.remediation_status,
                "aws_request_id": item.remediation_request_id,
                "error": item.remediation_error,
                "attempt": item.remediation_attempts,
            },
        )
    return item.remediation_status


def due_items(*, campaign_id: int | None = None, limit: int = 500) -> list[int]:
    now = timezone.now()
    due = ReviewItem.objects.filter(
        Q(remediation_status=RemediationStatus.PENDING)
        | Q(
            remediation_status=RemediationStatus.FAILED,
            remediation_next_at__lte=now,
            remediation_attempts__lt=MAX_ATTEMPTS,
        )
    )
    if campaign_id is not None:
        due = due.filter(campaign_id=campaign_id)
    return list(due.order_by("id").values_list("id", flat=True)[:limit])


def verify_after_sync() -> int:
    """Mark revokes verified where the inventory no longer holds what they removed: those done
    through the writer gate, and a manual campaign's, done by hand."""
    done = ReviewItem.objects.filter(remediation_status__in=[RemediationStatus.DONE, RemediationStatus.MANUAL])
    verified = 0
    now = timezone.now()
    checks = {
        (ItemKind.USER_POLICY, ItemKind.ROLE_POLICY): Entitlement,
        (ItemKind.GROUP_MEMBERSHIP,): GroupMembership,
        (ItemKind.SSO_ASSIGNMENT,): AccountAssignment,
    }
    with transaction.atomic():
        for kinds, model in checks.items():
            candidates = done.filter(kind__in=kinds)
            still = model.objects.present().filter(pk__in=candidates.values("source_id")).values("pk")
            verified += candidates.exclude(source_id__in=still).update(
                remediation_status=RemediationStatus.VERIFIED, verified_at=now
            )
        # A trust revoke is done by hand; what the inventory can confirm is the role being gone.
        trusts = done.filter(kind=ItemKind.ROLE_TRUST)
        roles = Principal.objects.present().filter(pk__in=trusts.values("source_id")).values("pk")
        verified += trusts.exclude(source_id__in=roles).update(
            remediation_status=RemediationStatus.VERIFIED, verified_at=now
        )
        keys = done.filter(kind=ItemKind.ACCESS_KEY)
        active = AccessKey.objects.present().filter(pk__in=keys.values("source_id"), status="Active").values("pk")
        verified += keys.exclude(source_id__in=active).update(
            remediation_status=RemediationStatus.VERIFIED, verified_at=now
        )
        if verified:
            record(
                actor=None,
                action="reviews.remediation_verified",
                object_type="reviews.campaign",
                after={"items": verified},
            )
    return verified
