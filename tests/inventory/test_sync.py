"""Sync against the local AWS emulator: counts, idempotence, removal, versions, failures, economy."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pytest
from botocore.awsrequest import AWSResponse
from django.core.management import call_command
from django.db.models import Count

from governance.aws import calls, session
from governance.inventory.models import (
    AccessKey,
    Account,
    AccountAssignment,
    AccountSyncStatus,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    OrganizationalUnit,
    PasswordPolicy,
    PermissionSet,
    Policy,
    PolicyKind,
    PolicyVersion,
    Principal,
    PrincipalKind,
    ScpAttachment,
    SyncAccountRun,
    SyncRun,
    SyncStatus,
)
from governance.inventory.sync import summary, sync_organization

pytestmark = pytest.mark.django_db(transaction=False)

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
SCP = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}
HOSTILE_PATH = "/" + "<script>alert(1)</script>/" * 19 + "x" * 16 + "/"
assert len(HOSTILE_PATH) == 512


@dataclass
class SmallOrg:
    root: str
    ous: dict[str, str]
    accounts: dict[str, str]
    scp_id: str
    members: list[str] = field(default_factory=list)

    def iam(self, name: str):
        return session.client_for("iam", session.member_credentials(self.accounts[name]))


def build_small_org(n_accounts: int = 3) -> SmallOrg:
    """Root -> Prod (-> Payments), Dev; accounts spread over them, each with users, groups, roles."""
    org = session.management_client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    prod = org.create_organizational_unit(ParentId=root, Name="Prod")["OrganizationalUnit"]["Id"]
    payments = org.create_organizational_unit(ParentId=prod, Name="Payments")["OrganizationalUnit"]["Id"]
    dev = org.create_organizational_unit(ParentId=root, Name="Dev")["OrganizationalUnit"]["Id"]
    parents = [prod, payments, dev]
    accounts = {}
    for i in range(n_accounts):
        name = f"member-{i}"
        acct = org.create_account(
            AccountName=name, Email=f"{name}@example.com", Tags=[{"Key": "owner", "Value": f"owner-{i}@example.com"}]
        )["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=parents[i % 3])
        accounts[name] = acct
    scp = org.create_policy(
        Content=json.dumps(SCP), Description="no users", Name="deny-users", Type="SERVICE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=prod)
    org.attach_policy(PolicyId=scp, TargetId=accounts["member-0"])
    small = SmallOrg(root=root, ous={"prod": prod, "payments": payments, "dev": dev}, accounts=accounts, scp_id=scp)
    for name in accounts:
        _seed_account(small.iam(name))
    _seed_identity_center(list(accounts.values()))
    return small


def _seed_account(iam) -> None:
    policy = iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]
    iam.create_group(GroupName="developers")
    iam.attach_group_policy(GroupName="developers", PolicyArn=policy)
    iam.put_group_policy(GroupName="developers", PolicyName="extra", PolicyDocument=json.dumps(DOC2))
    for user in ("alice", "bob"):
        iam.create_user(UserName=user, Tags=[{"Key": "owner", "Value": "team-a"}])
        iam.add_user_to_group(GroupName="developers", UserName=user)
    iam.attach_user_policy(UserName="alice", PolicyArn=policy)
    iam.create_access_key(UserName="alice")
    iam.create_login_profile(UserName="bob", Password="S3cure-password!")
    iam.put_user_policy(UserName="bob", PolicyName="bob-inline", PolicyDocument=json.dumps(DOC))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust), PermissionsBoundary=policy)
    iam.attach_role_policy(RoleName="deployer", PolicyArn=policy)
    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True)


def _seed_identity_center(account_ids: list[str]) -> None:
    sso = session.management_client("sso-admin")
    store = session.management_client("identitystore")
    instance = sso.list_instances()["Instances"][0]
    instance_arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    user = store.create_user(
        IdentityStoreId=store_id,
        UserName="arthur.auditor",
        DisplayName="Arthur \u202eAuditor <b>",
        Name={"GivenName": "Arthur", "FamilyName": "Auditor"},
        Emails=[{"Value": "arthur.auditor@example.com", "Primary": True}],
    )["UserId"]
    member = store.create_user(
        IdentityStoreId=store_id, UserName="rick", DisplayName="Rick", Name={"GivenName": "R", "FamilyName": "R"}
    )["UserId"]
    group = store.create_group(IdentityStoreId=store_id, DisplayName="auditors")["GroupId"]
    store.create_group_membership(IdentityStoreId=store_id, GroupId=group, MemberId={"UserId": member})
    ps = sso.create_permission_set(InstanceArn=instance_arn, Name="GovernanceAuditor")["PermissionSet"][
        "PermissionSetArn"
    ]
    sso.put_inline_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=ps, InlinePolicy=json.dumps(DOC))
    sso.attach_managed_policy_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=ps, ManagedPolicyArn="arn:aws:iam::aws:policy/SecurityAudit"
    )
    for principal_type, principal_id in (("USER", user), ("GROUP", group)):
        sso.create_account_assignment(
            InstanceArn=instance_arn,
            TargetId=account_ids[0],
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=ps,
            PrincipalType=principal_type,
            PrincipalId=principal_id,
        )


def test_it_syncs_the_demo_organization(demo_org):
    iam_counts = {}
    for account_id in demo_org.accounts.values():
        iam = session.client_for("iam", session.member_credentials(account_id))
        iam_counts[account_id] = (
            len(iam.list_users()["Users"]),
            len(iam.list_roles()["Roles"]),
            len(iam.list_groups()["Groups"]),
        )
    with calls.counting() as log:
        run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert Account.objects.count() == len(demo_org.accounts)
    for account_id, (users, roles, groups) in iam_counts.items():
        stored = _present(Principal).filter(account__account_id=account_id)
        assert stored.filter(kind=PrincipalKind.IAM_USER).count() == users
        assert stored.filter(kind=PrincipalKind.IAM_ROLE).count() == roles
        assert stored.filter(kind=PrincipalKind.IAM_GROUP).count() == groups
    assert _present(Principal).filter(kind=PrincipalKind.SSO_USER).count() == len(demo_org.sso_users)
    assert _present(Principal).filter(kind=PrincipalKind.SSO_GROUP).count() == len(demo_org.sso_groups)
    assert _present(PermissionSet).count() == len(demo_org.permission_sets)
    assert _present(Policy).filter(kind=PolicyKind.SCP).count() >= len(demo_org.scps)
    for name, owner in demo_org.account_owners.items():
        assert Account.objects.get(account_id=demo_org.accounts[name]).owner == owner
    n_accounts, n_ous = len(demo_org.accounts), len(demo_org.ous)
    n_scps = _present(Policy).filter(kind=PolicyKind.SCP).count()
    structural = log.count("organizations") - log.count("organizations", "ListTagsForResource")
    assert structural <= n_accounts / 20 + 2 * n_ous + 3 * n_scps + 10
    for account_run in run.account_runs.all():
        assert account_run.status == AccountSyncStatus.SUCCEEDED
    assert log.count("iam") - 1 <= 5 * n_accounts
    again = sync_organization()
    assert again.changes == 0, again.counts


def _present(model):
    return model.objects.filter(removed_at__isnull=True)


def test_it_copies_what_aws_returns(emulator):
    small = build_small_org()
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    n = len(small.accounts) + 1  # the management account too
    assert Account.objects.count() == n
    assert run.accounts_done == n and run.accounts_total == n
    assert _present(OrganizationalUnit).count() == 4
    payments = OrganizationalUnit.objects.get(ou_id=small.ous["payments"])
    assert payments.depth == 2 and payments.path == f"{small.root}/{small.ous['prod']}/{small.ous['payments']}/"
    member0 = Account.objects.get(account_id=small.accounts["member-0"])
    assert member0.owner == "owner-0@example.com" and member0.parent.ou_id == small.ous["prod"]
    assert ScpAttachment.objects.filter(policy__kind=PolicyKind.SCP).count() >= 2
    for name, account_id in small.accounts.items():
        iam = small.iam(name)
        users = iam.list_users()["Users"]
        roles = iam.list_roles()["Roles"]
        stored = _present(Principal).filter(account__account_id=account_id)
        assert stored.filter(kind=PrincipalKind.IAM_USER).count() == len(users)
        assert stored.filter(kind=PrincipalKind.IAM_ROLE).count() == len(roles)
        assert stored.filter(kind=PrincipalKind.IAM_GROUP).count() == len(iam.list_groups()["Groups"])
    alice = Principal.objects.get(arn__endswith=f"{small.accounts['member-1']}:user/alice")
    held = set(alice.entitlements.values_list("policy__name", "via"))
    assert held == {
        ("app-read", EntitlementVia.DIRECT),
        ("app-read", EntitlementVia.GROUP),
        ("extra", EntitlementVia.GROUP),
    }
    assert alice.owner == "team-a" and alice.mfa_enabled is False
    assert AccessKey.objects.get(principal=alice).status == "Active"
    bob = Principal.objects.get(arn__endswith=f"{small.accounts['member-1']}:user/bob")
    assert bob.password_enabled is True
    assert ("bob-inline", EntitlementVia.INLINE) in set(bob.entitlements.values_list("policy__name", "via"))
    role = Principal.objects.get(arn__endswith=f"{small.accounts['member-1']}:role/deployer")
    assert role.permissions_boundary.name == "app-read" and role.trust_policy["Statement"][0]["Principal"] == {
        "AWS": "*"
    }
    assert PasswordPolicy.objects.get(account__account_id=small.accounts["member-1"]).minimum_length == 14
    # Two users and the root user, whose line every credential report starts with.
    assert CredentialReportRow.objects.filter(account__account_id=small.accounts["member-1"]).count() == 3
    assert GroupMembership.objects.filter(group__kind=PrincipalKind.IAM_GROUP).count() == 2 * len(small.accounts)

    auditor = Principal.objects.get(kind=PrincipalKind.SSO_USER, user_name="arthur.auditor")
    assert auditor.email == "arthur.auditor@example.com" and auditor.display_name == "Arthur \u202eAuditor <b>"
    assert PermissionSet.objects.get().name == "GovernanceAuditor"
    assert AccountAssignment.objects.count() == 2
    rick = Principal.objects.get(kind=PrincipalKind.SSO_USER, user_name="rick")
    assert set(rick.entitlements.values_list("via", "via_group__name", "account__account_id")) == {
        (EntitlementVia.GROUP, "auditors", small.accounts["member-0"])
    }
    assert auditor.entitlements.filter(via=EntitlementVia.PERMISSION_SET).count() == 2

    line = summary(run)
    assert line["errors"] == 0 and line["accounts"] == n
    assert line["principals"] == _present(Principal).count()
    assert line["entitlements"] == _present(Entitlement).count()


def test_a_second_sync_with_no_change_writes_nothing(emulator, django_assert_max_num_queries):
    build_small_org()
    first = sync_organization()
    assert first.changes > 0
    snapshot = _state()
    second = sync_organization()
    assert second.status == SyncStatus.SUCCEEDED, second.errors
    assert second.changes == 0
    assert _state() == snapshot
    assert all(r.changes == 0 for r in second.account_runs.all())
    # Nothing was parsed or ingested again: every account's read matched its stored digest.
    assert first.counts["accounts_unchanged"] == 0
    assert second.counts["accounts_unchanged"] == second.accounts_total == first.accounts_total


def _state():
    models = (
        Account,
        OrganizationalUnit,
        Policy,
        PolicyVersion,
        Principal,
        Entitlement,
        GroupMembership,
        AccessKey,
        CredentialReportRow,
        PasswordPolicy,
        PermissionSet,
        AccountAssignment,
        ScpAttachment,
    )
    return {m.__name__: sorted(m.objects.values_list(*[f.attname for f in m._meta.concrete_fields])) for m in models}


def test_removal_and_return_are_recorded(emulator):
    small = build_small_org()
    sync_organization()
    iam = small.iam("member-2")
    iam.remove_user_from_group(GroupName="developers", UserName="bob")
    iam.delete_login_profile(UserName="bob")
    iam.delete_user_policy(UserName="bob", PolicyName="bob-inline")
    iam.delete_user(UserName="bob")
    run = sync_organization()
    assert run.changes > 0
    bob = Principal.objects.get(arn__endswith=f"{small.accounts['member-2']}:user/bob")
    assert bob.removed_at is not None
    assert not bob.entitlements.filter(removed_at__isnull=True).exists()
    assert Policy.objects.get(principal=bob, kind=PolicyKind.INLINE).removed_at is not None
    # Bob elsewhere is untouched.
    assert Principal.objects.get(arn__endswith=f"{small.accounts['member-1']}:user/bob").removed_at is None

    iam.create_user(UserName="bob", Tags=[{"Key": "owner", "Value": "team-a"}])
    sync_organization()
    bob.refresh_from_db()
    assert bob.removed_at is None
    assert Principal.objects.filter(arn=bob.arn).count() == 1


def test_a_changed_policy_document_gets_a_new_version(emulator):
    small = build_small_org()
    sync_organization()
    iam = small.iam("member-0")
    arn = f"arn:aws:iam::{small.accounts['member-0']}:policy/app-read"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(DOC2), SetAsDefault=True)
    run = sync_organization()
    policy = Policy.objects.get(arn=arn)
    assert policy.version == 2 and policy.document == DOC2 and policy.aws_version_id == "v2"
    assert list(policy.versions.order_by("version").values_list("version", "document")) == [(1, DOC), (2, DOC2)]
    assert run.account_runs.get(aws_account_id=small.accounts["member-0"]).changes == 1
    assert run.account_runs.filter(changes=0).count() == len(small.accounts)


def test_one_account_refusing_assume_role_leaves_the_others_syncing(emulator):
    small = build_small_org()
    sync_organization()
    refused = small.accounts["member-1"]
    # moto lets anyone assume any role, so the refusal is injected at the API boundary: a
    # before-call handler on the STS client answers AssumeRole for that one role ARN with the
    # AccessDenied AWS would return; every other call goes to the emulator.
    sts = session.management_client("sts")

    def deny(params, **kwargs):
        role_arn = (params.get("body") or {}).get("RoleArn", "")
        if refused in role_arn:
            response = AWSResponse("https://sts.amazonaws.com", 403, {}, None)
            return response, {"Error": {"Code": "AccessDenied", "Message": f"Not authorized to assume {role_arn}"}}
        return None

    sts.meta.events.register("before-call.sts.AssumeRole", deny)
    try:
        small.iam("member-0").delete_user_policy(UserName="bob", PolicyName="bob-inline")
        run = sync_organization()
    finally:
        sts.meta.events.unregister("before-call.sts.AssumeRole", deny)
    assert run.status == SyncStatus.PARTIAL
    failed = run.account_runs.get(aws_account_id=refused)
    assert failed.status == AccountSyncStatus.FAILED and "AccessDenied" in failed.error
    assert run.account_runs.filter(status=AccountSyncStatus.SUCCEEDED).count() == len(small.accounts)
    assert run.errors == [{"scope": "account", "account": refused, "error": failed.error}]
    # The refused account's inventory is kept as it was, not marked removed.
    assert not Principal.objects.filter(account__account_id=refused, removed_at__isnull=False).exists()
    # The others synced, including a change.
    assert Policy.objects.get(name="bob-inline", account__account_id=small.accounts["member-0"]).removed_at is not None


def _throttle(times: int):
    """A before-send handler answering the first `times` IAM requests with AWS's Throttling error.

    before-send short-circuits the HTTP request but not botocore's retry handler, so this is what
    a throttled endpoint looks like to the client (a Stubber response would bypass retries).
    """
    state = {"left": times}
    body = (
        b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )

    class Raw:
        def __init__(self, data):
            self._data = data

        def stream(self, **kwargs):
            yield self._data

    def handler(request, **kwargs):
        body_text = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if state["left"] <= 0 or "GetAccountAuthorizationDetails" not in body_text or "AWSManagedPolicy" in body_text:
            return None
        state["left"] -= 1
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, Raw(body))

    return handler, state


def test_throttling_is_answered_by_retries(emulator, settings):
    small = build_small_org(n_accounts=1)
    handler, state = _throttle(2)
    session.shared_session().events.register("before-send.iam", handler)
    try:
        with calls.counting() as log:
            run = sync_organization()
    finally:
        session.shared_session().events.unregister("before-send.iam", handler)
    assert state["left"] == 0
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert log.attempts > log.total
    assert _present(Principal).filter(account__account_id=small.accounts["member-0"]).exists()


def test_throttling_that_outlasts_the_retries_fails_only_that_account(emulator, settings):
    settings.AWS_MAX_ATTEMPTS = 2
    session.reset()
    build_small_org(n_accounts=2)
    # AWS_MAX_ATTEMPTS is the total number of attempts (first try included); with one worker,
    # that many throttles all land on the first account read.
    handler, state = _throttle(settings.AWS_MAX_ATTEMPTS)
    session.shared_session().events.register("before-send.iam", handler)
    settings.AWS_SYNC_WORKERS = 1
    try:
        with calls.counting() as log:
            run = sync_organization()
    finally:
        session.shared_session().events.unregister("before-send.iam", handler)
    assert state["left"] == 0
    assert run.status == SyncStatus.PARTIAL, (log.attempts, log.total)
    failed = run.account_runs.filter(status=AccountSyncStatus.FAILED)
    assert failed.count() == 1 and "Throttling" in failed.get().error
    assert run.account_runs.filter(status=AccountSyncStatus.SUCCEEDED).count() == 2


def sync_with_users_changed(account_id: str, change) -> SyncRun:
    """Sync, with `change(user)` applied to each of `account_id`'s users as the IAM read returns them."""

    def corrupt(parsed, **kwargs):
        for user in parsed.get("UserDetailList", []):
            if f":{account_id}:" in user.get("Arn", ""):
                change(user)

    session.shared_session().events.register("after-call.iam.GetAccountAuthorizationDetails", corrupt)
    try:
        return sync_organization()
    finally:
        session.shared_session().events.unregister("after-call.iam.GetAccountAuthorizationDetails", corrupt)


def test_malformed_data_is_recorded_on_the_account(emulator):
    small = build_small_org()
    bad = small.accounts["member-2"]

    run = sync_with_users_changed(bad, lambda user: user.pop("UserName"))
    assert run.status == SyncStatus.PARTIAL
    failed = run.account_runs.get(aws_account_id=bad)
    assert failed.status == AccountSyncStatus.FAILED and failed.error.startswith("Malformed data")
    assert not Principal.objects.filter(account__account_id=bad).exists()
    assert Principal.objects.filter(account__account_id=small.accounts["member-0"]).exists()


def test_call_economy(emulator):
    small = build_small_org(n_accounts=4)
    with calls.counting() as log:
        run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    n_accounts = len(small.accounts) + 1
    n_ous, n_scps = 3, 1 + 1  # moto's FullAWSAccess SCP is there too
    structural = log.count("organizations") - log.count("organizations", "ListTagsForResource")
    assert structural <= n_accounts / 20 + 2 * n_ous + 3 * n_scps + 10
    assert log.count("organizations", "ListTagsForResource") == n_accounts
    # AWS managed policy documents are read once per sync, not per account.
    assert log.count("iam", "GetAccountAuthorizationDetails") == n_accounts + 1
    # Key ids: one ListAccessKeys per user holding a key the inventory has not seen, none after.
    key_holders = dict(
        AccessKey.objects.values_list("account__account_id").annotate(n=Count("principal", distinct=True))
    )
    assert log.count("iam", "ListAccessKeys") == sum(key_holders.values()) > 0
    assert not AccessKey.objects.filter(access_key_id="").exists()
    for account_run in SyncAccountRun.objects.filter(run=run):
        # tags + AssumeRole + IAM, and the key listings
        assert account_run.api_calls <= 1 + 1 + 5 + key_holders.get(account_run.aws_account_id, 0), account_run.counts
    assert log.count("sts", "AssumeRole") == n_accounts
    member_iam = log.count("iam") - 1 - log.count("iam", "ListAccessKeys")  # minus the AWS managed read
    assert member_iam <= 5 * n_accounts
    # An unchanged re-sync (nothing parsed) reads AWS as the first one did, less the key listings.
    with calls.counting() as again:
        second = sync_organization()
    assert second.counts["accounts_unchanged"] == n_accounts
    assert again.calls == Counter({k: v for k, v in log.calls.items() if k != "iam.ListAccessKeys"})


def test_hostile_names_are_stored_intact(emulator):
    small = build_small_org(n_accounts=1)
    iam = small.iam("member-0")
    iam.create_user(
        UserName="eve", Path=HOSTILE_PATH, Tags=[{"Key": "owner", "Value": "<img src=x onerror=alert(1)> \u202eevil"}]
    )
    org = session.management_client("organizations")
    org.tag_resource(
        ResourceId=small.accounts["member-0"], Tags=[{"Key": "owner", "Value": "\u05e9\u05dc\u05d5\u05dd <i>"}]
    )
    sync_organization()
    eve = Principal.objects.get(name="eve")
    assert eve.path == HOSTILE_PATH and eve.arn.endswith(f":user{HOSTILE_PATH}eve")
    assert eve.owner == "<img src=x onerror=alert(1)> \u202eevil"
    assert Account.objects.get(account_id=small.accounts["member-0"]).owner == "\u05e9\u05dc\u05d5\u05dd <i>"


def test_sync_aws_prints_the_summary_last(emulator, capsys):
    build_small_org(n_accounts=1)
    call_command("sync_aws")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    line = json.loads(last)
    assert {"accounts", "principals", "entitlements", "api_calls", "changes", "seconds", "errors"} <= set(line)
    assert line["errors"] == 0 and line["accounts"] == 2 and line["changes"] > 0
    assert SyncRun.objects.get().status == SyncStatus.SUCCEEDED


def test_sync_aws_one_account(emulator, capsys):
    small = build_small_org(n_accounts=2)
    call_command("sync_aws", "--account", small.accounts["member-1"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["accounts"] == 1
    assert not Principal.objects.filter(account__account_id=small.accounts["member-0"]).exists()
