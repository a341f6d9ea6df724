"""What a person may request and who may decide it, from eligibility policies and AWS facts.

Requesting needs `jit.request` (membership of `JIT_REQUESTERS_GROUP`) and membership of the policy's
requester group; deciding needs `jit.approve` and, per policy, membership of its approver group or
the `owner` tag of the account. Group membership and ownership are what the last sync copied from
AWS (`capabilities(user)`), never what the identity provider says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from governance.authz.capabilities import Capability, capabilities
from governance.inventory.models import Account, OrganizationalUnit, PermissionSet
from governance.jit.models import AccessRequest, ApproverSource, EligibilityPolicy


@dataclass(frozen=True)
class Choice:
    """One thing a person may request: a permission set on an account under a policy."""

    policy: EligibilityPolicy
    account: Account
    permission_set: PermissionSet

    @property
    def value(self) -> str:
        return f"{self.policy.pk}:{self.account.pk}:{self.permission_set.pk}"

    @property
    def label(self) -> str:
        flag = " — break-glass" if self.policy.break_glass else ""
        return f"{self.permission_set.name} on {self.account.name} ({self.account.account_id}){flag}"


def policies_for_requester(user: Any) -> QuerySet:
    """Enabled policies whose requester group the user belongs to (in AWS)."""
    caps = capabilities(user)
    if not caps.has(Capability.JIT_REQUEST) or not caps.identity_center_group_arns:
        return EligibilityPolicy.objects.none()
    return EligibilityPolicy.objects.enabled().filter(
        requester_group__arn__in=sorted(caps.identity_center_group_arns), requester_group__removed_at__isnull=True
    )


def covered_accounts(policy: EligibilityPolicy) -> QuerySet:
    """Present, active accounts the policy names, directly or under one of its OUs."""
    paths = [u.path for u in policy.units.all()]
    under = Q(pk__in=[a.pk for a in policy.accounts.all()])
    for path in paths:
        under |= Q(parent__path__startswith=path)
    return Account.objects.present().filter(status="ACTIVE").filter(under).select_related("parent")


def choices_for(user: Any) -> list[Choice]:
    """Everything the user may request, in a stable order (policy, account, permission set)."""
    found: dict[str, Choice] = {}
    policies = policies_for_requester(user).prefetch_related("permission_sets", "accounts", "units")
    for policy in policies:
        sets = [s for s in policy.permission_sets.all() if s.removed_at is None]
        if not sets:
            continue
        for account in covered_accounts(policy):
            for permission_set in sets:
                choice = Choice(policy, account, permission_set)
                found.setdefault(choice.value, choice)
    return sorted(found.values(), key=lambda c: (c.policy.break_glass, c.account.name, c.permission_set.name))


def choice_for(user: Any, value: str) -> Choice | None:
    """The choice the user picked (a `Choice.value`), if they may still make it."""
    return next((c for c in choices_for(user) if c.value == value), None)


def choice_named(user: Any, policy_id: int, account_id: str, permission_set_arn: str) -> Choice | None:
    """The choice the API names by its AWS ids (policy, 12-digit account, permission set ARN), if open."""
    wanted = (policy_id, account_id, permission_set_arn)
    return next(
        (c for c in choices_for(user) if (c.policy.pk, c.account.account_id, c.permission_set.arn) == wanted), None
    )


def is_covered(policy: EligibilityPolicy, account: Account, permission_set: PermissionSet) -> bool:
    return (
        policy.permission_sets.filter(pk=permission_set.pk).exists()
        and covered_accounts(policy).filter(pk=account.pk).exists()
    )


def under_any(account: Account, units: list[OrganizationalUnit]) -> bool:
    path = account.parent.path if account.parent_id else ""
    return any(path.startswith(unit.path) for unit in units)


def auto_approves(policy: EligibilityPolicy, account: Account, permission_set: PermissionSet) -> bool:
    """The policy's auto-approval rule: a listed set, on an account under none of the excepted OUs."""
    if not policy.auto_approve_permission_sets.filter(pk=permission_set.pk).exists():
        return False
    return not under_any(account, list(policy.auto_approve_except_units.all()))


def may_decide(user: Any, access_request: AccessRequest) -> tuple[bool, str]:
    """Whether `user` may approve or deny the request, and why not."""
    caps = capabilities(user)
    if user.pk == access_request.requester_id or caps.identity_center_user_arn == access_request.principal.arn:
        return False, "Nobody decides their own request."
    if not caps.has(Capability.JIT_APPROVE):
        return False, "You may not approve just-in-time access."
    policy = access_request.policy
    if policy.approver_source == ApproverSource.ACCOUNT_OWNER:
        if caps.owns_account(access_request.account.account_id):
            return True, ""
        return False, f"Only the owner of {access_request.account.account_id} decides this request."
    group = policy.approver_group
    if group is not None and group.removed_at is None and group.arn in caps.identity_center_group_arns:
        return True, ""
    return False, "You are not in this request's approver group."


def decidable_filter(user: Any) -> Q | None:
    """A filter on AccessRequest for the requests `user` may decide (None: none at all)."""
    caps = capabilities(user)
    if not caps.has(Capability.JIT_APPROVE):
        return None
    routed = Q(
        policy__approver_source=ApproverSource.GROUP,
        policy__approver_group__arn__in=sorted(caps.identity_center_group_arns),
    )
    if caps.owned_account_ids:
        routed |= Q(
            policy__approver_source=ApproverSource.ACCOUNT_OWNER,
            account__account_id__in=sorted(caps.owned_account_ids),
        )
    mine = Q(requester_id=user.pk)
    if caps.identity_center_user_arn:
        mine |= Q(principal__arn=caps.identity_center_user_arn)
    return routed & ~mine
