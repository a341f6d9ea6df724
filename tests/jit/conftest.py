"""JIT fixtures: permission sets and accounts to request, a policy, and a second approver.

Over `persona_inventory` (the rows behind the personas' rights): `jit` adds two permission sets on
the Identity Center instance, a Production OU holding payments-prod, and a policy letting
jit-requesters ask for them on the manager's two accounts, approved by jit-approvers, backed by the
campaign admin (who holds GovernanceAccessAdmin).
"""

from __future__ import annotations

import pytest

from tests.fixtures.personas import OWNED_ACCOUNT_IDS, _synced
from tests.jit.helpers import JitSetup, add_sso_user, make_policy, permission_set


@pytest.fixture
def jit(personas, persona_inventory) -> JitSetup:
    from governance.inventory.models import OrganizationalUnit

    inv = persona_inventory
    root = OrganizationalUnit.objects.get(is_root=True)
    production = OrganizationalUnit.objects.create(
        organization=inv.organization,
        ou_id="ou-demo-prod",
        arn="arn:ou-prod",
        name="Production",
        parent=root,
        path=f"{root.path}ou-demo-prod/",
        depth=1,
        **_synced("ou-prod"),
    )
    prod = inv.accounts[OWNED_ACCOUNT_IDS[0]]
    prod.parent = production
    prod.save(update_fields=["parent"])
    dev = inv.accounts[OWNED_ACCOUNT_IDS[1]]
    read_only, admin = permission_set("ReadOnlyAccess"), permission_set("AdministratorAccess")
    policy = make_policy(
        grantor=personas["campaign_admin"],
        requester_group=inv.sso_groups["jit-requesters"],
        approver_group=inv.sso_groups["jit-approvers"],
        sets=[read_only, admin],
        accounts=[prod, dev],
        max_duration_minutes=120,
    )
    return JitSetup(inv, policy, read_only, admin, prod, dev, production)


@pytest.fixture
def second_approver(jit):
    return add_sso_user(jit.inv, "alex.approver", groups=("jit-approvers",))
