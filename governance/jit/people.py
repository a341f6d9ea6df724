"""Who the portal users behind a policy are: approvers to ask, owners, the administrators to alert.

Found from AWS facts only: Identity Center group memberships and permission-set assignments as the
last sync copied them, and the portal users linked to those Identity Center users.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.db.models.functions import Lower

from governance.authz.capabilities import ROLE_CAPABILITIES, Capability
from governance.authz.models import IdentityLink
from governance.authz.selectors import governance_account_id, role_map
from governance.inventory.models import AccountAssignment, GroupMembership, Principal, PrincipalKind


def _linked_users(principal_arns) -> QuerySet:
    links = IdentityLink.objects.linked().filter(principal_arn__in=principal_arns)
    return get_user_model().objects.filter(is_active=True, pk__in=links.values("user_id"))


def members_of(group: Principal | None) -> QuerySet:
    """Portal users linked to the members of an Identity Center group."""
    if group is None:
        return get_user_model().objects.none()
    arns = (
        GroupMembership.objects.present()
        .filter(group=group, member__removed_at__isnull=True)
        .values_list("member__arn", flat=True)
    )
    return _linked_users(list(arns))


def owners_of(account: Any) -> QuerySet:
    """Portal users whose e-mail is the account's `owner` tag."""
    owner = (account.owner or "").strip().lower()
    if not owner:
        return get_user_model().objects.none()
    return get_user_model().objects.filter(is_active=True).alias(lower=Lower("email")).filter(lower=owner)


def jit_admins() -> QuerySet:
    """Portal users holding `jit.admin` through a governance permission set (direct or by group)."""
    roles = {role for role, caps in ROLE_CAPABILITIES.items() if Capability.JIT_ADMIN in caps}
    set_names = [name for name, role in role_map().items() if role in roles]
    account = governance_account_id()
    if not set_names or not account:
        return get_user_model().objects.none()
    holders = AccountAssignment.objects.present().filter(
        aws_account_id=account, permission_set__name__in=set_names, permission_set__removed_at__isnull=True
    )
    direct = holders.filter(principal__kind=PrincipalKind.SSO_USER).values_list("principal__arn", flat=True)
    through = (
        GroupMembership.objects.present()
        .filter(group_id__in=holders.filter(principal__kind=PrincipalKind.SSO_GROUP).values("principal_id"))
        .values_list("member__arn", flat=True)
    )
    return _linked_users([*direct, *through])


def approvers_for(access_request: Any) -> list[Any]:
    """Everyone who may decide the request, the requester excepted."""
    from governance.jit.models import ApproverSource

    policy = access_request.policy
    people = (
        owners_of(access_request.account)
        if policy.approver_source == ApproverSource.ACCOUNT_OWNER
        else (members_of(policy.approver_group))
    )
    return list(people.exclude(pk=access_request.requester_id).order_by("username"))
