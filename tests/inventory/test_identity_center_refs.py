"""Customer managed policy references and boundaries of permission sets, synced against the emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.aws import calls, session
from governance.inventory.models import (
    Entitlement,
    EntitlementVia,
    PermissionSet,
    Policy,
    PolicyKind,
    SyncStatus,
)
from governance.inventory.models.identity_center import BoundaryType
from governance.inventory.sync import sync_organization

pytestmark = pytest.mark.django_db(transaction=False)

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
REFERENCE = {"Name": "WorkloadAccess", "Path": "/sso/"}
MISSING = {"Name": "NowhereToBeFound"}


def test_the_demo_grants_developer_workload_access_where_developer_access_is_assigned(demo_org):
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    developer = PermissionSet.objects.get(arn=demo_org.permission_sets["DeveloperAccess"])
    assert developer.customer_managed_references == [{"name": "DeveloperWorkloadAccess", "path": "/identity-center/"}]
    assert developer.unresolved_references == []
    assert run.counts["unresolved_references"] == 0
    granted = Entitlement.objects.present().filter(policy__name="DeveloperWorkloadAccess", permission_set=developer)
    payments_dev = demo_org.accounts["payments-dev"]
    assert granted.filter(
        via=EntitlementVia.PERMISSION_SET,
        principal__aws_id=demo_org.sso_groups["developers"],
        account__account_id=payments_dev,
    ).exists()
    assert granted.filter(
        via=EntitlementVia.GROUP, principal__aws_id=demo_org.sso_users["jamie.dev"], account__account_id=payments_dev
    ).exists()
    assert not granted.filter(account__account_id=demo_org.accounts["payments-prod"]).exists()
    # Each is the policy of the account it is granted in.
    assert not granted.exclude(policy__account_id=models.F("account_id")).exists()


@dataclass
class IcOrg:
    """Two member accounts; the permission set is assigned on both, the policy exists only in `with_policy`."""

    instance_arn: str
    permission_set_arn: str
    with_policy: str
    without_policy: str
    user_id: str
    member_id: str
    group_id: str

    def detach(self, reference: dict[str, str]) -> None:
        session.management_client("sso-admin").detach_customer_managed_policy_reference_from_permission_set(
            InstanceArn=self.instance_arn,
            PermissionSetArn=self.permission_set_arn,
            CustomerManagedPolicyReference=reference,
        )


@pytest.fixture
def ic_org(aws, settings) -> IcOrg:
    settings.AWS_SYNC_WORKERS = 2
    session.reset()
    org = session.management_client("organizations")
    org.create_organization(FeatureSet="ALL")
    accounts = [
        org.create_account(AccountName=f"member-{i}", Email=f"member-{i}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for i in range(2)
    ]
    for account_id in accounts:
        iam = session.client_for("iam", session.member_credentials(account_id))
        # The same name under another path, and a decoy in the other account, must not be picked.
        iam.create_policy(PolicyName=REFERENCE["Name"], Path="/other/", PolicyDocument=json.dumps(DOC))
    with_policy = session.client_for("iam", session.member_credentials(accounts[0]))
    with_policy.create_policy(PolicyName=REFERENCE["Name"], Path=REFERENCE["Path"], PolicyDocument=json.dumps(DOC))

    sso = session.management_client("sso-admin")
    store = session.management_client("identitystore")
    instance = sso.list_instances()["Instances"][0]
    instance_arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    user = store.create_user(
        IdentityStoreId=store_id, UserName="uma", DisplayName="Uma", Name={"GivenName": "U", "FamilyName": "U"}
    )["UserId"]
    member = store.create_user(
        IdentityStoreId=store_id, UserName="max", DisplayName="Max", Name={"GivenName": "M", "FamilyName": "M"}
    )["UserId"]
    group = store.create_group(IdentityStoreId=store_id, DisplayName="builders")["GroupId"]
    store.create_group_membership(IdentityStoreId=store_id, GroupId=group, MemberId={"UserId": member})
    ps = sso.create_permission_set(InstanceArn=instance_arn, Name="Builder")["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=ps, ManagedPolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess"
    )
    for reference in (REFERENCE, MISSING):
        sso.attach_customer_managed_policy_reference_to_permission_set(
            InstanceArn=instance_arn, PermissionSetArn=ps, CustomerManagedPolicyReference=reference
        )
    for account_id in accounts:
        for principal_type, principal_id in (("USER", user), ("GROUP", group)):
            sso.create_account_assignment(
                InstanceArn=instance_arn,
                TargetId=account_id,
                TargetType="AWS_ACCOUNT",
                PermissionSetArn=ps,
                PrincipalType=principal_type,
                PrincipalId=principal_id,
            )
    yield IcOrg(instance_arn, ps, accounts[0], accounts[1], user, member, group)
    session.reset()


def _customer_managed_entitlements():
    return Entitlement.objects.filter(policy__kind=PolicyKind.CUSTOMER_MANAGED, permission_set__isnull=False)


def _policy(account_id: str, path: str = REFERENCE["Path"]) -> Policy:
    return Policy.objects.get(
        kind=PolicyKind.CUSTOMER_MANAGED, account__account_id=account_id, name=REFERENCE["Name"], path=path
    )


def test_it_grants_a_referenced_policy_in_the_assigned_account_where_it_exists(ic_org):
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    ps = PermissionSet.objects.get(arn=ic_org.permission_set_arn)
    assert ps.customer_managed_references == [
        {"name": MISSING["Name"], "path": "/"},
        {"name": REFERENCE["Name"], "path": REFERENCE["Path"]},
    ]
    policy = _policy(ic_org.with_policy)
    granted = {
        (e.principal.aws_id, e.via, e.via_group.aws_id if e.via_group else "", e.account.account_id)
        for e in _customer_managed_entitlements().select_related("principal", "via_group", "account")
    }
    assert granted == {
        (ic_org.user_id, EntitlementVia.PERMISSION_SET, "", ic_org.with_policy),
        (ic_org.group_id, EntitlementVia.PERMISSION_SET, "", ic_org.with_policy),
        (ic_org.member_id, EntitlementVia.GROUP, ic_org.group_id, ic_org.with_policy),
    }
    assert set(_customer_managed_entitlements().values_list("policy_id", flat=True)) == {policy.pk}
    assert set(_customer_managed_entitlements().values_list("permission_set_id", flat=True)) == {ps.pk}


def test_it_records_references_that_resolve_nowhere_without_failing(ic_org):
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    ps = PermissionSet.objects.get(arn=ic_org.permission_set_arn)
    expected = [
        {"name": MISSING["Name"], "path": "/", "account_id": ic_org.with_policy},
        {"name": MISSING["Name"], "path": "/", "account_id": ic_org.without_policy},
        {"name": REFERENCE["Name"], "path": REFERENCE["Path"], "account_id": ic_org.without_policy},
    ]
    # Stored in a stable order (account, path, name), so an unchanged read hashes the same.
    assert ps.unresolved_references == sorted(expected, key=lambda r: (r["account_id"], r["path"], r["name"]))
    assert run.counts["customer_managed_references"] == 2
    assert run.counts["unresolved_references"] == 3
    # The same name under another path is a different policy: nothing is granted from it.
    assert not Entitlement.objects.filter(policy=_policy(ic_org.without_policy, "/other/"), permission_set=ps).exists()
    assert not _customer_managed_entitlements().filter(account__account_id=ic_org.without_policy).exists()


def test_the_boundary_is_read_and_follows_changes_in_aws(ic_org):
    run = sync_organization()
    ps = PermissionSet.objects.get(arn=ic_org.permission_set_arn)
    assert ps.boundary_type == BoundaryType.NONE and run.counts["permission_set_boundaries_unknown"] == 0
    sso = session.management_client("sso-admin")
    where = {"InstanceArn": ic_org.instance_arn, "PermissionSetArn": ic_org.permission_set_arn}
    sso.put_permissions_boundary_to_permission_set(
        **where, PermissionsBoundary={"CustomerManagedPolicyReference": {"Name": "Limit", "Path": "/edge/"}}
    )
    assert sync_organization().changes > 0
    ps.refresh_from_db()
    assert (ps.boundary_type, ps.boundary_name, ps.boundary_path) == (BoundaryType.CUSTOMER_MANAGED, "Limit", "/edge/")
    sso.delete_permissions_boundary_from_permission_set(**where)
    sync_organization()
    ps.refresh_from_db()
    assert ps.boundary_type == BoundaryType.NONE


def test_a_second_sync_with_no_change_writes_nothing(ic_org):
    first = sync_organization()
    assert first.status == SyncStatus.SUCCEEDED, first.errors
    with calls.counting() as log:
        again = sync_organization()
    assert again.changes == 0, again.counts
    # One boundary call per permission set (this org has one), not retried.
    assert log.count("sso-admin", "GetPermissionsBoundaryForPermissionSet") == 1
    assert log.count("sso-admin", "ListCustomerManagedPolicyReferencesInPermissionSet") == 1


def test_removing_the_reference_removes_its_entitlements(ic_org):
    sync_organization()
    present = _customer_managed_entitlements().filter(removed_at__isnull=True)
    assert present.count() == 3
    ic_org.detach(REFERENCE)
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert run.changes > 0
    assert not present.exists()
    assert _customer_managed_entitlements().filter(removed_at__isnull=False).count() == 3
    ps = PermissionSet.objects.get(arn=ic_org.permission_set_arn)
    assert ps.customer_managed_references == [{"name": MISSING["Name"], "path": "/"}]
    # The AWS managed policy of the set is still granted.
    assert Entitlement.objects.present().filter(permission_set=ps, policy__kind=PolicyKind.AWS_MANAGED).count() == 6


def test_creating_the_missing_policy_later_resolves_the_reference(ic_org):
    sync_organization()
    iam = session.client_for("iam", session.member_credentials(ic_org.without_policy))
    iam.create_policy(PolicyName=REFERENCE["Name"], Path=REFERENCE["Path"], PolicyDocument=json.dumps(DOC))
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert _customer_managed_entitlements().present().filter(account__account_id=ic_org.without_policy).count() == 3
    ps = PermissionSet.objects.get(arn=ic_org.permission_set_arn)
    assert {(r["name"], r["account_id"]) for r in ps.unresolved_references} == {
        (MISSING["Name"], ic_org.with_policy),
        (MISSING["Name"], ic_org.without_policy),
    }


def test_deleting_the_policy_in_iam_removes_the_grant_and_records_the_reference(ic_org):
    sync_organization()
    iam = session.client_for("iam", session.member_credentials(ic_org.with_policy))
    iam.delete_policy(PolicyArn=_policy(ic_org.with_policy).arn)
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert not _customer_managed_entitlements().present().exists()
    ps = PermissionSet.objects.get(arn=ic_org.permission_set_arn)
    assert {"name": REFERENCE["Name"], "path": REFERENCE["Path"], "account_id": ic_org.with_policy} in (
        ps.unresolved_references
    )


def _principal_page(client, principal) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("inventory:principal", args=[principal.pk]))
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_the_principal_page_shows_references_and_boundaries_of_assigned_sets(persona_client, persona_inventory):
    user = persona_inventory.sso_users["auditor"]
    client = persona_client("auditor")
    _principal_page(client, user)  # the first request of a session costs a few queries of its own
    _, plain_queries = _principal_page(client, user)
    pset = persona_inventory.permission_sets["GovernanceAuditor"]
    account_id = persona_inventory.governance_account.account_id
    pset.customer_managed_references = [{"name": "AuditExtras", "path": "/sso/"}, {"name": "Gone\u202e", "path": "/"}]
    pset.unresolved_references = [{"name": "Gone\u202e", "path": "/", "account_id": account_id}]
    pset.boundary_type, pset.boundary_name, pset.boundary_path = BoundaryType.CUSTOMER_MANAGED, "Ceiling", "/b/"
    pset.save(
        update_fields=[
            "customer_managed_references",
            "unresolved_references",
            "boundary_type",
            "boundary_name",
            "boundary_path",
        ]
    )
    page, queries = _principal_page(client, user)
    assert '<code class="inv-path">/sso/</code><bdi>AuditExtras</bdi><br>' in page
    assert "<bdi>Gone\u27e6U+202E\u27e7</bdi> <span" in page and "not in this account</span>" in page
    assert page.count("not in this account</span>") == 1
    assert '<code class="inv-path">/b/</code><bdi>Ceiling</bdi> <span class="muted">customer managed</span>' in page
    assert queries == plain_queries

    pset.boundary_type = BoundaryType.UNKNOWN
    pset.save(update_fields=["boundary_type"])
    page, _ = _principal_page(client, user)
    assert "Unknown (not available from this endpoint)" in page
