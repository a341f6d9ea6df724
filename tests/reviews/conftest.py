"""A small inventory for reviews: the personas' rows plus entitlements with known risk context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID, OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS, _synced

FALLBACK = "sam.security@example.com"


@dataclass
class ReviewInventory:
    inventory: object
    admin_policy: object
    read_policy: object
    deploy_user: object
    old_key: object
    rick_assignment: object
    maria_assignment: object


def build_review_inventory(inventory) -> ReviewInventory:
    from governance.inventory.models import (
        AccessKey,
        AccountAssignment,
        Entitlement,
        EntitlementVia,
        PermissionSet,
        Policy,
        PolicyKind,
        Principal,
        PrincipalKind,
    )

    now = timezone.now()
    owned = inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    other = inventory.accounts[OTHER_ACCOUNT_ID]
    admin_policy = Policy.objects.create(
        kind=PolicyKind.AWS_MANAGED,
        arn="arn:aws:iam::aws:policy/AdministratorAccess",
        name="AdministratorAccess",
        admin_access="full",
        **_synced("policy:admin"),
    )
    read_policy = Policy.objects.create(
        kind=PolicyKind.AWS_MANAGED, arn="arn:aws:iam::aws:policy/ReadOnlyAccess", name="ReadOnlyAccess",
        **_synced("policy:read"),
    )  # fmt: skip
    # The manager's role (owner tag: maria), used yesterday, holding admin and read.
    role = inventory.manager_role
    Principal.objects.filter(pk=role.pk).update(
        last_used=now - timedelta(days=1), created=now - timedelta(days=400), trust_policy={"Statement": []}
    )
    for policy in (admin_policy, read_policy):
        Entitlement.objects.create(
            principal=role, policy=policy, via=EntitlementVia.DIRECT, account=other, **_synced(f"ent:{policy.name}")
        )
    # A deploy user in an account maria owns, with a key unused for 212 days.
    deploy_user = Principal.objects.create(
        kind=PrincipalKind.IAM_USER,
        account=owned,
        arn=f"arn:aws:iam::{owned.account_id}:user/deploy",
        name="deploy",
        created=now - timedelta(days=500),
        **_synced("user:deploy"),
    )
    Entitlement.objects.create(
        principal=deploy_user, policy=read_policy, via=EntitlementVia.DIRECT, account=owned, **_synced("ent:deploy")
    )
    old_key = AccessKey.objects.create(
        principal=deploy_user,
        account=owned,
        slot=1,
        access_key_id="AKIAEXAMPLE000000001",
        status="Active",
        created=now - timedelta(days=600),
        last_used_date=now - timedelta(days=212),
        **_synced("key:deploy:1"),
    )
    # Identity Center: rick reports to maria; both hold a permission set on an owned account.
    users = inventory.sso_users
    Principal.objects.filter(pk=users["requester"].pk).update(
        manager=users["manager"], manager_user_id=users["manager"].aws_id
    )
    admin_set = PermissionSet.objects.create(
        instance_arn="arn:aws:sso:::instance/ssoins-1234567890abcdef",
        arn="arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-admin",
        name="AdministratorAccess",
        **_synced("ps:admin"),
    )
    from governance.inventory.models import PermissionSetPolicy

    PermissionSetPolicy.objects.create(permission_set=admin_set, policy=admin_policy, **_synced("psp:admin"))

    def assign(persona: str) -> object:
        user = users[persona]
        return AccountAssignment.objects.create(
            permission_set=admin_set, account=owned, aws_account_id=owned.account_id, principal=user,
            principal_type="USER", principal_aws_id=user.aws_id, **_synced(f"assign:admin:{persona}"),
        )  # fmt: skip

    return ReviewInventory(
        inventory=inventory,
        admin_policy=admin_policy,
        read_policy=read_policy,
        deploy_user=deploy_user,
        old_key=old_key,
        rick_assignment=assign("requester"),
        maria_assignment=assign("manager"),
    )


@pytest.fixture
def review_inventory(persona_inventory) -> ReviewInventory:
    return build_review_inventory(persona_inventory)


@pytest.fixture
def template(db):
    from governance.reviews.models import CampaignTemplate

    return CampaignTemplate.objects.create(name="quarterly-test", fallback_reviewer=FALLBACK)


@pytest.fixture
def campaign(review_inventory, personas, template):
    from governance.reviews.launch import launch

    return launch(template=template, actor=personas["campaign_admin"], period="2026-Q4").campaign


__all__ = ["FALLBACK", "GOVERNANCE_ACCOUNT_ID"]
