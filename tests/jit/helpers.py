"""Builders for JIT tests: permission sets, policies, extra Identity Center users, requests."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fixtures.personas import IDENTITY_STORE_ID, SSO_INSTANCE_ARN, _synced


@dataclass
class JitSetup:
    inv: object
    policy: object
    read_only: object
    admin: object
    prod: object  # payments-prod, under the Production OU
    dev: object  # payments-dev
    production_ou: object


def permission_set(name: str):
    from governance.inventory.models import PermissionSet

    arn = f"{SSO_INSTANCE_ARN.replace(':instance/', ':permissionSet/')}/ps-{name.lower()}"
    return PermissionSet.objects.create(instance_arn=SSO_INSTANCE_ARN, arn=arn, name=name, **_synced(arn))


def make_policy(*, grantor, requester_group, approver_group=None, sets=(), accounts=(), units=(), **fields):
    from governance.jit.models import EligibilityPolicy

    policy = EligibilityPolicy.objects.create(
        name=fields.pop("name", "payments"),
        requester_group=requester_group,
        approver_group=approver_group,
        grantor=grantor,
        **fields,
    )
    policy.permission_sets.set(sets)
    policy.accounts.set(accounts)
    policy.units.set(units)
    return policy


def add_sso_user(inv, key: str, *, groups=(), email=None):
    """An Identity Center user (and its group memberships) and the portal user linked to it."""
    from governance.authz.linking import LinkFacts
    from governance.authz.models import User
    from governance.authz.services import link_user
    from governance.inventory.models import GroupMembership, Principal, PrincipalKind

    arn = f"arn:aws:identitystore:::user/u-{key}"
    email = email or f"{key}@example.com"
    principal = Principal.objects.create(
        kind=PrincipalKind.SSO_USER,
        account=inv.governance_account,
        arn=arn,
        name=key,
        aws_id=f"u-{key}",
        identity_store_id=IDENTITY_STORE_ID,
        identity_store_principal_id=f"u-{key}",
        user_name=key,
        display_name=key,
        email=email,
        **_synced(arn),
    )
    for group in groups:
        GroupMembership.objects.create(
            group=inv.sso_groups[group],
            member=principal,
            account=inv.governance_account,
            **_synced(f"member:{group}:{key}"),
        )
    user = User.objects.create(username=key, email=email)
    link_user(user=user, facts=LinkFacts(provider="demo", verified_email=email))
    return user


def submit(jit, user, *, permission_set=None, account=None, minutes=60, justification="investigate INC-1", **kw):
    from governance.jit import services

    return services.submit_request(
        actor=user,
        policy=kw.pop("policy", jit.policy),
        account=account or jit.dev,
        permission_set=permission_set or jit.read_only,
        duration_minutes=minutes,
        justification=justification,
        **kw,
    )
