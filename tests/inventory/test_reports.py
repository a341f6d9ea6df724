"""The pages a security team expects: org-wide lists, policy and permission set pages, credential
reports, masked key ids and what changed between syncs. Read-only, scoped, query counts pinned.

Most tests read the demo organization synced from the emulator (what a person sees after
`make run`); the change window and the trust parser are checked on rows written here.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from urllib.parse import urljoin

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.inventory import changes, trust
from governance.inventory.models import (
    AccessKey,
    Account,
    AccountAssignment,
    AdminAccess,
    CredentialReportRow,
    Entitlement,
    PermissionSet,
    Policy,
    PolicyKind,
    Principal,
    PrincipalKind,
    SyncRun,
    SyncStatus,
)
from governance.inventory.pagination import encode_cursor
from tests.fixtures.personas import OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS, _synced

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _page(client, name: str, query: str = "", **kwargs) -> str:
    response = client.get(reverse(f"inventory:{name}", kwargs=kwargs) + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# Org-wide lists on the synced demo organization ---------------------------------------------------


def test_the_iam_users_list_filters_sorts_pages_and_exports(synced_persona_client, django_assert_max_num_queries):
    client = synced_persona_client("auditor")
    users = Principal.objects.present().filter(kind=PrincipalKind.IAM_USER)
    without_mfa = users.filter(mfa_enabled=False)
    assert without_mfa.exists() and users.filter(mfa_enabled=True).exists()
    with django_assert_max_num_queries(13):  # session, user, capabilities (7), the page and the count of keys
        page = _page(client, "users", "mfa=false&sort=account")
    assert all(u.name in page for u in without_mfa)
    assert not any(f">{u.name}<" in page for u in users.filter(mfa_enabled=True))

    rows = _csv(client.get(reverse("inventory:users") + "?mfa=false&format=csv"))
    assert sorted(r["user"] for r in rows) == sorted(without_mfa.values_list("name", flat=True))
    assert {r["mfa"] for r in rows} == {"no"}


def test_a_filter_that_does_not_validate_is_a_clear_400(synced_persona_client):
    response = synced_persona_client("auditor").get(reverse("inventory:users") + "?account=12&format=csv")
    assert response.status_code == 400
    page = response.content.decode()
    assert "These filters cannot be applied" in page and "12 digits" in page
    assert synced_persona_client("auditor").get(reverse("inventory:access_keys") + "?older_than=-3").status_code == 400


def test_access_keys_show_masked_ids_oldest_first(synced_persona_client):
    client = synced_persona_client("auditor")
    keys = AccessKey.objects.present()
    assert keys.exists() and not keys.filter(access_key_id="").exists()
    page = _page(client, "access_keys", "sort=age")
    oldest = keys.order_by("created", "id").first()
    assert oldest.masked_id in page and oldest.access_key_id not in page  # never the whole id
    positions = [page.index(k.masked_id) for k in keys.order_by("created", "id")[:5]]
    assert positions == sorted(positions)
    rows = _csv(client.get(reverse("inventory:access_keys") + "?format=csv&older_than=30"))
    old = keys.filter(created__lt=timezone.now() - timedelta(days=30))
    assert sorted(r["access_key_id"] for r in rows) == sorted(k.masked_id for k in old)
    assert all(r["access_key_id"].startswith("AKIA\u2026") for r in rows)


def test_roles_show_who_can_assume_them_with_outside_accounts_flagged(synced_persona_client):
    client = synced_persona_client("auditor")
    organization = set(Account.objects.values_list("account_id", flat=True))
    roles = Principal.objects.present().filter(kind=PrincipalKind.IAM_ROLE)
    outside = [
        r for r in roles if any(t.outside or t.kind == "anyone" for t in trust.trustees(r.trust_policy,
                                                                                            organization_accounts=organization))
    ]  # fmt: skip
    assert outside and len(outside) < roles.count()
    rows = _csv(client.get(reverse("inventory:roles") + "?trust=outside&format=csv"))
    assert sorted(r["role"] for r in rows) == sorted(r.name for r in outside)
    assert {r["outside_the_organization"] for r in rows} == {"yes"}
    page = _page(client, "roles", "trust=outside")
    assert "outside the organization" in page or "anyone (*)" in page


def test_admin_power_lists_who_holds_it_and_how(synced_persona_client):
    client = synced_persona_client("auditor")
    holders = set(
        Entitlement.objects.present()
        .filter(policy__admin_access=AdminAccess.FULL)
        .values_list("principal__name", flat=True)
    )
    assert holders
    rows = _csv(client.get(reverse("inventory:admin_power") + "?level=full&format=csv"))
    assert {r["principal"] for r in rows} == holders
    assert all("AdministratorAccess" in r["through"] or r["through"] for r in rows)
    assert "full administrator" in _page(client, "admin_power", "level=full")


def test_a_manager_sees_only_their_own_in_every_list(synced_persona_client, synced_personas):
    from governance.authz.capabilities import capabilities

    caps = capabilities(synced_personas["manager"])
    client = synced_persona_client("manager")
    rows = _csv(client.get(reverse("inventory:users") + "?format=csv"))
    assert rows and {r["account"] for r in rows} <= set(caps.owned_account_ids) | {
        p.account.account_id for p in Principal.objects.filter(pk__in=caps.owned_principal_ids)
    }
    assert len(rows) < Principal.objects.present().filter(kind=PrincipalKind.IAM_USER).count()
    keys = _csv(client.get(reverse("inventory:access_keys") + "?format=csv"))
    assert len(keys) < AccessKey.objects.present().count()


# Policy and permission set pages ------------------------------------------------------------------


def test_the_org_trees_scp_badges_link_to_the_read_only_policy_page(synced_persona_client):
    client = synced_persona_client("auditor")
    tree = _page(client, "org_tree")
    scp = Policy.objects.present().scps().exclude(name="FullAWSAccess").first()
    url = reverse("inventory:policy", kwargs={"policy_id": scp.pk})
    assert f'href="{url}"' in tree
    page = _page(client, "policy", policy_id=scp.pk)
    assert scp.name in page and "Attached to" in page and "Versions" in page and "&quot;Statement&quot;" in page
    assert "<form" not in page.split('<main id="main">', 1)[1].split("inv-search", 1)[1]  # read-only


def test_a_managed_policy_page_shows_its_holders(synced_persona_client, django_assert_max_num_queries):
    client = synced_persona_client("auditor")
    admin = Policy.objects.get(arn="arn:aws:iam::aws:policy/AdministratorAccess")
    # Whatever number of holders, versions and attachments; the feature apps' panels (signals'
    # ValidatePolicy and who-changed-it) pin their own queries in their tests.
    with django_assert_max_num_queries(20):
        page = _page(client, "policy", policy_id=admin.pk)
    assert "full administrator" in page.lower() and "Who holds it" in page
    holder = Entitlement.objects.present().filter(policy=admin).select_related("principal").first()
    assert holder.principal.name in page


def test_a_policy_outside_an_owners_reach_is_a_404(synced_persona_client, synced_personas):
    from governance.authz.capabilities import capabilities

    owned = capabilities(synced_personas["manager"]).owned_account_ids
    foreign = Policy.objects.filter(kind=PolicyKind.CUSTOMER_MANAGED).exclude(account__account_id__in=owned)
    foreign = foreign.exclude(entitlements__principal__owner__iexact=synced_personas["manager"].email).first()
    response = synced_persona_client("manager").get(reverse("inventory:policy", kwargs={"policy_id": foreign.pk}))
    assert response.status_code == 404


def test_the_permission_set_page_shows_policies_boundary_references_and_assignments(synced_persona_client):
    client = synced_persona_client("auditor")
    permission_set = PermissionSet.objects.present().filter(assignments__isnull=False).distinct().first()
    page = _page(client, "permission_set", permission_set_id=permission_set.pk)
    for heading in ("Managed policies", "Inline policy", "Customer managed policy references", "Assignments"):
        assert heading in page
    assert "Permissions boundary" in page
    assignment = AccountAssignment.objects.present().filter(permission_set=permission_set).first()
    assert assignment.aws_account_id in page


def test_a_permission_set_not_assigned_on_an_owners_account_is_a_404(synced_persona_client, synced_personas):
    from governance.authz.capabilities import capabilities

    owned = capabilities(synced_personas["manager"]).owned_account_ids
    elsewhere = PermissionSet.objects.exclude(assignments__aws_account_id__in=owned).first()
    url = reverse("inventory:permission_set", kwargs={"permission_set_id": elsewhere.pk})
    assert synced_persona_client("manager").get(url).status_code == 404


# Credential report --------------------------------------------------------------------------------


def test_the_credential_report_lists_the_root_user_first_and_exports(synced_persona_client):
    client = synced_persona_client("auditor")
    account = Account.objects.filter(credential_report__isnull=False).distinct().first()
    # The emulator's reports have no root line; AWS's do (user "<root_account>"). Add the one AWS would give.
    CredentialReportRow.objects.create(
        account=account, user_name="<root_account>", arn=f"arn:aws:iam::{account.account_id}:root", is_root=True,
        mfa_active=True, scope=f"iam:{account.account_id}", **_synced(f"root:{account.account_id}"),
    )  # fmt: skip
    page = _page(client, "credential_report", account_id=account.account_id)
    other = account.credential_report.exclude(is_root=True).order_by("user_name").first().user_name
    assert page.index("root user") < page.index(other) < page.index("</tbody>")
    rows = _csv(client.get(reverse("inventory:credential_report", kwargs={"account_id": account.account_id})
                           + "?format=csv"))  # fmt: skip
    assert rows[0]["user_name"] == "<root_account>" and rows[0]["is_root"] == "yes"
    assert len(rows) == account.credential_report.filter(removed_at__isnull=True).count()


# What changed between two syncs -------------------------------------------------------------------


def _run(minutes_ago: int) -> SyncRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(started_at=started, finished_at=started, status=SyncStatus.SUCCEEDED)


def test_what_changed_between_two_syncs_org_wide_and_per_account(persona_client, persona_inventory):
    first, second, third = _run(30), _run(20), _run(10)
    account = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]

    def principal(name: str, **dates) -> Principal:
        arn = f"arn:aws:iam::{account.account_id}:user/{name}"
        row = Principal.objects.create(kind=PrincipalKind.IAM_USER, account=account, arn=arn, name=name,
                                       owner="nobody@example.com", **_synced(arn))  # fmt: skip
        Principal.objects.filter(pk=row.pk).update(**dates)
        return row

    principal("kept", first_seen=first.started_at, last_seen=first.started_at)
    principal("added-in-second", first_seen=second.started_at, last_seen=second.started_at)
    principal("changed-in-second", first_seen=first.started_at, last_seen=second.started_at)
    principal("removed-in-second", first_seen=first.started_at, last_seen=second.started_at,
              removed_at=second.started_at)  # fmt: skip
    principal("added-in-third", first_seen=third.started_at, last_seen=third.started_at)

    client = persona_client("auditor")
    query = f"from={first.pk}&to={second.pk}"
    rows = _csv(client.get(reverse("inventory:changes") + f"?{query}&format=csv"))
    seen = {(r["change"], r["name"]) for r in rows if r["kind"] == "principals"}
    assert seen == {("added", "added-in-second"), ("changed", "changed-in-second"), ("removed", "removed-in-second")}
    page = _page(client, "changes", query)
    assert "added-in-second" in page and "kept" not in page and "added-in-third" not in page

    # The default window is the last two syncs; per account, an owner sees their account's.
    latest = _csv(client.get(reverse("inventory:changes") + "?format=csv"))
    assert {(r["change"], r["name"]) for r in latest if r["kind"] == "principals"} == {("added", "added-in-third")}
    own = _csv(persona_client("manager").get(
        reverse("inventory:account_changes", kwargs={"account_id": account.account_id}) + f"?{query}&format=csv"
    ))  # fmt: skip
    assert {r["name"] for r in own if r["kind"] == "principals"} >= {"added-in-second", "removed-in-second"}
    assert persona_client("manager").get(reverse("inventory:changes")).status_code == 403


def _added_in(run: SyncRun, account: Account, prefix: str, n: int, policy: Policy) -> list[Principal]:
    """n IAM users added by `run` in `account`, each with a policy attached (an entitlement added too)."""
    when = {"first_seen": run.started_at, "last_seen": run.started_at}
    users = Principal.objects.bulk_create(
        Principal(kind=PrincipalKind.IAM_USER, account=account, name=f"{prefix}-{i:04}", owner="nobody@example.com",
                  arn=f"arn:aws:iam::{account.account_id}:user/{prefix}-{i:04}",
                  **{**_synced(f"{prefix}-{i}"), **when})
        for i in range(n)
    )  # fmt: skip
    Entitlement.objects.bulk_create(
        Entitlement(principal=user, policy=policy, via="direct", account=account,
                    **{**_synced(f"{prefix}-{i}-ent"), **when})
        for i, user in enumerate(users)
    )  # fmt: skip
    return users


_BODY = re.compile(r"<tbody>(.*?)</tbody>", re.S)


def _walk(client, url: str, rel: str) -> tuple[list[list[str]], list[str]]:
    """Follow the pager's `rel` links from `url`: each page's row names (walk-NNNN), and the pages' bodies."""
    names, bodies = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode()
        bodies.append(body)
        names.append(re.findall(r"walk-\d{4}", "".join(_BODY.findall(body))))
        link = re.search(rf'<a rel="{rel}" href="([^"]+)"', body)
        url = urljoin(url, html.unescape(link.group(1))) if link else ""
    return names, bodies


def test_every_changed_row_is_reachable_page_by_page_and_only_those_in_scope(persona_client, persona_inventory):
    """A manager walks their account's added entitlements, more than two pages of them, to the end and
    back: each row once, none of the rows in their account held by principals they may not see."""
    first, second = _run(30), _run(20)
    owned = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    elsewhere = persona_inventory.accounts[OTHER_ACCOUNT_ID]
    held = Policy.objects.create(kind=PolicyKind.AWS_MANAGED, name="ReadOnlyAccess", arn="arn:aws:iam::aws:policy/RO",
                                 document={}, **_synced("ro"))  # fmt: skip
    Policy.objects.filter(pk=held.pk).update(first_seen=first.started_at, last_seen=first.started_at)
    total = 2 * changes.SHOWN + 7
    walked = _added_in(second, owned, "walk", total, held)
    # Out of scope: users of an account the manager does not own, and their entitlements on the owned account.
    for user in _added_in(second, elsewhere, "hidden", 5, held):
        Entitlement.objects.create(principal=user, policy=held, via="direct", account=owned,
                                   **{**_synced(f"{user.name}-owned"), "first_seen": second.started_at,
                                      "last_seen": second.started_at})  # fmt: skip
    client = persona_client("manager")
    base = reverse("inventory:account_changes", kwargs={"account_id": owned.account_id})

    overview = client.get(base).content.decode()
    assert "hidden-" not in overview
    more = re.search(r'<a href="([^"]+)">More entitlements added', overview)
    assert more and "More principals added" in overview and "More entitlements removed" not in overview
    assert f"from={first.pk}" in more.group(1) and f"to={second.pk}" in more.group(1)  # the window is pinned
    first_page = re.findall(r"walk-\d{4}", overview[overview.index('id="ch-entitlements"') :].split("</tbody>")[0])

    forward, bodies = _walk(client, urljoin(base, html.unescape(more.group(1))), "next")
    pages = [first_page, *forward]
    assert [len(p) for p in pages] == [changes.SHOWN, changes.SHOWN, 7]
    seen = [name for page in pages for name in page]
    assert sorted(seen) == sorted(u.name for u in walked) and len(set(seen)) == total
    assert not any("hidden-" in body or 'id="ch-principals"' in body for body in bodies)  # that section alone

    # And back from the last page with "Previous", to the first page the overview showed.
    last = urljoin(base, html.unescape(re.findall(r'<a rel="prev" href="([^"]+)"', bodies[-1])[0]))
    backward, _ = _walk(client, last, "prev")
    assert backward == [forward[-2], first_page]

    # The org-wide page and its sections are the auditor's; theirs reaches every row, hidden ones too.
    everything = _csv(persona_client("auditor").get(reverse("inventory:changes") + "?format=csv"))
    assert sum(r["kind"] == "entitlements" and r["change"] == "added" for r in everything) == total + 10


def test_a_tampered_cursor_or_section_shows_a_first_page_not_an_error(persona_client, persona_inventory):
    _run(30)
    second = _run(20)
    owned = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    held = Policy.objects.create(kind=PolicyKind.AWS_MANAGED, name="ReadOnlyAccess", arn="arn:aws:iam::aws:policy/RO",
                                 document={}, **_synced("ro"))  # fmt: skip
    _added_in(second, owned, "walk", changes.SHOWN + 1, held)
    client = persona_client("auditor")
    url = reverse("inventory:changes")
    start = client.get(url, {"section": "principals-added"}).content.decode()
    expected = re.findall(r"walk-\d{4}", _BODY.findall(start)[0])
    assert len(expected) == changes.SHOWN and 'rel="next"' in start and 'id="ch-policies"' not in start
    for cursor in ("not-base64!!", "eyJ9", encode_cursor(["text-where-an-id-goes"]), encode_cursor([10**30]),
                   encode_cursor([1, 2]), encode_cursor(["\x00"]), "A" * 5000):  # fmt: skip
        for direction in ("after", "before"):
            response = client.get(url, {"section": "principals-added", direction: cursor})
            assert response.status_code == 200, (cursor, direction, response.status_code)
            body = response.content.decode()
            assert re.findall(r"walk-\d{4}", _BODY.findall(body)[0]) == expected and 'id="ch-policies"' not in body
    # A section the page does not have shows every section, as an unknown tab shows the first one.
    for section in ("nope", "principals-", "-added", "principals-added-x", "Principals-added"):
        response = client.get(reverse("inventory:changes"), {"section": section, "after": encode_cursor([0])})
        assert response.status_code == 200, section
        assert 'id="ch-principals"' in response.content.decode() and 'id="ch-policies"' in response.content.decode()
    assert client.get(reverse("inventory:changes"), {"section": "principals-added\x00"}).status_code == 400


def test_what_changed_has_an_empty_state_before_any_sync(persona_client):
    assert "No sync has completed yet" in _page(persona_client("auditor"), "changes")


# Trust policies and CSV ---------------------------------------------------------------------------


def test_the_trust_parser_names_every_kind_and_flags_outside_accounts():
    document = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111111111111:root", "999999999999"]},
             "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "x"}}},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]},
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111111111111:saml-provider/corp"},
             "Action": "sts:AssumeRoleWithSAML"},
            {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::888888888888:root"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777777777777:root"}, "Action": "s3:GetObject"},
        ]
    }  # fmt: skip
    found = trust.trustees(document, organization_accounts={"111111111111"})
    assert [(t.kind, t.account_id, t.outside) for t in found] == [
        ("aws", "111111111111", False),
        ("aws", "999999999999", True),
        ("service", "", False),
        ("federated", "", False),
        ("anyone", "", False),
    ]
    assert found[0].conditions == ("sts:ExternalId",)
    assert trust.matches(found, "outside") and trust.matches(found, "federated")
    assert trust.trustees("not a document", organization_accounts=set()) == []


def test_a_csv_cell_that_a_spreadsheet_would_run_is_defused():
    from governance.inventory.csv_export import cell

    assert cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert cell("+1") == "'+1" and cell("@SUM(A1)") == "'@SUM(A1)" and cell("-x") == "'-x"
    assert cell("evil\u202egnp") == "evil⟦U+202E⟧gnp"
    assert cell(None) == "" and cell(True) == "yes"


def test_every_sort_pages_through_every_user_once(synced_persona_client, monkeypatch):
    import re

    from governance.inventory import reports

    monkeypatch.setattr(reports, "PER_PAGE", 4)
    client = synced_persona_client("auditor")
    users = Principal.objects.present().filter(kind=PrincipalKind.IAM_USER).count()
    for sort in reports.IAM_USERS.sorts:
        url, seen = reverse("inventory:users") + f"?sort={sort}", []
        for _ in range(20):
            page = client.get(url).content.decode()
            body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
            seen += re.findall(r'href="/inventory/principals/(\d+)/"', body)
            following = re.search(r'rel="next" href="([^"]+)"', page)
            if not following:
                break
            url = reverse("inventory:users") + following.group(1).replace("&amp;", "&")
        assert len(seen) == len(set(seen)) == users, sort
