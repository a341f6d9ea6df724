"""The demo organization: refuses real AWS, has the promised shape and flaws, is reproducible and idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command

from governance.aws import calls, session
from governance.aws.demo import DemoOrgError, DemoOrgExists, build
from governance.aws.demo.personas import (
    BY_KEY,
    GOVERNANCE_PERMISSION_SETS,
    JIT_APPROVERS_GROUP,
    JIT_REQUESTERS_GROUP,
    PERSONAS,
)

MANAGER_EMAIL = BY_KEY["manager"].email


def _member(service: str, account_id: str):
    return session.client_for(service, session.member_credentials(account_id))


def _last_json_line(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.parametrize("endpoint", ["", "https://iam.amazonaws.com", "http://10.1.2.3:5055"])
def test_it_refuses_an_unset_or_remote_endpoint(settings, endpoint):
    settings.AWS_ENDPOINT_URL = endpoint
    with calls.counting() as log, pytest.raises(CommandError, match="AWS_ENDPOINT_URL") as raised:
        call_command("demo_org")
    assert log.total == 0
    assert "loopback" in str(raised.value)


def test_the_python_api_refuses_a_remote_endpoint_too(settings):
    settings.AWS_ENDPOINT_URL = "https://organizations.us-east-1.amazonaws.com"
    with pytest.raises(DemoOrgError, match="not a loopback address"):
        build()


@pytest.mark.parametrize("accounts", [0, 11, 1001])
def test_it_refuses_an_account_count_out_of_range(aws_emulator, accounts):
    with pytest.raises(CommandError, match="--accounts must be between 12 and 1000"):
        call_command("demo_org", accounts=accounts)


def test_the_python_api_says_when_the_org_exists(demo_org):
    with pytest.raises(DemoOrgExists) as raised:
        build()
    assert raised.value.management_account_id == demo_org.management_account_id
    assert raised.value.accounts == len(demo_org.accounts)


def test_the_ou_tree_is_three_levels_deep(demo_org):
    organizations = session.management_client("organizations")

    def walk(parent_id: str, depth: int) -> list[tuple[str, int]]:
        found = []
        for ou in session.paginate(
            organizations, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id
        ):
            found.append((ou["Name"], depth))
            found += walk(ou["Id"], depth + 1)
        return found

    tree = walk(demo_org.root_id, 1)
    assert len(tree) == 11
    assert max(depth for _, depth in tree) == 3
    assert {"Security", "Workloads", "Sandbox", "Prod", "NonProd", "Payments", "Data"} <= {name for name, _ in tree}
    payments_prod = demo_org.accounts["payments-prod"]
    parents = organizations.list_parents(ChildId=payments_prod)["Parents"]
    assert parents[0]["Id"] == demo_org.ous["Workloads/Prod/Payments"]


def test_every_account_has_an_owner_and_the_manager_owns_some(demo_org):
    organizations = session.management_client("organizations")
    accounts = list(session.paginate(organizations, "list_accounts", "Accounts"))
    assert len(accounts) >= 12
    owners = {}
    for account in accounts:
        tags = {t["Key"]: t["Value"] for t in organizations.list_tags_for_resource(ResourceId=account["Id"])["Tags"]}
        owners[account["Name"]] = tags["owner"]
    assert set(owners) == set(demo_org.accounts)
    assert {"payments-prod", "payments-dev", "sandbox-maria"} <= {n for n, o in owners.items() if o == MANAGER_EMAIL}
    assert sorted(demo_org.accounts_owned_by(MANAGER_EMAIL)) == sorted(
        n for n, o in owners.items() if o == MANAGER_EMAIL
    )


def test_scps_attach_at_the_root_an_ou_and_an_account(demo_org):
    organizations = session.management_client("organizations")

    def attached(target_id: str) -> set[str]:
        policies = organizations.list_policies_for_target(TargetId=target_id, Filter="SERVICE_CONTROL_POLICY")
        return {p["Name"] for p in policies["Policies"]}

    assert "DenyLeaveOrganization" in attached(demo_org.root_id)
    assert "DenyRegionsOutsideAllowList" in attached(demo_org.ous["Workloads"])
    assert "DenyIamUserCreation" in attached(demo_org.accounts["payments-prod"])
    assert "DenyRootUser" in attached(demo_org.accounts["shared-network"])
    draft = organizations.list_targets_for_policy(PolicyId=demo_org.scps["DraftDenyS3PublicAccess"])
    assert draft["Targets"] == []


def test_member_accounts_have_the_governance_roles_trusting_the_management_account(demo_org, settings):
    for account_id in demo_org.member_account_ids:
        iam = _member("iam", account_id)
        for name in (settings.AWS_MEMBER_ROLE_NAME, settings.AWS_WRITER_ROLE_NAME):
            trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
            principal = trust["Statement"][0]["Principal"]["AWS"]
            assert principal == f"arn:aws:iam::{demo_org.management_account_id}:root"


def test_users_with_and_without_mfa_console_and_old_keys(demo_org):
    legacy = _member("iam", demo_org.accounts["legacy-billing"])
    assert legacy.list_mfa_devices(UserName="legacy-admin")["MFADevices"] == []
    assert legacy.get_login_profile(UserName="legacy-admin")["LoginProfile"]
    attached = legacy.list_attached_user_policies(UserName="legacy-admin")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AdministratorAccess"]
    now = datetime.now(UTC)
    (old_key,) = legacy.list_access_keys(UserName="legacy-admin")["AccessKeyMetadata"]
    assert now - old_key["CreateDate"] > timedelta(days=365)

    keys = legacy.list_access_keys(UserName="billing-export")["AccessKeyMetadata"]
    assert {k["Status"] for k in keys} == {"Active", "Inactive"}
    active = next(k for k in keys if k["Status"] == "Active")
    assert "LastUsedDate" not in legacy.get_access_key_last_used(AccessKeyId=active["AccessKeyId"])["AccessKeyLastUsed"]

    network = _member("iam", demo_org.accounts["shared-network"])
    assert len(network.list_mfa_devices(UserName="alice.ops")["MFADevices"]) == 1


def test_wildcard_inline_and_group_policies(demo_org):
    data_dev = _member("iam", demo_org.accounts["data-dev"])
    (name,) = data_dev.list_user_policies(UserName="bob.data")["PolicyNames"]
    statement = data_dev.get_user_policy(UserName="bob.data", PolicyName=name)["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == "*" and statement["Resource"] == "*"

    payments_dev = _member("iam", demo_org.accounts["payments-dev"])
    members = payments_dev.get_group(GroupName="developers")["Users"]
    assert {"jamie.dev", "lee.dev"} <= {u["UserName"] for u in members}
    (policy,) = payments_dev.list_attached_group_policies(GroupName="developers")["AttachedPolicies"]
    version = payments_dev.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = payments_dev.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)["PolicyVersion"]
    assert document["Document"]["Statement"][0]["Action"] == "s3:*"


def test_roles_trusting_org_accounts_external_accounts_and_identity_providers(demo_org):
    prod = _member("iam", demo_org.accounts["payments-prod"])
    cross = prod.get_role(RoleName="CrossAccountDeploy")["Role"]
    assert cross["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"].endswith(
        f"{demo_org.accounts['shared-network']}:root"
    )
    assert {"Key": "owner", "Value": MANAGER_EMAIL} in cross["Tags"]
    vendor = prod.get_role(RoleName="VendorAuditRole")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert "Condition" not in vendor

    data_prod = _member("iam", demo_org.accounts["data-prod"])
    monitoring = data_prod.get_role(RoleName="VendorMonitoringRole")["Role"]["AssumeRolePolicyDocument"]
    assert "sts:ExternalId" in monitoring["Statement"][0]["Condition"]["StringEquals"]

    network = _member("iam", demo_org.accounts["shared-network"])
    (saml,) = network.list_saml_providers()["SAMLProviderList"]
    saml_trust = network.get_role(RoleName="SAMLNetworkAdmins")["Role"]["AssumeRolePolicyDocument"]
    assert saml_trust["Statement"][0]["Principal"]["Federated"] == saml["Arn"]

    payments_dev = _member("iam", demo_org.accounts["payments-dev"])
    (oidc,) = payments_dev.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    deploy = payments_dev.get_role(RoleName="GitHubActionsDeploy")["Role"]
    assert deploy["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Federated"] == oidc["Arn"]
    assert deploy["PermissionsBoundary"]["PermissionsBoundaryArn"] == demo_org.principals["boundary_policy"]


def test_password_policies_strong_weak_and_missing(demo_org):
    management = session.management_client("iam")
    assert management.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] >= 14
    weak = _member("iam", demo_org.accounts["legacy-billing"]).get_account_password_policy()["PasswordPolicy"]
    assert weak["MinimumPasswordLength"] < 8
    with pytest.raises(ClientError) as raised:
        _member("iam", demo_org.accounts["data-dev"]).get_account_password_policy()
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"


def test_identity_center_has_the_personas_groups_and_permission_sets(demo_org):
    store = session.management_client("identitystore")
    users = {
        u["UserName"]: u
        for u in session.paginate(store, "list_users", "Users", IdentityStoreId=demo_org.identity_store_id)
    }
    for persona in PERSONAS:
        if not persona.in_identity_center:
            assert persona.user_name not in users
            continue
        user = users[persona.user_name]
        assert {"Value": persona.email, "Type": "work", "Primary": True} in user["Emails"]
    assert len(users) > len(PERSONAS)

    for group, persona_key in ((JIT_REQUESTERS_GROUP, "requester"), (JIT_APPROVERS_GROUP, "approver")):
        memberships = store.list_group_memberships(
            IdentityStoreId=demo_org.identity_store_id, GroupId=demo_org.sso_groups[group]
        )["GroupMemberships"]
        member_ids = {m["MemberId"]["UserId"] for m in memberships}
        assert demo_org.sso_users[BY_KEY[persona_key].user_name] in member_ids

    sso = session.management_client("sso-admin")
    policy_admin = sso.get_inline_policy_for_permission_set(
        InstanceArn=demo_org.sso_instance_arn, PermissionSetArn=demo_org.permission_sets["GovernancePolicyAdmin"]
    )
    assert "organizations:*Policy*" in policy_admin["InlinePolicy"]
    managed = sso.list_managed_policies_in_permission_set(
        InstanceArn=demo_org.sso_instance_arn, PermissionSetArn=demo_org.permission_sets["ReadOnlyAccess"]
    )
    assert [p["Name"] for p in managed["AttachedManagedPolicies"]] == ["ReadOnlyAccess"]


def test_governance_permission_sets_are_assigned_to_the_personas_on_the_governance_account(demo_org):
    sso = session.management_client("sso-admin")
    assert demo_org.governance_account_id == demo_org.management_account_id
    holders: dict[str, set[str]] = {}
    for name in GOVERNANCE_PERMISSION_SETS:
        assignments = session.paginate(
            sso,
            "list_account_assignments",
            "AccountAssignments",
            InstanceArn=demo_org.sso_instance_arn,
            AccountId=demo_org.governance_account_id,
            PermissionSetArn=demo_org.permission_sets[name],
        )
        holders[name] = {a["PrincipalId"] for a in assignments if a["PrincipalType"] == "USER"}
    for persona in PERSONAS:
        for name in persona.permission_sets:
            assert demo_org.sso_users[persona.user_name] in holders[name]
    users = demo_org.sso_users
    assert holders["GovernancePolicyAdmin"] == {users["paula.policy"], users["peter.policy"]}
    assert users["maria.manager"] not in set().union(*holders.values())


def test_other_assignments_reach_member_accounts_through_users_and_groups(demo_org):
    sso = session.management_client("sso-admin")
    assignments = list(
        session.paginate(
            sso,
            "list_account_assignments",
            "AccountAssignments",
            InstanceArn=demo_org.sso_instance_arn,
            AccountId=demo_org.accounts["payments-dev"],
            PermissionSetArn=demo_org.permission_sets["AdministratorAccess"],
        )
    )
    assert {"PrincipalType": "USER", "PrincipalId": demo_org.sso_users["maria.manager"]} in [
        {"PrincipalType": a["PrincipalType"], "PrincipalId": a["PrincipalId"]} for a in assignments
    ]
    provisioned = sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=demo_org.sso_instance_arn, PermissionSetArn=demo_org.permission_sets["ReadOnlyAccess"]
    )["AccountIds"]
    assert set(provisioned) == set(demo_org.accounts.values())


def test_developer_access_references_a_customer_managed_policy_present_where_it_is_assigned(demo_org):
    sso = session.management_client("sso-admin")
    instance, developer = demo_org.sso_instance_arn, demo_org.permission_sets["DeveloperAccess"]
    references = sso.list_customer_managed_policy_references_in_permission_set(
        InstanceArn=instance, PermissionSetArn=developer
    )["CustomerManagedPolicyReferences"]
    assert references == [{"Name": "DeveloperWorkloadAccess", "Path": "/identity-center/"}]
    assigned = set(
        sso.list_accounts_for_provisioned_permission_set(InstanceArn=instance, PermissionSetArn=developer)["AccountIds"]
    )
    assert demo_org.accounts["payments-dev"] in assigned and demo_org.accounts["payments-prod"] not in assigned
    for account_id in demo_org.accounts.values():
        names = {
            (p["PolicyName"], p["Path"])
            for p in _member("iam", account_id).list_policies(Scope="Local", PathPrefix="/identity-center/")["Policies"]
        }
        expected = {("DeveloperWorkloadAccess", "/identity-center/")} if account_id in assigned else set()
        assert names == expected, account_id


def test_assume_role_gives_a_client_acting_in_the_member_account(demo_org, settings):
    account_id = demo_org.accounts["data-dev"]
    with calls.counting() as log:
        credentials = session.member_credentials(account_id)
        identity = session.client_for("sts", credentials).get_caller_identity()
        users = session.client_for("iam", credentials).list_users()["Users"]
    assert identity["Account"] == account_id
    assert f":assumed-role/{settings.AWS_MEMBER_ROLE_NAME}/" in identity["Arn"]
    assert "bob.data" in {u["UserName"] for u in users}
    assert credentials.fresh()
    assert log.count("sts", "AssumeRole") == 1


def test_the_same_seed_builds_the_same_organization(demo_org, fresh_demo_org):
    assert fresh_demo_org.accounts == demo_org.accounts
    assert fresh_demo_org.ous == demo_org.ous
    assert fresh_demo_org.sso_users == demo_org.sso_users
    assert fresh_demo_org.principals == demo_org.principals


def test_the_command_builds_once_and_a_second_run_changes_nothing(aws):
    out = StringIO()
    call_command("demo_org", stdout=out)
    summary = _last_json_line(out.getvalue())
    assert summary["created"] is True
    assert summary["accounts"] == 12 and summary["organizational_units"] == 11 and summary["ou_depth"] == 3
    assert summary["sso_users"] >= 7 and summary["api_calls"] > 0

    again = StringIO()
    with calls.counting() as log:
        call_command("demo_org", stdout=again)
    assert "already holds an organization" in again.getvalue()
    assert _last_json_line(again.getvalue()) == {"created": False, "accounts": 12}
    assert {key.split(".")[1] for key in log.calls} <= {"DescribeOrganization", "ListAccounts"}
