"""Ingest without AWS: reconciliation, idempotence, versions, batches and the identical-read skip."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.aws.readers.types import (
    AccountIam,
    AttachedPolicy,
    CredentialReportEntry,
    IamGroup,
    IamUser,
    InlinePolicy,
    ManagedPolicy,
    OrgAccount,
    OrgInfo,
    OrgSnapshot,
    OrgUnit,
    PasswordPolicyInfo,
)
from governance.inventory import ingest, services
from governance.inventory.ingest import Row
from governance.inventory.models import (
    AccessKey,
    Account,
    Entitlement,
    EntitlementVia,
    PermissionSet,
    Policy,
    PolicyVersion,
    Principal,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = datetime(2026, 1, 2, tzinfo=UTC)
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
# The columns _ps fills (reconcile writes only the fields it is given), not all of services.PERMISSION_SET_FIELDS.
FIELDS = ("instance_arn", "arn", "name", "description", "session_duration", "relay_state", "created")


def _ps(name: str, description: str = "") -> Row:
    values = ("arn:aws:sso:::instance/i", f"arn:aws:sso:::permissionSet/i/{name}", name, description, "PT1H", "", None)
    return Row(key=ingest.digest("ps", name), values=values, hash=ingest.fingerprint(values))


def test_it_inserts_updates_removes_and_brings_back():
    _, outcome = ingest.reconcile(PermissionSet, scope="sso", fields=FIELDS, rows=[_ps("a"), _ps("b")], now=NOW)
    assert outcome.inserted == 2
    _, outcome = ingest.reconcile(PermissionSet, scope="sso", fields=FIELDS, rows=[_ps("a", "changed")], now=LATER)
    assert (outcome.updated, outcome.removed) == (1, 1)
    a, b = PermissionSet.objects.get(name="a"), PermissionSet.objects.get(name="b")
    assert a.description == "changed" and a.last_seen == LATER and a.first_seen == NOW
    assert b.removed_at == LATER
    _, outcome = ingest.reconcile(
        PermissionSet, scope="sso", fields=FIELDS, rows=[_ps("a", "changed"), _ps("b")], now=NOW
    )
    b.refresh_from_db()
    assert outcome.updated == 1 and b.removed_at is None and PermissionSet.objects.count() == 2


def test_an_unchanged_scope_costs_one_select_and_writes_nothing(django_assert_num_queries):
    ingest.reconcile(PermissionSet, scope="sso", fields=FIELDS, rows=[_ps("a"), _ps("b")], now=NOW)
    with django_assert_num_queries(1):
        _, outcome = ingest.reconcile(PermissionSet, scope="sso", fields=FIELDS, rows=[_ps("a"), _ps("b")], now=LATER)
    assert outcome.changes == 0
    assert set(PermissionSet.objects.values_list("last_seen", flat=True)) == {NOW}


def test_a_scope_never_removes_another_scopes_rows():
    ingest.reconcile(PermissionSet, scope="sso", fields=FIELDS, rows=[_ps("a")], now=NOW)
    _, outcome = ingest.reconcile(PermissionSet, scope="other", fields=FIELDS, rows=[], now=LATER)
    assert outcome.removed == 0 and PermissionSet.objects.get().removed_at is None


def test_rows_planned_over_several_scopes_must_say_which():
    with pytest.raises(ValueError, match="carry their scope"):
        ingest.plan(PermissionSet, scopes=["a", "b"], rows=[_ps("x")])


# IAM ingest ---------------------------------------------------------------------------------------


def _org(*account_ids: str) -> dict[str, int]:
    info = OrgInfo("o-test", "arn:org", "ALL", "100000000000", "m@example.com")
    root = OrgUnit("r-1", "arn:root", "Root", None, is_root=True)
    accounts = tuple(
        OrgAccount(a, f"arn:acct:{a}", f"acct {a}", f"{a}@example.com", "ACTIVE", "CREATED", None, "r-1")
        for a in account_ids
    )
    services.ingest_organization(snapshot=OrgSnapshot(info, (root,), accounts, ()), now=NOW)
    return dict(Account.objects.values_list("account_id", "id"))


def _iam(account_id: str, *, document=DOC, users=("alice", "bob"), digest: str = "") -> AccountIam:
    policy_arn = f"arn:aws:iam::{account_id}:policy/app"
    group = IamGroup(
        f"arn:aws:iam::{account_id}:group/devs", "devs", "/", "G1", None,
        (AttachedPolicy(policy_arn, "app"), AttachedPolicy("arn:aws:iam::aws:policy/ReadOnlyAccess", "ReadOnlyAccess")),
        (InlinePolicy("devs-inline", DOC),),
    )  # fmt: skip
    iam_users = tuple(
        IamUser(f"arn:aws:iam::{account_id}:user/{u}", u, "/", f"U{u}", None, ("devs",),
                (AttachedPolicy(policy_arn, "app"),), (), "", {"owner": f"{u}@example.com"})
        for u in users
    )  # fmt: skip
    report = tuple(
        CredentialReportEntry(u, f"arn:aws:iam::{account_id}:user/{u}", None, False, None, None, None, True, True,
                              NOW, None, "", "", False, None, None, "", "", False, False)
        for u in users
    )  # fmt: skip
    managed = ManagedPolicy(policy_arn, "app", "/", "P1", "v1", document, 2, "", None, None)
    return AccountIam(
        account_id, iam_users, (group,), (), (managed,), report, None, PasswordPolicyInfo(False), {}, digest
    )


def test_it_builds_entitlements_by_how_they_are_held():
    pks = _org("111111111111")
    index = services.PolicyIndex()
    result = services.ingest_account_iam(iam=_iam("111111111111"), account_pk=pks["111111111111"], now=NOW, index=index)
    alice = Principal.objects.get(name="alice")
    held = set(alice.entitlements.values_list("policy__name", "via", "via_group__name"))
    assert held == {
        ("app", EntitlementVia.DIRECT, None),
        ("app", EntitlementVia.GROUP, "devs"),
        ("ReadOnlyAccess", EntitlementVia.GROUP, "devs"),
        ("devs-inline", EntitlementVia.GROUP, "devs"),
    }
    assert result.counts["entitlements"] == Entitlement.objects.count() == 11
    assert alice.owner == "alice@example.com" and alice.mfa_enabled is True
    assert AccessKey.objects.filter(principal=alice, status="Active").exists()
    assert Policy.objects.get(name="ReadOnlyAccess").document is None  # known by ARN until AWS's documents are read


def test_a_changed_document_is_a_new_version_and_a_removed_user_is_marked():
    pks = _org("111111111111")
    index = services.PolicyIndex()
    services.ingest_account_iam(iam=_iam("111111111111"), account_pk=pks["111111111111"], now=NOW, index=index)
    changed = _iam("111111111111", document=DOC2, users=("alice",))
    result = services.ingest_account_iam(iam=changed, account_pk=pks["111111111111"], now=LATER, index=index)
    policy = Policy.objects.get(name="app")
    assert policy.version == 2 and policy.document == DOC2
    assert list(PolicyVersion.objects.filter(policy=policy).order_by("version").values_list("document", flat=True)) == [
        DOC,
        DOC2,
    ]
    bob = Principal.objects.get(name="bob")
    assert bob.removed_at == LATER and not bob.entitlements.filter(removed_at__isnull=True).exists()
    assert result.changes > 0


def test_a_batch_stores_what_one_by_one_would():
    pks = _org("111111111111", "222222222222")
    index = services.PolicyIndex()
    results = services.ingest_accounts_iam(
        items=[
            (_iam("111111111111"), pks["111111111111"]),
            (_iam("222222222222", users=("carol",)), pks["222222222222"]),
        ],
        now=NOW,
        index=index,
    )
    assert results["111111111111"].changes > 0 and results["222222222222"].changes > 0
    batched = sorted(Entitlement.objects.values_list("principal__arn", "policy__arn", "via"))
    one = services.ingest_account_iam(iam=_iam("111111111111"), account_pk=pks["111111111111"], now=LATER, index=index)
    assert one.changes == 0
    assert sorted(Entitlement.objects.values_list("principal__arn", "policy__arn", "via")) == batched
    assert Principal.objects.get(name="carol").account.account_id == "222222222222"


def test_an_identical_read_is_skipped_without_writing():
    pks = _org("111111111111")
    index = services.PolicyIndex()
    iam = _iam("111111111111", digest="d1")
    services.ingest_account_iam(iam=iam, account_pk=pks["111111111111"], now=NOW, index=index)
    assert Account.objects.get(account_id="111111111111").iam_digest == "d1"
    with CaptureQueriesContext(connection) as queries:
        result = services.ingest_account_iam(iam=iam, account_pk=pks["111111111111"], now=LATER, index=index)
    assert len(queries) == 1 and result.changes == 0 and result.counts["entitlements"] == 11
    # A different read is compared row by row again.
    changed = replace(_iam("111111111111", users=("alice",)), digest="d2")
    assert services.ingest_account_iam(iam=changed, account_pk=pks["111111111111"], now=LATER, index=index).changes > 0
    assert Account.objects.get(account_id="111111111111").iam_digest == "d2"
