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


def _matrix_policy(inv):
    """A policy routing to the account owner, so the manager persona is an approver of its requests."""
    from governance.authz.models import User
    from governance.jit.models import ApproverSource, EligibilityPolicy
    from tests.fixtures.personas import OWNED_ACCOUNT_IDS

    existing = EligibilityPolicy.objects.filter(name="matrix-sample").first()
    if existing is not None:
        return existing
    read_only = permission_set("MatrixReadOnly")
    return make_policy(
        name="matrix-sample",
        grantor=User.objects.get(username="carla.campaign"),
        requester_group=inv.sso_groups["jit-requesters"],
        approver_source=ApproverSource.ACCOUNT_OWNER,
        sets=[read_only],
        accounts=[inv.accounts[OWNED_ACCOUNT_IDS[0]]],
    )


def matrix_request(inv):
    """The requester's pending request on an account the manager owns (authorization matrix sample)."""
    from django.utils import timezone

    from governance.authz.models import User
    from governance.jit.models import AccessRequest

    policy = _matrix_policy(inv)
    found = AccessRequest.objects.filter(policy=policy).first()
    if found is not None:
        return found
    now = timezone.now()
    return AccessRequest.objects.create(
        policy=policy,
        requester=User.objects.get(username="rick.requester"),
        requester_name="rick.requester",
        principal=inv.sso_users["requester"],
        account=policy.accounts.get(),
        permission_set=policy.permission_sets.get(),
        starts_at=now,
        duration_minutes=60,
        justification="matrix",
        approvals_required=1,
        created_at=now,
    )


def matrix_grant(inv):
    """The requester's active grant (authorization matrix sample)."""
    from datetime import timedelta

    from django.utils import timezone

    from governance.jit.models import Grant, GrantStatus, RequestStatus

    access_request = matrix_request(inv)
    found = Grant.objects.filter(request=access_request).first()
    if found is not None:
        return found
    access_request.status = RequestStatus.APPROVED
    access_request.save(update_fields=["status"])
    now = timezone.now()
    return Grant.objects.create(
        request=access_request,
        policy=access_request.policy,
        requester=access_request.requester,
        principal=access_request.principal,
        account=access_request.account,
        permission_set=access_request.permission_set,
        grantor=access_request.policy.grantor,
        status=GrantStatus.ACTIVE,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        approved_at=now,
        provisioned_at=now,
        created_at=now,
    )


ASSIGNMENTS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Assign",
            "Effect": "Allow",
            "Action": ["sso:CreateAccountAssignment", "sso:DeleteAccountAssignment"],
            "Resource": "*",
        }
    ],
}


def give_assignment_rights(jit) -> None:
    """GovernanceAccessAdmin as the demo defines it: it may create and delete account assignments."""
    from governance.inventory.models import PermissionSet, Policy, PolicyKind
    from governance.inventory.models.identity_center import BoundaryType

    permission_set = jit.inv.permission_sets["GovernanceAccessAdmin"]
    PermissionSet.objects.filter(pk=permission_set.pk).update(boundary_type=BoundaryType.NONE)
    Policy.objects.create(
        kind=PolicyKind.PERMISSION_SET_INLINE,
        arn=f"{permission_set.arn}#inline",
        name="inline",
        permission_set=permission_set,
        document=ASSIGNMENTS,
        **_synced("inline:access-admin"),
    )
