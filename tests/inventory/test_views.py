"""Inventory pages: who sees what, what each page shows, hostile names, pagination, query counts.

Rows are written straight into the database on top of the personas' slice of the demo
organization (`persona_inventory`): fast, and every test controls exactly what is there. The
demo organization synced from the emulator is rendered in test_pages_demo.py.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.inventory import panels
from governance.inventory.models import (
    AccessKey,
    Account,
    AccountAssignment,
    AccountSyncStatus,
    AdminAccess,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    OrganizationalUnit,
    PasswordPolicy,
    PermissionSetPolicy,
    Policy,
    PolicyKind,
    PolicyVersion,
    Principal,
    PrincipalKind,
    ScpAttachment,
    ScpTargetType,
    SyncAccountRun,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from governance.inventory.pagination import encode_cursor
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID, OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS

pytestmark = pytest.mark.django_db

OWNED = OWNED_ACCOUNT_IDS[0]
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
SCRIPT = "<script>alert(1)</script>"
RTL = "evil\u202egnp.exe"
HOSTILE_PATH = "/" + "<script>alert(1)</script>/" * 19 + "x" * 16 + "/"
assert len(HOSTILE_PATH) == 512

INVENTORY_PAGES = [
    ("inventory:org_tree", {}),
    ("inventory:account", {"account_id": OWNED}),
    ("inventory:search", {}),
    ("inventory:sync", {}),
    ("inventory:sync_progress", {}),
]
_seq = itertools.count()


def synced(scope: str = "test", removed: bool = False) -> dict:
    now = timezone.now()
    key = hashlib.md5(f"k{next(_seq)}".encode(), usedforsecurity=False).hexdigest()
    return {
        "key": key,
        "scope": scope,
        "content_hash": key,
        "first_seen": now,
        "last_seen": now,
        "removed_at": now if removed else None,
    }


def account(account_id: str) -> Account:
    return Account.objects.get(account_id=account_id)


def principal(acct: Account, name: str, kind: str = PrincipalKind.IAM_USER, *, removed: bool = False, **extra):
    noun = {PrincipalKind.IAM_USER: "user", PrincipalKind.IAM_GROUP: "group"}.get(kind, "role")
    return Principal.objects.create(
        kind=kind,
        account=acct,
        arn=f"arn:aws:iam::{acct.account_id}:{noun}{extra.get('path', '/')}{name}-{next(_seq)}",
        name=name,
        **extra,
        **synced(f"iam:{acct.account_id}", removed),
    )


def policy(name: str, kind: str = PolicyKind.CUSTOMER_MANAGED, *, document=DOC, acct: Account | None = None, **extra):
    return Policy.objects.create(
        kind=kind,
        arn=f"arn:aws:iam::{acct.account_id if acct else 'aws'}:policy/{name}-{next(_seq)}",
        name=name,
        account=acct,
        document=document,
        **extra,
        **synced(),
    )


def entitle(who: Principal, pol: Policy, via: str = EntitlementVia.DIRECT, *, removed: bool = False, **extra):
    return Entitlement.objects.create(
        principal=who, policy=pol, via=via, account=who.account, **extra, **synced(removed=removed)
    )


def get(client, name: str, **kwargs):
    query = kwargs.pop("query", "")
    return client.get(reverse(name, kwargs=kwargs) + (f"?{query}" if query else ""))


def text(response) -> str:
    return response.content.decode()


# Who may see what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["requester", "outsider"])
@pytest.mark.parametrize(("name", "kwargs"), INVENTORY_PAGES)
def test_it_refuses_people_without_inventory_rights(persona_client, persona, name, kwargs):
    assert get(persona_client(persona), name, **kwargs).status_code == 403


@pytest.mark.parametrize("persona", ["requester", "outsider"])
def test_it_shows_no_inventory_nav_to_people_without_rights(persona_client, persona):
    page = text(persona_client(persona).get(reverse("dashboard")))
    assert reverse("inventory:org_tree") not in page
    assert reverse("inventory:sync") not in page


def test_it_shows_the_inventory_nav_to_an_auditor_and_no_sync_entry_to_a_manager(persona_client):
    auditor = text(persona_client("auditor").get(reverse("dashboard")))
    assert f'href="{reverse("inventory:org_tree")}"' in auditor
    assert f'href="{reverse("inventory:sync")}"' in auditor
    manager = text(persona_client("manager").get(reverse("dashboard")))
    assert f'href="{reverse("inventory:org_tree")}"' in manager
    assert f'href="{reverse("inventory:sync")}"' not in manager


def test_it_refuses_the_sync_page_to_a_manager(persona_client):
    assert get(persona_client("manager"), "inventory:sync").status_code == 403


def test_it_answers_404_for_an_account_the_manager_does_not_own(persona_client):
    client = persona_client("manager")
    assert get(client, "inventory:account", account_id=OTHER_ACCOUNT_ID).status_code == 404
    assert get(client, "inventory:account", account_id=GOVERNANCE_ACCOUNT_ID).status_code == 404
    assert get(client, "inventory:account", account_id=OWNED).status_code == 200


def test_it_answers_404_for_a_principal_the_manager_does_not_own(persona_client, persona_inventory):
    client = persona_client("manager")
    assert get(client, "inventory:principal", principal_id=persona_inventory.other_role.pk).status_code == 404
    response = get(client, "inventory:principal", principal_id=persona_inventory.manager_role.pk)
    assert response.status_code == 200
    # The role's account is not the manager's: named, not linked.
    assert reverse("inventory:account", kwargs={"account_id": OTHER_ACCOUNT_ID}) not in text(response)


def test_it_answers_404_for_accounts_and_principals_that_do_not_exist(persona_client):
    client = persona_client("auditor")
    assert get(client, "inventory:account", account_id="999999999999").status_code == 404
    assert get(client, "inventory:account", account_id="not-an-id").status_code == 404
    assert get(client, "inventory:principal", principal_id=987654).status_code == 404


@pytest.mark.parametrize("persona", ["auditor", "policy_admin", "campaign_admin"])
def test_it_shows_every_account_to_people_who_see_everything(persona_client, persona):
    page = text(get(persona_client(persona), "inventory:org_tree"))
    for name in ("management", "payments-prod", "payments-dev", "shared-services"):
        assert name in page


def test_it_shows_a_manager_only_their_accounts_in_the_tree(persona_client):
    page = text(get(persona_client("manager"), "inventory:org_tree"))
    assert "payments-prod" in page and "payments-dev" in page
    assert "shared-services" not in page and ">management<" not in page
    assert "2 accounts" in page


# Org tree -----------------------------------------------------------------------------------------


def test_the_tree_shows_ous_accounts_and_the_scps_at_each_node(persona_client, persona_inventory):
    org = persona_inventory.organization
    root = OrganizationalUnit.objects.get(is_root=True)
    prod = OrganizationalUnit.objects.create(
        organization=org, ou_id="ou-demo-prod", arn="arn:ou", name="Production", parent=root,
        path="r-demo/ou-demo-prod/", depth=1, **synced(),
    )  # fmt: skip
    Account.objects.filter(account_id=OWNED).update(parent=prod)
    deny = policy("DenyLeaveOrg", PolicyKind.SCP)
    region = policy("RegionLock", PolicyKind.SCP)
    ScpAttachment.objects.create(policy=deny, target_type=ScpTargetType.ROOT, target_id="r-demo", unit=root, **synced())
    ScpAttachment.objects.create(
        policy=region, target_type=ScpTargetType.ACCOUNT, target_id=OWNED, account=account(OWNED), **synced()
    )
    page = text(get(persona_client("auditor"), "inventory:org_tree"))
    assert "Production" in page and "ou-demo-prod" in page
    assert "SCP <bdi>DenyLeaveOrg</bdi>" in page and "SCP <bdi>RegionLock</bdi>" in page
    assert "4 accounts" in page  # the root's subtree
    assert "1 account<" in page  # Production
    assert page.index("Production") < page.index("payments-prod")
    ScpAttachment.objects.create(
        policy=deny, target_type=ScpTargetType.ORGANIZATIONAL_UNIT, target_id=prod.ou_id, unit=prod, **synced()
    )
    page = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED))
    # Attached at the root and at Production: in effect once, saying where it comes from.
    assert page.count("SCP <bdi>DenyLeaveOrg</bdi>") == 1
    assert "attached to Root, Production" in page
    assert "SCP <bdi>RegionLock</bdi>" in page and "attached to this account" in page


def test_the_tree_has_an_empty_state(persona_client):
    Account.objects.exclude(account_id=GOVERNANCE_ACCOUNT_ID).update(owner="")
    # The manager still owns a role, so still holds inventory.view, but no account.
    assert "No account's <code>owner</code> tag names you." in text(
        get(persona_client("manager"), "inventory:org_tree")
    )
    Account.objects.update(removed_at=timezone.now())
    OrganizationalUnit.objects.update(removed_at=timezone.now())
    assert "No inventory yet" in text(get(persona_client("auditor"), "inventory:org_tree"))


# Account page ---------------------------------------------------------------------------------------


def test_the_account_page_shows_principals_password_policy_and_last_sync(persona_client):
    acct = account(OWNED)
    principal(acct, "alice", mfa_enabled=False, last_used=timezone.now() - timedelta(days=3))
    principal(acct, "deployer", PrincipalKind.IAM_ROLE)
    PasswordPolicy.objects.create(
        account=acct, configured=True, minimum_length=14, require_symbols=True, reuse_prevention=24, **synced()
    )
    run = SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.SUCCEEDED, trigger=SyncTrigger.SCHEDULE)
    SyncAccountRun.objects.create(
        run=run, aws_account_id=OWNED, account=acct, status=AccountSyncStatus.SUCCEEDED, api_calls=4, seconds=1.2
    )
    page = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED))
    assert "alice" in page and "deployer" in page
    assert "1 IAM user · 1 IAM role" in page
    assert "<dt>Minimum length</dt><dd>14</dd>" in page
    assert "last 24" in page
    assert f"run #{run.pk}" in page and "4 AWS calls" in page
    assert "Succeeded" in page


def test_the_account_page_has_empty_states(persona_client):
    page = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED))
    assert "No principals in this account." in page
    assert "This account has not been synced yet." in page
    assert "Not synced yet." in page  # password policy
    acct = account(OWNED)
    PasswordPolicy.objects.create(account=acct, configured=False, **synced())
    page = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED, query="tab=entitlements"))
    assert "No entitlements recorded for this account." in page
    assert "The account has no IAM password policy" in page
    page = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED, query="tab=keys"))
    assert "No access keys in this account." in page


def test_the_account_page_shows_a_failed_sync_with_its_error(persona_client):
    run = SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.PARTIAL)
    SyncAccountRun.objects.create(
        run=run,
        aws_account_id=OWNED,
        account=account(OWNED),
        status=AccountSyncStatus.FAILED,
        error="AssumeRole: AccessDenied: not authorized <b>",
    )
    page = text(get(persona_client("manager"), "inventory:account", account_id=OWNED))
    assert "AssumeRole: AccessDenied: not authorized &lt;b&gt;" in page
    assert "Failed" in page
    assert reverse("inventory:sync") not in page.split("Last sync", 1)[1].split("</section>", 1)[0]


def test_the_account_page_filters_principals_by_kind(persona_client):
    acct = account(OWNED)
    principal(acct, "alice")
    principal(acct, "deployer", PrincipalKind.IAM_ROLE)
    page = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED, query="kind=iam_role"))
    assert "deployer" in page and ">alice<" not in page


def test_the_account_page_lists_entitlements_and_keys(persona_client):
    acct = account(OWNED)
    alice = principal(acct, "alice")
    entitle(alice, policy("ReadBuckets", acct=acct))
    AccessKey.objects.create(
        principal=alice, account=acct, slot=1, status="Active", created=timezone.now() - timedelta(days=400),
        last_used_service="s3", **synced(),
    )  # fmt: skip
    client = persona_client("manager")
    page = text(get(client, "inventory:account", account_id=OWNED, query="tab=entitlements"))
    assert "ReadBuckets" in page and "direct" in page
    page = text(get(client, "inventory:account", account_id=OWNED, query="tab=keys"))
    assert "1\xa0year" in page and "s3" in page and "Active" in page


def test_an_unknown_tab_and_a_garbled_cursor_show_the_first_page(persona_client):
    principal(account(OWNED), "alice")
    response = get(persona_client("auditor"), "inventory:account", account_id=OWNED, query="tab=nope&after=%%%zz")
    assert response.status_code == 200
    assert "alice" in text(response)


# Principal page -------------------------------------------------------------------------------------


@pytest.fixture
def alice(persona_inventory):
    """An IAM user with every way of holding a policy, keys, a boundary, in a group."""
    acct = account(OWNED)
    boundary = policy("DevBoundary", acct=acct, document={"Version": "2012-10-17", "Statement": []})
    user = principal(
        acct, "alice", mfa_enabled=False, password_enabled=True,
        password_last_used=timezone.now() - timedelta(days=2), permissions_boundary=boundary,
        last_used=timezone.now() - timedelta(days=1), tags={"team": "payments"},
    )  # fmt: skip
    group = principal(acct, "developers", PrincipalKind.IAM_GROUP)
    GroupMembership.objects.create(group=group, member=user, account=acct, **synced())
    entitle(user, policy("ReadBuckets", acct=acct))
    entitle(user, policy("alice-inline", PolicyKind.INLINE, acct=acct), EntitlementVia.INLINE)
    entitle(user, policy("DeployApps", acct=acct), EntitlementVia.GROUP, via_group=group)
    AccessKey.objects.create(
        principal=user, account=acct, slot=1, status="Active", created=timezone.now() - timedelta(days=200),
        last_used_date=timezone.now() - timedelta(days=5), last_used_service="ec2", last_used_region="eu-west-1",
        **synced(),
    )  # fmt: skip
    AccessKey.objects.create(principal=user, account=acct, slot=2, status="Inactive", created=None, **synced())
    return user


def test_the_principal_page_shows_where_each_entitlement_comes_from(persona_client, alice):
    page = text(get(persona_client("auditor"), "inventory:principal", principal_id=alice.pk))
    assert "ReadBuckets" in page and "alice-inline" in page and "DeployApps" in page
    assert '<span class="badge">direct</span>' in page
    assert '<span class="badge">inline</span>' in page
    group = Principal.objects.get(name="developers")
    assert (
        f'<span class="badge">via group</span> <a href="/inventory/principals/{group.pk}/"><bdi>developers</bdi></a>'
        in page
    )


def test_the_principal_page_pretty_prints_each_policy(persona_client, alice):
    page = text(get(persona_client("auditor"), "inventory:principal", principal_id=alice.pk))
    assert html.escape('  "Statement": [\n    {\n      "Effect": "Allow",', quote=True) in page
    assert page.count("Policy document</summary>") == 3


def test_the_principal_page_shows_sign_in_keys_boundary_and_groups(persona_client, alice):
    page = text(get(persona_client("auditor"), "inventory:principal", principal_id=alice.pk))
    assert re.search(r"<dt>MFA</dt><dd><span class=\"badge bad\">no</span>", page)
    assert "Password last used" in page and "2\xa0days ago" in page
    assert "<bdi>DevBoundary</bdi>" in page
    assert "Member of" in page and "developers" in page
    assert "ec2" in page and "eu-west-1" in page and "Inactive" in page
    assert "6\xa0months" in page  # key age
    assert "<bdi>team</bdi>=<bdi>payments</bdi>" in page


def test_the_principal_page_shows_a_roles_trust_policy(persona_client, persona_inventory):
    role = persona_inventory.manager_role
    Principal.objects.filter(pk=role.pk).update(trust_policy=TRUST)
    page = text(get(persona_client("manager"), "inventory:principal", principal_id=role.pk))
    assert "Trust policy" in page
    assert html.escape('"Service": "ec2.amazonaws.com"', quote=True) in page
    assert '<h2 id="keys">Access keys</h2>' not in page


def test_the_principal_page_names_permission_set_assignments(persona_client, persona_inventory):
    user = persona_inventory.sso_users["auditor"]
    pset = persona_inventory.permission_sets["GovernanceAuditor"]
    entitle(
        user, policy("SecurityAudit", PolicyKind.AWS_MANAGED, document=None), EntitlementVia.PERMISSION_SET,
        permission_set=pset,
    )  # fmt: skip
    page = text(get(persona_client("auditor"), "inventory:principal", principal_id=user.pk))
    assert (
        f'<span class="badge">permission set</span> <a href="/inventory/permission-sets/{pset.pk}/">'
        "<bdi>GovernanceAuditor</bdi></a> via assignment"
    ) in page
    assert "Document not available from this endpoint." in page
    assert "Permission set assignments" in page


def test_the_principal_page_has_empty_states(persona_client, persona_inventory):
    page = text(get(persona_client("manager"), "inventory:principal", principal_id=persona_inventory.manager_role.pk))
    assert "No entitlements" in page
    assert "No trust policy recorded." in page
    group = principal(account(OWNED), "empty-group", PrincipalKind.IAM_GROUP)
    page = text(get(persona_client("manager"), "inventory:principal", principal_id=group.pk))
    assert "This group has no members." in page


# Removed items --------------------------------------------------------------------------------------


def test_removed_items_are_hidden_until_asked_for_and_then_marked(persona_client, alice):
    acct = account(OWNED)
    principal(acct, "ghost", removed=True)
    entitle(alice, policy("OldGrant", acct=acct), removed=True)
    client = persona_client("auditor")
    page = text(get(client, "inventory:account", account_id=OWNED))
    assert "ghost" not in page and "Show removed" in page
    page = text(get(client, "inventory:account", account_id=OWNED, query="removed=1"))
    assert re.search(r"<bdi class=\"inv-name\">ghost</bdi> <span class=\"badge bad\"[^>]*>removed</span>", page)
    assert "Hide removed" in page
    page = text(get(client, "inventory:principal", principal_id=alice.pk))
    assert "OldGrant" not in page
    page = text(get(client, "inventory:principal", principal_id=alice.pk, query="removed=1"))
    assert re.search(r"OldGrant</bdi> <span class=\"badge bad\"[^>]*>removed</span>", page)
    assert 'inv-name">ghost' not in text(get(client, "inventory:search", query="q=ghost"))
    assert 'inv-name">ghost' in text(get(client, "inventory:search", query="q=ghost&removed=1"))


def test_a_removed_principal_still_opens_with_a_notice(persona_client):
    ghost = principal(account(OWNED), "ghost", removed=True)
    page = text(get(persona_client("auditor"), "inventory:principal", principal_id=ghost.pk))
    assert "AWS no longer returns this IAM user" in page


def test_removed_accounts_show_in_the_tree_only_when_asked(persona_client):
    Account.objects.filter(account_id=OTHER_ACCOUNT_ID).update(removed_at=timezone.now())
    client = persona_client("auditor")
    assert "shared-services" not in text(get(client, "inventory:org_tree"))
    assert "shared-services" in text(get(client, "inventory:org_tree", query="removed=1"))


# Hostile names ----------------------------------------------------------------------------------------


def test_hostile_names_are_escaped_everywhere(persona_client, persona_inventory):
    acct = account(OWNED)
    Account.objects.filter(pk=acct.pk).update(name=f"{SCRIPT} {RTL}")
    OrganizationalUnit.objects.filter(is_root=True).update(name=f"<img src=x onerror=alert(2)>{RTL}")
    user = principal(acct, f"{SCRIPT}{RTL}", path=HOSTILE_PATH, tags={SCRIPT: RTL})
    group = principal(acct, f"<b>{RTL}</b>", PrincipalKind.IAM_GROUP)
    GroupMembership.objects.create(group=group, member=user, account=acct, **synced())
    entitle(user, policy(SCRIPT, acct=acct, document={"Statement": [{"Sid": SCRIPT}]}), EntitlementVia.GROUP,
            via_group=group)  # fmt: skip
    client = persona_client("auditor")
    pages = [
        get(client, "inventory:org_tree"),
        get(client, "inventory:account", account_id=OWNED),
        get(client, "inventory:account", account_id=OWNED, query="tab=entitlements"),
        get(client, "inventory:principal", principal_id=user.pk),
        get(client, "inventory:search", query="q=script"),
    ]
    for response in pages:
        assert response.status_code == 200
        page = text(response)
        assert SCRIPT not in page
        assert "<img src=x" not in page and "<b>evil" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    principal_page = text(pages[3])
    assert html.escape(HOSTILE_PATH) in principal_page
    # Right-to-left overrides are shown as code points, inside an isolate, so they reorder nothing.
    revealed = RTL.replace("\u202e", "\u27e6U+202E\u27e7")
    assert f'<bdi class="inv-name">&lt;script&gt;alert(1)&lt;/script&gt;{revealed}</bdi>' in principal_page
    assert "&lt;b&gt;" + revealed + "&lt;/b&gt;</bdi>" in principal_page
    assert RTL not in principal_page.split("<main", 1)[1]
    assert html.escape('"Sid": "<script>alert(1)</script>"', quote=True) in principal_page


# Search ----------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(persona_inventory):
    owned = principal(account(OWNED), "payments-reader")
    other = principal(account(OTHER_ACCOUNT_ID), "payments-writer")
    return owned, other


def test_search_finds_by_name_grouped_by_kind(persona_client, searchable, persona_inventory):
    page = text(get(persona_client("auditor"), "inventory:search", query="q=payments"))
    assert "payments-reader" in page and "payments-writer" in page
    assert "payments-deployer" in page  # the manager's role
    assert "<h2>IAM roles</h2>" in page and "<h2>IAM users</h2>" in page
    assert '<h2 id="r-accounts">Accounts</h2>' in page  # payments-prod, payments-dev
    assert page.index("<h2>IAM roles</h2>") < page.index("payments-deployer")


def test_search_finds_by_arn_account_id_and_email(persona_client, searchable, persona_inventory):
    client = persona_client("auditor")
    owned, _ = searchable
    page = text(get(client, "inventory:search", query=f"q={owned.arn}"))
    assert "Matched on ARN" in page and "payments-reader" in page and "payments-writer" not in page
    page = text(get(client, "inventory:search", query=f"q={OTHER_ACCOUNT_ID}"))
    assert "Matched on account id" in page and "shared-services" in page
    page = text(get(client, "inventory:search", query="q=aws%2Bpayments-dev@example.com"))
    assert "payments-dev" in page and "payments-prod" not in page
    page = text(get(client, "inventory:search", query="q=ARTHUR.auditor@example.com"))
    assert "arthur.auditor" in page  # the Identity Center user, e-mail matched ignoring case


def test_search_is_scoped_to_what_the_user_may_see(persona_client, searchable):
    page = text(get(persona_client("manager"), "inventory:search", query="q=payments"))
    assert "payments-reader" in page and "payments-deployer" in page
    assert "payments-writer" not in page
    page = text(get(persona_client("manager"), "inventory:search", query=f"q={OTHER_ACCOUNT_ID}"))
    assert "Nothing you may see matches" in page


def test_search_has_empty_states(persona_client):
    client = persona_client("auditor")
    assert "Type an ARN, a name" in text(get(client, "inventory:search"))
    page = text(get(client, "inventory:search", query="q=%3Cscript%3Enothing"))
    assert "Nothing you may see matches" in page and "&lt;script&gt;nothing" in page


# Pagination --------------------------------------------------------------------------------------------


def _names(page: str) -> list[str]:
    return re.findall(r'<bdi class="inv-name">(bulk-\d+)</bdi>', page)


def _link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def test_keyset_pages_go_forward_and_back_without_gaps_or_repeats(persona_client):
    acct = account(OWNED)
    for i in range(120):
        principal(acct, f"bulk-{i:03d}")
    client = persona_client("auditor")
    url = reverse("inventory:account", kwargs={"account_id": OWNED})
    first = text(client.get(url))
    assert _names(first) == [f"bulk-{i:03d}" for i in range(50)]
    assert _link(first, "prev") is None
    second = text(client.get(url + _link(first, "next")))
    assert _names(second) == [f"bulk-{i:03d}" for i in range(50, 100)]
    third = text(client.get(url + _link(second, "next")))
    assert _names(third) == [f"bulk-{i:03d}" for i in range(100, 120)]
    assert _link(third, "next") is None
    back = text(client.get(url + _link(third, "prev")))
    assert _names(back) == _names(second)
    back_to_first = text(client.get(url + _link(back, "prev")))
    assert _names(back_to_first) == _names(first)
    assert _link(back_to_first, "prev") is None


def test_paging_keeps_the_other_parameters(persona_client):
    acct = account(OWNED)
    for i in range(60):
        principal(acct, f"bulk-{i:03d}", PrincipalKind.IAM_ROLE)
    principal(acct, "bulk-999")  # a user, filtered out
    first = text(get(persona_client("auditor"), "inventory:account", account_id=OWNED, query="kind=iam_role"))
    next_link = _link(first, "next")
    assert "kind=iam_role" in next_link
    second = text(persona_client("auditor").get(reverse("inventory:account", kwargs={"account_id": OWNED}) + next_link))
    assert _names(second) == [f"bulk-{i:03d}" for i in range(50, 60)]


def test_search_results_page_by_kind_then_name(persona_client):
    acct = account(OWNED)
    for i in range(40):
        principal(acct, f"bulk-{i:03d}", PrincipalKind.IAM_ROLE)
        principal(acct, f"bulk-{i:03d}", PrincipalKind.IAM_USER)
    client = persona_client("auditor")
    url = reverse("inventory:search")
    first = text(client.get(url + "?q=bulk"))
    second = text(client.get(url + _link(first, "next")))
    assert _link(second, "next") is None
    assert len(_names(first)) == 50 and len(_names(second)) == 30
    # Ordered by kind (iam_role < iam_user), then name: 40 roles, then users.
    assert _names(first)[:40] == [f"bulk-{i:03d}" for i in range(40)]
    assert _names(first)[40:] + _names(second) == [f"bulk-{i:03d}" for i in range(40)]


# Query counts ------------------------------------------------------------------------------------------

# Every request: the session, the user, and computing the user's capabilities (identity link,
# Identity Center user, groups, governance account, assignments, owned accounts, owned principals).
REQUEST_OVERHEAD = 9


def warmed(client):
    """The first request after login rewrites the session; measure the ones after it."""
    client.get(reverse("inventory:sync_progress"))
    return client


@pytest.fixture
def crowded(persona_inventory):
    """Enough rows that a per-row query on any page would blow the pinned counts."""
    acct = account(OWNED)
    boundary = policy("Boundary", acct=acct)
    group = principal(acct, "bulk-group", PrincipalKind.IAM_GROUP)
    pset = persona_inventory.permission_sets["GovernanceAuditor"]
    users = []
    for i in range(60):
        user = principal(acct, f"bulk-{i:03d}", permissions_boundary=boundary, last_used=timezone.now())
        GroupMembership.objects.create(group=group, member=user, account=acct, **synced())
        AccessKey.objects.create(principal=user, account=acct, slot=1, status="Active", **synced())
        users.append(user)
    heavy = users[0]
    for i in range(60):
        entitle(heavy, policy(f"p{i}", acct=acct), EntitlementVia.GROUP, via_group=group, permission_set=pset)
        entitle(users[i], policy(f"q{i}", acct=acct))
    root = OrganizationalUnit.objects.get(is_root=True)
    for i in range(30):
        unit = OrganizationalUnit.objects.create(
            organization=persona_inventory.organization, ou_id=f"ou-x-{i}", arn="arn:ou", name=f"OU {i}",
            parent=root, path=f"r-demo/ou-x-{i}/", depth=1, **synced(),
        )  # fmt: skip
        scp = policy(f"scp-{i}", PolicyKind.SCP)
        ScpAttachment.objects.create(
            policy=scp, target_type=ScpTargetType.ORGANIZATIONAL_UNIT, target_id=unit.ou_id, unit=unit, **synced()
        )
        Account.objects.create(
            organization=persona_inventory.organization, account_id=f"5{i:011d}", arn="arn:a", name=f"acct {i}",
            email=f"a{i}@example.com", parent=unit, **synced(),
        )  # fmt: skip
    for _ in range(30):
        run = SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.PARTIAL)
        for j in range(3):
            SyncAccountRun.objects.create(
                run=run, aws_account_id=f"5{j:011d}", status=AccountSyncStatus.FAILED, error="AccessDenied"
            )
    return heavy


@pytest.mark.parametrize(
    ("persona", "name", "kwargs", "query", "budget"),
    [
        ("auditor", "inventory:org_tree", {}, "", 3),
        ("manager", "inventory:org_tree", {}, "", 3),
        ("auditor", "inventory:account", {"account_id": OWNED}, "", 7),
        ("auditor", "inventory:account", {"account_id": OWNED}, "tab=entitlements", 7),
        ("manager", "inventory:account", {"account_id": OWNED}, "tab=entitlements", 7),
        ("auditor", "inventory:account", {"account_id": OWNED}, "tab=keys", 7),
        ("auditor", "inventory:search", {}, "q=bulk", 2),
        ("auditor", "inventory:sync", {}, "", 3),
        ("auditor", "inventory:sync_progress", {}, "", 1),
    ],
)
def test_page_query_counts_do_not_grow_with_rows(
    persona_client, crowded, django_assert_max_num_queries, persona, name, kwargs, query, budget, monkeypatch
):
    monkeypatch.setattr(panels, "_PANELS", {})  # the inventory's own queries; feature panels pin theirs
    client = warmed(persona_client(persona))
    with django_assert_max_num_queries(REQUEST_OVERHEAD + budget):
        response = get(client, name, query=query, **kwargs)
    assert response.status_code == 200
    assert "bulk-" in text(response) or name in ("inventory:org_tree", "inventory:sync", "inventory:sync_progress")


def test_the_principal_page_query_count_does_not_grow_with_rows(
    persona_client, crowded, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr(panels, "_PANELS", {})  # the inventory's own queries; feature panels pin theirs
    client = warmed(persona_client("auditor"))
    with django_assert_max_num_queries(REQUEST_OVERHEAD + 5):
        response = get(client, "inventory:principal", principal_id=crowded.pk)
    assert text(response).count("Policy document</summary>") == 50
    group = Principal.objects.get(name="bulk-group")
    with django_assert_max_num_queries(REQUEST_OVERHEAD + 6):
        response = get(client, "inventory:principal", principal_id=group.pk)
    assert text(response).count("bulk-0") == 60


# The security team's pages (issue 10.4): each page and its CSV export, as an owner and as an auditor,
# make the same number of queries with a few rows and with many more of every kind on them.
OUTSIDE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass
class _SecurityRows:
    admin: Policy
    scp: Policy
    permission_set: object
    group: Principal

    def add(self, n: int) -> None:
        """n more of every row the pages list, in the account the manager owns, then a sync."""
        acct = account(OWNED)
        for _ in range(n):
            user = principal(acct, "sec-user", last_used=timezone.now())
            AccessKey.objects.create(principal=user, account=acct, slot=1, status="Active", **synced())
            entitle(user, self.admin)
            principal(acct, "sec-role", PrincipalKind.IAM_ROLE, trust_policy=OUTSIDE_TRUST)
            CredentialReportRow.objects.create(
                account=acct, principal=user, user_name=user.name, arn=user.arn, **synced(f"iam:{acct.account_id}")
            )
            AccountAssignment.objects.create(
                permission_set=self.permission_set, account=acct, aws_account_id=acct.account_id,
                principal=self.group, principal_type="GROUP", principal_aws_id=self.group.aws_id, **synced(),
            )  # fmt: skip
            ScpAttachment.objects.create(
                policy=self.scp, target_type=ScpTargetType.ACCOUNT, target_id=acct.account_id, account=acct,
                **synced(),
            )  # fmt: skip
        version = PolicyVersion.objects.filter(policy=self.admin).count() + 1
        PolicyVersion.objects.create(policy=self.admin, version=version, document=DOC, first_seen=timezone.now())
        now = timezone.now()
        SyncRun.objects.create(started_at=now, finished_at=now, status=SyncStatus.SUCCEEDED)


@pytest.fixture
def security_rows(persona_inventory):
    past = timezone.now() - timedelta(hours=1)
    SyncRun.objects.create(started_at=past, finished_at=past, status=SyncStatus.SUCCEEDED)
    pset = persona_inventory.permission_sets["GovernanceAuditor"]
    admin = policy("AdministratorAccess", PolicyKind.AWS_MANAGED, admin_access=AdminAccess.FULL)
    PermissionSetPolicy.objects.create(permission_set=pset, policy=admin, **synced())
    rows = _SecurityRows(
        admin=admin, scp=policy("DenyLeaving", PolicyKind.SCP), permission_set=pset,
        group=next(iter(persona_inventory.sso_groups.values())),
    )  # fmt: skip
    rows.add(2)
    return rows


def _security_pages(rows: _SecurityRows) -> list[tuple[str, str, dict]]:
    """(persona, URL name, kwargs) of each page issue 10.4 asks for."""
    pages = []
    for persona in ("auditor", "manager"):
        pages += [
            (persona, "inventory:users", {}),
            (persona, "inventory:access_keys", {}),
            (persona, "inventory:roles", {}),
            (persona, "inventory:admin_power", {}),
            (persona, "inventory:credential_report", {"account_id": OWNED}),
            (persona, "inventory:account_changes", {"account_id": OWNED}),
            (persona, "inventory:policy", {"policy_id": rows.admin.pk}),
            (persona, "inventory:permission_set", {"permission_set_id": rows.permission_set.pk}),
        ]
    pages += [("auditor", "inventory:changes", {}), ("auditor", "inventory:policy", {"policy_id": rows.scp.pk})]
    return pages


# Queries beyond REQUEST_OVERHEAD, pinned: a page and its CSV export.
SECURITY_PAGE_BUDGETS = {
    "inventory:users": (1, 1),
    "inventory:access_keys": (1, 1),
    "inventory:roles": (2, 2),  # and the organization's account ids, for "outside"
    "inventory:admin_power": (2, 2),  # and how each holds it, one query a page
    "inventory:credential_report": (7, 2),  # the account, its last sync
    "inventory:account_changes": (14, 14),  # the account; runs, then added, changed, removed of each kind
    "inventory:changes": (13, 13),
    "inventory:policy": (8, 8),  # versions, attachments, permission sets, bounded, holders
    "inventory:permission_set": (4, 4),
}

# What changed, one section paged on its own ("principals-added"): the account; runs, then that page.
SECTION_PAGE_BUDGETS = {"inventory:account_changes": 3, "inventory:changes": 2}

_SHOWN = {"inventory:permission_set": OWNED}  # what each page lists, else "sec-"


def _queries(client, name: str, kwargs: dict, query: str) -> tuple[int, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = get(client, name, query=query, **kwargs)
        assert response.status_code == 200, (name, query, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    return len(captured), body.decode()


def test_the_security_pages_query_counts_are_pinned_and_do_not_grow_with_rows(
    persona_client, security_rows, monkeypatch
):
    monkeypatch.setattr(panels, "_PANELS", {})  # the inventory's own queries; feature panels pin theirs
    pages = _security_pages(security_rows)
    clients = {persona: warmed(persona_client(persona)) for persona in ("auditor", "manager")}

    def measure() -> dict[tuple, int]:
        counts = {}
        for persona, name, kwargs in pages:
            page_budget, csv_budget = SECURITY_PAGE_BUDGETS[name]
            queries = [("", page_budget), ("format=csv", csv_budget)]
            if name in SECTION_PAGE_BUDGETS:  # one kind and change paged on its own, past a cursor
                queries.append((f"section=principals-added&after={encode_cursor([0])}", SECTION_PAGE_BUDGETS[name]))
            for query, budget in queries:
                count, body = _queries(clients[persona], name, kwargs, query)
                scp = kwargs.get("policy_id") == security_rows.scp.pk  # attached, held by nobody: no CSV rows
                shown = "principal,kind,arn" if scp and query else "DenyLeaving" if scp else _SHOWN.get(name, "sec-")
                assert shown in body, (persona, name, query)
                assert count <= REQUEST_OVERHEAD + budget, f"{persona} {name}?{query}: {count} queries"
                counts[(persona, name, query, tuple(kwargs.items()))] = count
        return counts

    few = measure()
    security_rows.add(60)
    many = measure()
    assert many == few


def _csv_rows(response) -> list[dict[str, str]]:
    import csv
    import io

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_policy_and_a_permission_set_export_every_row_an_owner_or_auditor_may_see(persona_client, security_rows):
    security_rows.add(60)  # more than a page
    elsewhere = account(OTHER_ACCOUNT_ID)
    outsider = principal(elsewhere, "=cmd|' /C calc'!A0")
    entitle(outsider, security_rows.admin)
    AccountAssignment.objects.create(
        permission_set=security_rows.permission_set, account=elsewhere, aws_account_id=elsewhere.account_id,
        principal=security_rows.group, principal_type="GROUP", principal_aws_id=security_rows.group.aws_id, **synced(),
    )  # fmt: skip
    holders = Entitlement.objects.filter(policy=security_rows.admin, removed_at__isnull=True)
    assignments = AccountAssignment.objects.filter(permission_set=security_rows.permission_set, removed_at__isnull=True)
    policy_csv = {"policy_id": security_rows.admin.pk}
    pset_csv = {"permission_set_id": security_rows.permission_set.pk}

    rows = _csv_rows(get(persona_client("auditor"), "inventory:policy", query="format=csv", **policy_csv))
    assert len(rows) == holders.count() > 50
    assert "'=cmd|' /C calc'!A0" in {r["principal"] for r in rows}  # spreadsheet-safe
    assert {r["held"] for r in rows} == {"Attached directly"}
    rows = _csv_rows(get(persona_client("auditor"), "inventory:permission_set", query="format=csv", **pset_csv))
    assert len(rows) == assignments.count() and {r["account"] for r in rows} >= {OWNED, OTHER_ACCOUNT_ID}

    manager = persona_client("manager")
    rows = _csv_rows(get(manager, "inventory:policy", query="format=csv", **policy_csv))
    assert len(rows) == holders.exclude(principal=outsider).count()
    rows = _csv_rows(get(manager, "inventory:permission_set", query="format=csv", **pset_csv))
    assert {r["account"] for r in rows} == {OWNED}
    page = text(get(manager, "inventory:permission_set", **pset_csv))
    assert "format=csv" in page and "Download CSV" in page


# Sync page ---------------------------------------------------------------------------------------------


def test_the_sync_page_lists_runs_with_per_account_errors(persona_client):
    run = SyncRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), status=SyncStatus.PARTIAL, accounts_total=3,
        accounts_done=3, accounts_failed=1, api_calls=17, changes=5, seconds=2.5,
        errors=[{"account": OTHER_ACCOUNT_ID, "error": "x"}, {"scope": "identity_center", "error": "SSO down"}],
    )  # fmt: skip
    SyncAccountRun.objects.create(
        run=run, aws_account_id=OTHER_ACCOUNT_ID, account=account(OTHER_ACCOUNT_ID), status=AccountSyncStatus.FAILED,
        error="AssumeRole: AccessDenied: <denied>",
    )  # fmt: skip
    SyncAccountRun.objects.create(run=run, aws_account_id=OWNED, status=AccountSyncStatus.SUCCEEDED)
    page = text(get(persona_client("auditor"), "inventory:sync"))
    assert f"#{run.pk}" in page and "Partial" in page and "1 failed" in page
    assert (
        f"<code>{OTHER_ACCOUNT_ID}</code> <bdi>shared-services</bdi>: "
        "<bdi>AssumeRole: AccessDenied: &lt;denied&gt;</bdi>" in page
    )
    assert "identity_center: <bdi>SSO down</bdi>" in page
    assert "No sync is running." in page
    assert "Sync now" not in page  # the auditor may not run one


def test_the_sync_page_has_an_empty_state(persona_client):
    page = text(get(persona_client("policy_admin"), "inventory:sync"))
    assert "No sync has run yet." in page
    assert 'action="/inventory/sync/run/"' in page and "csrfmiddlewaretoken" in page


def test_sync_runs_page_newest_first(persona_client):
    runs = [SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.SUCCEEDED) for _ in range(25)]
    client = persona_client("auditor")
    first = text(get(client, "inventory:sync"))
    shown = [int(n) for n in re.findall(r"<td>#(\d+)", first)]
    assert shown == [r.pk for r in reversed(runs)][:20]
    second = text(client.get(reverse("inventory:sync") + _link(first, "next")))
    assert [int(n) for n in re.findall(r"<td>#(\d+)", second)] == [r.pk for r in reversed(runs)][20:]


def test_a_running_sync_polls_and_a_finished_one_stops(persona_client):
    run = SyncRun.objects.create(
        started_at=timezone.now(), status=SyncStatus.RUNNING, accounts_total=12, accounts_done=5
    )
    client = persona_client("auditor")
    page = text(get(client, "inventory:sync"))
    assert f'hx-get="/inventory/sync/progress/?run={run.pk}" hx-trigger="every 2s"' in page
    assert "5 / 12" in page
    partial = text(get(client, "inventory:sync_progress", query=f"run={run.pk}"))
    assert partial.lstrip().startswith('<section id="sync-progress"') and "<html" not in partial
    assert 'hx-trigger="every 2s"' in partial
    SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.SUCCEEDED, accounts_done=12)
    partial = text(get(client, "inventory:sync_progress", query=f"run={run.pk}"))
    assert "hx-trigger" not in partial and "12 / 12" in partial and "Finished." in partial


def test_a_requested_sync_waits_for_its_run_and_then_follows_it(persona_client):
    import time

    client = persona_client("policy_admin")
    since = int(time.time())
    partial = text(get(client, "inventory:sync_progress", query=f"since={since}"))
    assert "waiting for a task worker" in partial and f"?since={since}" in partial
    run = SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.RUNNING, accounts_total=3)
    partial = text(get(client, "inventory:sync_progress", query=f"since={since}"))
    assert f"?run={run.pk}" in partial and "0 / 3" in partial
    # A stale or absurd marker does not poll forever.
    partial = text(get(client, "inventory:sync_progress", query="since=1"))
    assert "waiting" not in partial
    assert get(client, "inventory:sync_progress", query="run=abc").status_code == 200


def test_sync_now_queues_the_sync_task(persona_client, personas, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from governance.audit.models import AuditEvent

    client = persona_client("policy_admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("inventory:sync_now"))
    assert response.status_code == 302
    (event,) = AuditEvent.objects.filter(action="inventory.sync_requested")
    assert event.actor == personas["policy_admin"]
    assert response["Location"].startswith(reverse("inventory:sync") + "?since=")
    (queued,) = OrmQ.objects.all()
    task = SignedPackage.loads(queued.payload)
    assert task["func"] == "governance.inventory.tasks.sync_org"
    assert task["kwargs"] == {"trigger": SyncTrigger.PORTAL}
    page = text(client.get(response["Location"]))
    assert "Sync requested" in page and "waiting for a task worker" in page


def test_sync_now_does_not_queue_a_second_sync_while_one_runs(persona_client):
    from django_q.models import OrmQ

    from governance.audit.models import AuditEvent

    SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.RUNNING)
    response = persona_client("campaign_admin").post(reverse("inventory:sync_now"), follow=True)
    assert not AuditEvent.objects.filter(action="inventory.sync_requested").exists()
    assert "A sync is already running" in text(response)
    assert not OrmQ.objects.exists()


@pytest.mark.parametrize("persona", ["auditor", "manager", "requester"])
def test_sync_now_is_refused_without_sync_run(persona_client, persona):
    from django_q.models import OrmQ

    assert persona_client(persona).post(reverse("inventory:sync_now")).status_code == 403
    assert not OrmQ.objects.exists()


def test_sync_now_needs_post_with_a_csrf_token(personas):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["policy_admin"], backend="allauth.account.auth_backends.AuthenticationBackend")
    assert client.get(reverse("inventory:sync_now")).status_code == 405
    assert client.post(reverse("inventory:sync_now")).status_code == 403


def test_the_account_assignment_shows_on_an_identity_center_user(persona_client, persona_inventory):
    user = persona_inventory.sso_users["auditor"]
    assert AccountAssignment.objects.filter(principal=user).exists()
    page = text(get(persona_client("auditor"), "inventory:principal", principal_id=user.pk))
    assert "GovernanceAuditor" in page and GOVERNANCE_ACCOUNT_ID in page


def test_sync_now_wants_a_recent_mfa_login(persona_client, django_capture_on_commit_callbacks):
    from governance.inventory.models import SyncRun

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = persona_client("campaign_admin", mfa=False).post(reverse("inventory:sync_now"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/oidc/demo/login/?process=login")
    assert not callbacks and not SyncRun.objects.exists()
