"""The AWS readers against the emulator (and Stubber for what the emulator cannot show)."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from governance.aws import calls, session
from governance.aws.readers import iam as iam_reader
from governance.aws.readers import identity_center, organizations
from governance.aws.readers.types import MalformedData

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
REPORT_HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,"
    "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,"
    "access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,"
    "cert_2_last_rotated\n"
)


def _org_with(accounts_in_ou: int):
    org = session.management_client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
    child = org.create_organizational_unit(ParentId=ou, Name="Team <b>")["OrganizationalUnit"]["Id"]
    ids = []
    for i in range(accounts_in_ou):
        account = org.create_account(AccountName=f"w{i}", Email=f"w{i}@example.com")["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        ids.append(account)
    scp = org.create_policy(Content=json.dumps(DOC), Description="d", Name="scp-1", Type="SERVICE_CONTROL_POLICY")[
        "Policy"
    ]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=child)
    return root, ou, child, ids, scp


def test_it_reads_the_tree_and_places_every_account(aws):
    root, ou, child, ids, scp = _org_with(25)
    with calls.counting() as log:
        snapshot = organizations.read_organization()
    units = {u.ou_id: u for u in snapshot.units}
    assert units[root].is_root and units[ou].parent_id == root and units[child].parent_id == ou
    assert units[child].name == "Team <b>"
    placed = {a.account_id: a.parent_id for a in snapshot.accounts}
    assert all(placed[i] == ou for i in ids)
    assert placed[snapshot.org.management_account_id] == root
    assert len(snapshot.accounts) == 26
    mine = next(s for s in snapshot.scps if s.policy_id == scp)
    assert mine.document == DOC and [t.target_id for t in mine.targets] == [child]
    # 25 accounts under one OU take two ListAccountsForParent pages; no ListAccounts, no ListParents.
    assert log.count("organizations", "ListAccountsForParent") == 2 + 2
    assert log.count("organizations", "ListAccounts") == 0 and log.count("organizations", "ListParents") == 0
    n_accounts, n_ous, n_scps = 26, 2, len(snapshot.scps)
    assert log.count("organizations") <= n_accounts / 20 + 2 * n_ous + 3 * n_scps + 10


def test_an_scp_that_is_not_json_is_malformed(aws):
    org = session.management_client("organizations")
    with Stubber(org) as stub:
        stub.add_response(
            "list_policies",
            {
                "Policies": [
                    {"Id": "p-1", "Arn": "arn:aws:organizations::1:policy/p-1", "Name": "x", "AwsManaged": False}
                ]
            },
        )
        stub.add_response("describe_policy", {"Policy": {"PolicySummary": {"Id": "p-1"}, "Content": "{not json"}})
        stub.add_response("list_targets_for_policy", {"Targets": []})
        with pytest.raises(MalformedData, match="SCP p-1"):
            organizations.read_scps(org)


def test_it_reads_an_account_in_at_most_five_iam_calls_and_one_listing_per_user_with_unseen_keys(aws):
    _root, _ou, _child, ids, _scp = _org_with(1)
    member = session.client_for("iam", session.member_credentials(ids[0]))
    path = "/" + "a" * 510 + "/"
    member.create_user(UserName="eve", Path=path, Tags=[{"Key": "owner", "Value": "\u202eevil"}])
    member.put_user_policy(UserName="eve", PolicyName="inline", PolicyDocument=json.dumps(DOC))
    member.create_access_key(UserName="eve")
    with calls.counting() as log:
        account = iam_reader.read_account(ids[0])
    assert log.count("iam") - log.count("iam", "ListAccessKeys") <= 5 and log.count("sts", "AssumeRole") == 1
    assert log.count("iam", "ListAccessKeys") == 1  # eve holds a key the caller did not know
    eve = next(u for u in account.users if u.name == "eve")
    assert eve.path == path and eve.tags == {"owner": "\u202eevil"} and eve.inline[0].document == DOC
    entry = next(e for e in account.credential_report if e.user == "eve")
    assert entry.access_key_1_active and entry.access_key_1_last_rotated is not None
    assert account.password_policy.configured is False
    assert account.digest
    # The same read again gives the same digest (the ingest skips it).
    assert iam_reader.read_account(ids[0]).digest == account.digest


def test_the_credential_report_is_awaited_within_bounds():
    client = session.shared_session().client("iam", region_name="us-east-1")
    waits = []
    content = (REPORT_HEADER + "bob,arn:aws:iam::1:user/bob,2024-01-01T00:00:00+00:00,true,no_information,N/A,N/A,"
               "false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("generate_credential_report", {"State": "STARTED", "Description": "started"})
        stub.add_client_error("get_credential_report", service_error_code="ReportInProgress", http_status_code=404)
        stub.add_response("get_credential_report", {"Content": content.encode(), "ReportFormat": "text/csv"})
        entries, _ = iam_reader.credential_report(client, sleep=waits.append)
    assert waits == list(iam_reader.REPORT_WAITS)
    assert entries[0].user == "bob" and entries[0].password_enabled is True and entries[0].password_last_used is None

    with Stubber(client) as stub:
        stub.add_response("generate_credential_report", {"State": "INPROGRESS"})
        for _ in range(len(iam_reader.REPORT_WAITS) + 1):
            stub.add_client_error("get_credential_report", service_error_code="ReportInProgress", http_status_code=404)
        with pytest.raises(Exception, match="ReportInProgress"):
            iam_reader.credential_report(client, sleep=lambda s: None)


def test_a_credential_report_without_its_columns_is_malformed():
    with pytest.raises(MalformedData):
        iam_reader.parse_credential_report(b"name,value\nx,y\n")
    with pytest.raises(MalformedData):
        iam_reader.parse_credential_report(REPORT_HEADER + "bob,arn,yesterday" + ",false" * 19 + "\n")


def test_identity_center_assignments_are_read_per_provisioned_account(aws):
    _root, _ou, _child, ids, _scp = _org_with(3)
    sso = session.management_client("sso-admin")
    store = session.management_client("identitystore")
    instance = sso.list_instances()["Instances"][0]
    arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    user = store.create_user(
        IdentityStoreId=store_id, UserName="u", DisplayName="U", Name={"GivenName": "U", "FamilyName": "U"},
        Emails=[{"Value": "u@example.com", "Primary": True}],
    )["UserId"]  # fmt: skip
    sets = [
        sso.create_permission_set(InstanceArn=arn, Name=f"ps{i}")["PermissionSet"]["PermissionSetArn"] for i in range(4)
    ]
    for account in ids[:2]:
        sso.create_account_assignment(
            InstanceArn=arn, TargetId=account, TargetType="AWS_ACCOUNT", PermissionSetArn=sets[0],
            PrincipalType="USER", PrincipalId=user,
        )  # fmt: skip
    with calls.counting() as log:
        snapshot = identity_center.read_identity_center()
    assert {(a.account_id, a.principal_id) for a in snapshot.assignments} == {(ids[0], user), (ids[1], user)}
    assert snapshot.users[0].email == "u@example.com"
    # One ListAccountsForProvisionedPermissionSet per set, one ListAccountAssignments per provisioned pair,
    # instead of accounts x sets.
    assert log.count("sso-admin", "ListAccountsForProvisionedPermissionSet") == 4
    assert log.count("sso-admin", "ListAccountAssignments") == 2


def test_identity_center_reads_customer_managed_references_and_boundaries(aws):
    sso = session.management_client("sso-admin")
    arn = sso.list_instances()["Instances"][0]["InstanceArn"]
    sets = [
        sso.create_permission_set(InstanceArn=arn, Name=f"ps{i}")["PermissionSet"]["PermissionSetArn"] for i in range(3)
    ]
    for name, path in (("Workload", "/sso/"), ("Base", None)):
        reference = {"Name": name, **({"Path": path} if path else {})}
        sso.attach_customer_managed_policy_reference_to_permission_set(
            InstanceArn=arn, PermissionSetArn=sets[0], CustomerManagedPolicyReference=reference
        )
    sso.put_permissions_boundary_to_permission_set(
        InstanceArn=arn, PermissionSetArn=sets[2], PermissionsBoundary={"ManagedPolicyArn": READ_ONLY_ARN}
    )
    with calls.counting() as log:
        snapshot = identity_center.read_identity_center()
    by_arn = {ps.arn: ps for ps in snapshot.permission_sets}
    assert {(r.name, r.path) for r in by_arn[sets[0]].customer_managed_references} == {
        ("Workload", "/sso/"),
        ("Base", "/"),
    }
    assert by_arn[sets[1]].customer_managed_references == ()
    assert snapshot.boundary_error == ""
    assert all(ps.boundary.read for ps in snapshot.permission_sets)
    assert by_arn[sets[2]].boundary.managed_policy_arn == READ_ONLY_ARN
    assert by_arn[sets[0]].boundary.managed_policy_arn == "" and by_arn[sets[0]].boundary.reference is None
    assert log.count("sso-admin", "GetPermissionsBoundaryForPermissionSet") == 3
    assert log.count("sso-admin", "ListCustomerManagedPolicyReferencesInPermissionSet") == 3


READ_ONLY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _stubbed_permission_set(stub: Stubber, arn: str, boundary: dict | None) -> None:
    params = {"InstanceArn": "arn:aws:sso:::instance/ssoins-1", "PermissionSetArn": arn}
    stub.add_response("describe_permission_set", {"PermissionSet": {"PermissionSetArn": arn, "Name": "ps"}}, params)
    stub.add_response("list_managed_policies_in_permission_set", {"AttachedManagedPolicies": []}, params)
    stub.add_response("get_inline_policy_for_permission_set", {}, params)
    stub.add_response(
        "list_customer_managed_policy_references_in_permission_set",
        {"CustomerManagedPolicyReferences": [{"Name": "Workload", "Path": "/sso/"}]},
        params,
    )
    if boundary is None:
        stub.add_client_error(
            "get_permissions_boundary_for_permission_set",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
            expected_params=params,
        )
    else:
        stub.add_response("get_permissions_boundary_for_permission_set", {"PermissionsBoundary": boundary}, params)
    stub.add_response("list_accounts_for_provisioned_permission_set", {"AccountIds": []}, params)


def test_identity_center_reads_each_kind_of_permission_set_boundary():
    sso = session.shared_session().client("sso-admin", region_name="us-east-1")
    store = session.shared_session().client("identitystore", region_name="us-east-1")
    instance = {"InstanceArn": "arn:aws:sso:::instance/ssoins-1", "IdentityStoreId": "d-1"}
    sets = [f"arn:aws:sso:::permissionSet/ssoins-1/ps-{i}" for i in range(3)]
    with Stubber(sso) as sso_stub, Stubber(store) as store_stub:
        sso_stub.add_response("list_instances", {"Instances": [instance]})
        store_stub.add_response("list_users", {"Users": []})
        store_stub.add_response("list_groups", {"Groups": []})
        sso_stub.add_response("list_permission_sets", {"PermissionSets": sets})
        _stubbed_permission_set(sso_stub, sets[0], {"CustomerManagedPolicyReference": {"Name": "Ceiling"}})
        _stubbed_permission_set(sso_stub, sets[1], {"ManagedPolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
        _stubbed_permission_set(sso_stub, sets[2], None)
        snapshot = identity_center.read_identity_center(sso=sso, store=store)
        sso_stub.assert_no_pending_responses()
    first, second, third = (ps.boundary for ps in snapshot.permission_sets)
    assert first.read and (first.reference.name, first.reference.path) == ("Ceiling", "/")
    assert second.read and second.managed_policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert third.read and third.reference is None and not third.managed_policy_arn
    assert snapshot.boundary_error == ""
    assert snapshot.permission_sets[0].customer_managed_references[0].path == "/sso/"


def test_identity_center_boundaries_denied_are_unknown_and_asked_once():
    sso = session.shared_session().client("sso-admin", region_name="us-east-1")
    boundaries = identity_center._Boundaries(sso)
    instance, first, second = (
        "arn:aws:sso:::instance/ssoins-1",
        "arn:aws:sso:::permissionSet/1",
        "arn:aws:sso:::permissionSet/2",
    )
    params = {"InstanceArn": instance, "PermissionSetArn": first}
    with Stubber(sso) as stub:
        stub.add_client_error(
            "get_permissions_boundary_for_permission_set",
            service_error_code="AccessDeniedException",
            service_message="not allowed",
            http_status_code=403,
            expected_params=params,
        )
        assert not boundaries.read(instance, first).read
        assert not boundaries.read(instance, second).read
        stub.assert_no_pending_responses()
    assert boundaries.error == "GetPermissionsBoundaryForPermissionSet: AccessDeniedException: not allowed"


def test_access_keys_are_named_by_id_and_listed_only_when_unseen(aws):
    from governance.aws import emulator
    from governance.aws.readers.types import key_created

    _root, _ou, _child, ids, _scp = _org_with(1)
    member = session.client_for("iam", session.member_credentials(ids[0]))
    for name in ("kim", "lou"):
        member.create_user(UserName=name)
    created = [member.create_access_key(UserName="kim")["AccessKey"] for _ in range(2)]
    lou_key = member.create_access_key(UserName="lou")["AccessKey"]
    # kim's first key is older (keys created in the same second are told apart by listing them).
    emulator.backdate(
        aws.url,
        [
            {
                "account_id": ids[0],
                "user_name": "kim",
                "access_key_id": created[0]["AccessKeyId"],
                "key_created_days_ago": 30,
            }
        ],
    )
    with calls.counting() as log:
        first = iam_reader.read_account_unless_unchanged(ids[0], stored_digest="")
    assert log.count("iam", "ListAccessKeys") == 2
    arn = {u.name: u.arn for u in first.users}
    assert set(first.access_key_ids.values()) == {k["AccessKeyId"] for k in [*created, lou_key]}
    assert first.access_key_ids[(arn["lou"], 1)] == lou_key["AccessKeyId"]
    # What the inventory would pass back: ids by user and creation time. Only unseen keys are asked for.
    report = {e.user: e for e in first.credential_report}
    known = {
        (arn[user], key_created(getattr(report[user], f"access_key_{slot}_last_rotated"))): key_id
        for (user_arn, slot), key_id in first.access_key_ids.items()
        for user in arn
        if arn[user] == user_arn
    }
    with calls.counting() as log:
        again = iam_reader.read_account_unless_unchanged(ids[0], stored_digest="", known_key_ids=known)
    assert log.count("iam", "ListAccessKeys") == 0
    assert again.access_key_ids == first.access_key_ids
    known.pop((arn["lou"], key_created(report["lou"].access_key_1_last_rotated)))
    with calls.counting() as log:
        iam_reader.read_account_unless_unchanged(ids[0], stored_digest="", known_key_ids=known)
    assert log.count("iam", "ListAccessKeys") == 1  # lou's only


def test_identity_center_reads_the_users_external_ids():
    """moto leaves ExternalIds out; SCIM-provisioned users carry them (shaped as AWS answers)."""
    sso = session.shared_session().client("sso-admin", region_name="us-east-1")
    store = session.shared_session().client("identitystore", region_name="us-east-1")
    instance = {"InstanceArn": "arn:aws:sso:::instance/ssoins-1", "IdentityStoreId": "d-1"}
    user = {
        "UserId": "u-1",
        "IdentityStoreId": "d-1",
        "UserArn": "arn:aws:identitystore::111111111111:identitystore/d-1/user/u-1-0000000000000",
        "Revision": "1",
        "UserName": "paula.policy",
        "Emails": [{"Value": "paula.policy@example.com", "Primary": True}],
        "ExternalIds": [{"Issuer": "https://scim.example.invalid/tenant", "Id": "0f6c-oid"}],
    }
    with Stubber(sso) as sso_stub, Stubber(store) as store_stub:
        sso_stub.add_response("list_instances", {"Instances": [instance]})
        store_stub.add_response("list_users", {"Users": [user]})
        store_stub.add_response("list_groups", {"Groups": []})
        sso_stub.add_response("list_permission_sets", {"PermissionSets": []})
        snapshot = identity_center.read_identity_center(sso=sso, store=store)
    assert snapshot.users[0].external_ids == ({"Issuer": "https://scim.example.invalid/tenant", "Id": "0f6c-oid"},)
