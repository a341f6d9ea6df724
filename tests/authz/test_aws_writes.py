from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.authz.aws_writes import WriteRefusedError, check_write, perform_write
from governance.aws import calls, session
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID, OTHER_ACCOUNT_ID

pytestmark = pytest.mark.django_db

SCP_ARN = "arn:aws:organizations::111111111111:policy/o-demo12345/service_control_policy/p-abc"
ROOT_SCP_ARN = "arn:aws:organizations::111111111111:policy/o-demo12345/service_control_policy/p-root"
ALLOW_ORGANIZATIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ManageScps", "Effect": "Allow", "Action": "organizations:*Policy", "Resource": "*"}],
}
DENY_ROOT_SCP = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "NeverTheRootScp", "Effect": "Deny", "Action": "organizations:UpdatePolicy", "Resource": ROOT_SCP_ARN}
    ],
}
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["organizations:Describe*", "organizations:List*"],
            "Resource": "*",
        }
    ],
}


def _synced(key: str) -> dict:
    digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
    now = timezone.now()
    return {"key": digest, "content_hash": digest, "first_seen": now, "last_seen": now}


def _customer_managed(account, name: str, document: dict, *, path: str = "/"):
    from governance.inventory.models import Policy, PolicyKind

    return Policy.objects.create(
        kind=PolicyKind.CUSTOMER_MANAGED,
        arn=f"arn:aws:iam::{account.account_id}:policy{path}{name}",
        name=name,
        path=path,
        account=account,
        document=document,
        **_synced(f"policy:{account.account_id}:{path}{name}"),
    )


def _managed(inv, set_name: str, name: str, document: dict):
    from governance.inventory.models import PermissionSetPolicy

    policy = _customer_managed(inv.governance_account, name, document)
    PermissionSetPolicy.objects.create(
        permission_set=inv.permission_sets[set_name], policy=policy, **_synced(f"psp:{set_name}:{name}")
    )


def _inline(inv, set_name: str, document: dict):
    from governance.inventory.models import Policy, PolicyKind

    Policy.objects.create(
        kind=PolicyKind.PERMISSION_SET_INLINE,
        arn=f"{inv.permission_sets[set_name].arn}#inline",
        name="inline",
        permission_set=inv.permission_sets[set_name],
        document=document,
        **_synced(f"inline:{set_name}"),
    )


@pytest.fixture
def policies(persona_inventory):
    from governance.inventory.models import PermissionSet
    from governance.inventory.models.identity_center import BoundaryType

    inv = persona_inventory
    # As a sync against AWS records them: read, and without a boundary (unknown is a test of its own).
    PermissionSet.objects.update(boundary_type=BoundaryType.NONE)
    _managed(inv, "GovernancePolicyAdmin", "ScpAdmin", ALLOW_ORGANIZATIONS)
    _inline(inv, "GovernancePolicyAdmin", DENY_ROOT_SCP)
    _managed(inv, "GovernanceAuditor", "OrgReadOnly", READ_ONLY)
    return inv


def test_it_allows_what_the_actors_permission_set_allows(personas, policies):
    check = check_write(
        actor=personas["policy_admin"],
        action="organizations:UpdatePolicy",
        resource=SCP_ARN,
        account_id=GOVERNANCE_ACCOUNT_ID,
    )
    assert check.allowed
    assert (check.aws_user_name, check.permission_set) == ("paula.policy", "GovernancePolicyAdmin")


def test_it_names_the_statement_that_denies(personas, policies):
    check = check_write(
        actor=personas["policy_admin"],
        action="organizations:UpdatePolicy",
        resource=ROOT_SCP_ARN,
        account_id=GOVERNANCE_ACCOUNT_ID,
    )
    assert not check.allowed
    assert "explicitly denied" in check.reason and "NeverTheRootScp" in check.reason


def test_it_says_when_no_statement_allowed(personas, policies):
    check = check_write(
        actor=personas["auditor"],
        action="organizations:UpdatePolicy",
        resource=SCP_ARN,
        account_id=GOVERNANCE_ACCOUNT_ID,
    )
    assert not check.allowed
    assert "GovernanceAuditor: no statement allowed it" in check.reason


def test_it_refuses_people_without_a_permission_set_on_the_account(personas, policies):
    check = check_write(
        actor=personas["policy_admin"],
        action="organizations:UpdatePolicy",
        resource=SCP_ARN,
        account_id=OTHER_ACCOUNT_ID,
    )
    assert not check.allowed and "no permission set on account 444444444444" in check.reason
    outsider = check_write(
        actor=personas["outsider"],
        action="organizations:UpdatePolicy",
        resource=SCP_ARN,
        account_id=GOVERNANCE_ACCOUNT_ID,
    )
    assert not outsider.allowed and "not linked" in outsider.reason


def test_it_applies_the_scps_in_effect_on_a_member_account(personas, policies):
    from governance.inventory.models import AccountAssignment, OrganizationalUnit, Policy, PolicyKind, ScpAttachment

    inv = policies
    other = inv.accounts[OTHER_ACCOUNT_ID]
    user = inv.sso_users["policy_admin"]
    AccountAssignment.objects.create(
        permission_set=inv.permission_sets["GovernancePolicyAdmin"],
        account=other,
        aws_account_id=OTHER_ACCOUNT_ID,
        principal=user,
        principal_type="USER",
        principal_aws_id=user.aws_id,
        **_synced("assign-other"),
    )
    scp = Policy.objects.create(
        kind=PolicyKind.SCP,
        arn=ROOT_SCP_ARN,
        name="DenyOrgChanges",
        organization=inv.organization,
        document={
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "NoOrgWrites", "Effect": "Deny", "Action": "organizations:Update*", "Resource": "*"},
            ],
        },
        **_synced("scp"),
    )
    root = OrganizationalUnit.objects.get(is_root=True)
    ScpAttachment.objects.create(policy=scp, target_type="ROOT", target_id=root.ou_id, unit=root, **_synced("att"))
    full_access = Policy.objects.create(
        kind=PolicyKind.SCP,
        arn=f"{ROOT_SCP_ARN}-full",
        name="FullAWSAccess",
        organization=inv.organization,
        document={"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        **_synced("scp-full"),
    )
    ScpAttachment.objects.create(
        policy=full_access, target_type="ACCOUNT", target_id=OTHER_ACCOUNT_ID, account=other, **_synced("att-acct")
    )
    kwargs = {"actor": personas["policy_admin"], "resource": SCP_ARN, "account_id": OTHER_ACCOUNT_ID}
    denied = check_write(action="organizations:UpdatePolicy", **kwargs)
    assert not denied.allowed and "NoOrgWrites" in denied.reason
    assert check_write(action="organizations:DescribePolicy", **kwargs).allowed


def test_it_refuses_before_calling_aws_and_audits_the_refusal(personas, policies):
    with calls.counting() as log, pytest.raises(WriteRefusedError, match="no statement allowed"):
        perform_write(
            actor=personas["auditor"],
            action="organizations:UpdatePolicy",
            resource=SCP_ARN,
            account_id=GOVERNANCE_ACCOUNT_ID,
            call=lambda clients: clients("organizations").update_policy(),
        )
    assert log.total == 0
    event = AuditEvent.objects.get(action="aws.write.refused")
    assert event.object_id == SCP_ARN and "no statement allowed" in event.after["reason"]


def test_it_writes_as_the_writer_role_naming_the_person_and_audits_the_request_id(personas, policies, aws):
    seen = {}

    def capture(params, **kwargs):
        seen.update(params)

    # Clients copy the Session's handlers when they are made, so register on the (cached) STS client itself.
    events = session.management_client("sts").meta.events
    events.register("provide-client-params.sts.AssumeRole", capture, unique_id="test-capture-assume-role")
    try:
        response = perform_write(
            actor=personas["policy_admin"],
            action="organizations:UpdatePolicy",
            resource=SCP_ARN,
            account_id=GOVERNANCE_ACCOUNT_ID,
            call=lambda clients: clients("sts").get_caller_identity(),
        )
    finally:
        events.unregister("provide-client-params.sts.AssumeRole", unique_id="test-capture-assume-role")
    assert seen["RoleArn"] == f"arn:aws:iam::{GOVERNANCE_ACCOUNT_ID}:role/GovernancePortalWriterRole"
    assert seen["SourceIdentity"] == "paula.policy"
    assert {"Key": "portal-user", "Value": "paula.policy@example.com"} in seen["Tags"]
    assert ":assumed-role/GovernancePortalWriterRole/" in response["Arn"]
    event = AuditEvent.objects.get(action="aws.write")
    assert event.after["aws_request_id"] == response["ResponseMetadata"]["RequestId"] != ""
    assert event.after["source_identity"] == "paula.policy"
    assert event.after["permission_set"] == "GovernancePolicyAdmin"


def test_it_audits_a_write_that_aws_rejects_with_its_request_id(personas, policies, aws):
    from governance.aws.errors import AwsNotFound

    with pytest.raises(AwsNotFound) as raised:
        perform_write(
            actor=personas["policy_admin"],
            action="organizations:UpdatePolicy",
            resource=SCP_ARN,
            account_id=GOVERNANCE_ACCOUNT_ID,
            call=lambda clients: clients("iam").get_role(RoleName="no-such-role"),
        )
    assert raised.value.code == "NoSuchEntity" and raised.value.operation == "GetRole"
    assert raised.value.__cause__ is not None  # botocore's error, kept as the cause
    event = AuditEvent.objects.get(action="aws.write.failed")
    assert event.after["aws_request_id"] == raised.value.request_id != ""
    assert "NoSuchEntity" in event.after["error"]


def test_it_audits_a_write_whose_writer_session_cannot_be_opened(personas, policies):
    from governance.authz.selectors import linked_principal
    from governance.aws.writer import WriterError
    from governance.inventory.models import Principal

    principal = linked_principal(personas["policy_admin"])
    Principal.objects.filter(pk=principal.pk).update(user_name="x")  # too short to be a SourceIdentity
    with calls.counting() as log, pytest.raises(WriterError):
        perform_write(
            actor=personas["policy_admin"],
            action="organizations:UpdatePolicy",
            resource=SCP_ARN,
            account_id=GOVERNANCE_ACCOUNT_ID,
            call=lambda clients: clients("organizations").describe_organization(),
        )
    assert log.total == 0
    event = AuditEvent.objects.get(action="aws.write.failed")
    assert "source identity" in event.after["error"]


ALLOW_UPDATE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Scps", "Effect": "Allow", "Action": "organizations:UpdatePolicy", "Resource": "*"}],
}
UPDATE = {"action": "organizations:UpdatePolicy", "resource": SCP_ARN, "account_id": GOVERNANCE_ACCOUNT_ID}


def _set(inv, name: str, **fields):
    permission_set = inv.permission_sets[name]
    for field, value in fields.items():
        setattr(permission_set, field, value)
    permission_set.save(update_fields=list(fields))
    return permission_set


def test_it_counts_the_customer_managed_policies_a_permission_set_references(personas, policies):
    inv = policies
    assert not check_write(actor=personas["auditor"], **UPDATE).allowed
    _set(inv, "GovernanceAuditor", customer_managed_references=[{"name": "ScpWriter", "path": "/governance/"}])
    _customer_managed(inv.governance_account, "ScpWriter", ALLOW_UPDATE_POLICY, path="/governance/")

    check = check_write(actor=personas["auditor"], **UPDATE)

    assert check.allowed and check.permission_set == "GovernanceAuditor"
    assert "GovernanceAuditor//governance/ScpWriter" in check.reason


def test_it_resolves_a_reference_by_name_and_path_in_the_assignments_account_only(personas, policies):
    inv = policies
    _set(inv, "GovernanceAuditor", customer_managed_references=[{"name": "ScpWriter", "path": "/governance/"}])
    # The same name elsewhere is not what AWS provisions on the governance account.
    _customer_managed(inv.accounts[OTHER_ACCOUNT_ID], "ScpWriter", ALLOW_UPDATE_POLICY, path="/governance/")
    _customer_managed(inv.governance_account, "ScpWriter", ALLOW_UPDATE_POLICY, path="/other/")

    check = check_write(actor=personas["auditor"], **UPDATE)

    assert not check.allowed and "GovernanceAuditor: no statement allowed it" in check.reason


def test_it_counts_references_of_a_set_assigned_to_the_actors_group(personas, policies):
    from governance.inventory.models import AccountAssignment, GroupMembership

    inv = policies
    group = next(iter(inv.sso_groups.values()))
    requester = inv.sso_users["requester"]
    GroupMembership.objects.get_or_create(
        group=group, member=requester, defaults={"account": inv.governance_account, **_synced("member-test")}
    )
    AccountAssignment.objects.create(
        permission_set=inv.permission_sets["GovernanceAuditor"],
        account=inv.governance_account,
        aws_account_id=GOVERNANCE_ACCOUNT_ID,
        principal=group,
        principal_type="GROUP",
        principal_aws_id=group.aws_id,
        **_synced("assign-group"),
    )
    _set(inv, "GovernanceAuditor", customer_managed_references=[{"name": "ScpWriter", "path": "/"}])
    _customer_managed(inv.governance_account, "ScpWriter", ALLOW_UPDATE_POLICY)

    assert check_write(actor=personas["requester"], **UPDATE).allowed


def test_a_known_boundary_refuses_what_the_sets_policies_allow(personas, policies):
    inv = policies
    assert check_write(actor=personas["policy_admin"], **UPDATE).allowed
    _set(inv, "GovernancePolicyAdmin", boundary_type="customer_managed", boundary_name="ReadOnly", boundary_path="/b/")
    _customer_managed(inv.governance_account, "ReadOnly", READ_ONLY, path="/b/")

    check = check_write(actor=personas["policy_admin"], **UPDATE)

    assert not check.allowed
    assert "GovernancePolicyAdmin: the permissions boundary GovernancePolicyAdmin boundary /b/ReadOnly" in check.reason
    describe = check_write(actor=personas["policy_admin"], **{**UPDATE, "action": "organizations:DescribePolicy"})
    assert describe.allowed


def test_a_managed_policy_boundary_that_allows_the_action_lets_it_through(personas, policies):
    from governance.inventory.models import Policy, PolicyKind

    inv = policies
    arn = "arn:aws:iam::aws:policy/AWSOrganizationsFullAccess"
    Policy.objects.create(
        kind=PolicyKind.AWS_MANAGED,
        arn=arn,
        name="AWSOrganizationsFullAccess",
        document={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "organizations:*", "Resource": "*"}],
        },
        **_synced("aws-managed"),
    )
    _set(inv, "GovernancePolicyAdmin", boundary_type="managed_policy", boundary_policy_arn=arn)

    check = check_write(actor=personas["policy_admin"], **UPDATE)

    assert check.allowed
    assert any(ref.policy_type == "permissions_boundary" for ref in check.decisions[0][1].statements)


def test_a_boundary_missing_from_the_inventory_refuses(personas, policies):
    _set(policies, "GovernancePolicyAdmin", boundary_type="customer_managed", boundary_name="Gone", boundary_path="")

    check = check_write(actor=personas["policy_admin"], **UPDATE)

    assert not check.allowed
    assert "GovernancePolicyAdmin: its permissions boundary /Gone is not a customer managed policy" in check.reason


def test_an_unknown_boundary_refuses_against_aws_and_the_audit_event_says_why(personas, policies, settings):
    settings.AWS_ENDPOINT_URL = ""
    _set(policies, "GovernancePolicyAdmin", boundary_type="unknown")

    with calls.counting() as log, pytest.raises(WriteRefusedError, match="boundary could not be read"):
        perform_write(
            actor=personas["policy_admin"], call=lambda clients: clients("organizations").update_policy(), **UPDATE
        )

    assert log.total == 0
    reason = AuditEvent.objects.get(action="aws.write.refused").after["reason"]
    assert "GovernancePolicyAdmin: its permissions boundary could not be read from AWS at the last sync" in reason
    assert "Unknown (not available from this endpoint)" in reason
    settings.AWS_ENDPOINT_URL = "https://sso.eu-west-1.amazonaws.com"
    assert not check_write(actor=personas["policy_admin"], **UPDATE).allowed


def test_an_unknown_boundary_refuses_on_the_emulator_too(personas, policies, settings):
    """The emulator stores boundaries like AWS, so the gate needs no exception for it."""
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:5055"
    _set(policies, "GovernancePolicyAdmin", boundary_type="unknown")
    check = check_write(actor=personas["policy_admin"], **UPDATE)
    assert not check.allowed and "could not be read" in check.reason


def test_the_check_costs_the_same_queries_however_many_references(personas, policies, django_assert_max_num_queries):
    inv = policies
    references = [{"name": f"P{i}", "path": "/"} for i in range(10)]
    _set(inv, "GovernancePolicyAdmin", customer_managed_references=references)
    _set(inv, "GovernancePolicyAdmin", boundary_type="customer_managed", boundary_name="P0", boundary_path="/")
    for i in range(10):
        _customer_managed(inv.governance_account, f"P{i}", ALLOW_UPDATE_POLICY)
    check_write(actor=personas["policy_admin"], **UPDATE)  # links the persona once
    with django_assert_max_num_queries(7):
        assert check_write(actor=personas["policy_admin"], **UPDATE).allowed


def test_after_a_sync_of_the_demo_org_boundaries_are_known_and_the_policy_admin_may_write(synced_personas):
    from governance.inventory.models import Account, PermissionSet

    kinds = dict(PermissionSet.objects.values_list("name", "boundary_type"))
    assert kinds["DeveloperAccess"] == "managed_policy" and kinds["GovernancePolicyAdmin"] == "none"
    assert "unknown" not in kinds.values()
    management = Account.objects.get(is_management=True).account_id
    check = check_write(actor=synced_personas["policy_admin"], **{**UPDATE, "account_id": management})
    assert check.allowed and check.permission_set == "GovernancePolicyAdmin"
