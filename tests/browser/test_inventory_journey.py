"""An auditor signs in through the IdP and walks the inventory: org tree, an account, a principal.

The inventory is the demo organization synced from the emulator, so the pages show what a
person would see on a fresh `demo_org && sync_aws`. Screenshots: var/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.inventory.models import Entitlement, EntitlementVia, PrincipalKind, SyncStatus
from governance.inventory.sync import sync_organization

ARTHUR = BY_KEY["auditor"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def synced_demo(demo_org):
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    return demo_org


def test_an_auditor_walks_from_the_org_tree_to_a_principal(page, live_server, oidc_server, synced_demo, screenshot):
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    entitlement = (
        Entitlement.objects.present()
        .filter(principal__kind=PrincipalKind.IAM_USER, via=EntitlementVia.GROUP)
        .select_related("principal__account", "via_group", "policy")
        .order_by("principal__account__name", "principal__name")
        .first()
    )
    account = entitlement.principal.account
    user = entitlement.principal

    page.goto(live_server.url + "/inventory/")
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(ARTHUR.display_name))).click()
    expect(page.locator(".who")).to_have_text(ARTHUR.display_name)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    expect(page.get_by_role("heading", name="Organization")).to_be_visible()
    expect(page.locator(".inv-node-head").first).to_contain_text("Root")
    expect(page.locator(".badge.scp").first).to_be_visible()
    screenshot("1-org-tree")

    page.get_by_role("link", name=account.name, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(account.account_id)
    expect(page.get_by_role("heading", name="Password policy")).to_be_visible()
    expect(page.get_by_role("heading", name="Last sync")).to_be_visible()
    screenshot("2-account")
    page.get_by_role("link", name="Entitlements").click()
    expect(page.locator(".inv-table")).to_be_visible()
    screenshot("3-account-entitlements")
    page.get_by_role("link", name="Principals").click()

    page.get_by_role("link", name=user.name, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(user.name)
    expect(page.get_by_role("heading", name="Entitlements")).to_be_visible()
    expect(page.get_by_text(entitlement.via_group.name).first).to_be_visible()
    page.get_by_text("Policy document").first.click()
    expect(page.locator("pre.inv-json").first).to_contain_text('"Statement"')
    screenshot("4-principal")

    page.get_by_role("searchbox").fill(account.account_id)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Matched on account id")).to_be_visible()
    screenshot("5-search")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sync").click()
    expect(page.get_by_role("heading", name="Recent runs")).to_be_visible()
    screenshot("6-sync")
    assert not [p for p in problems if "Content Security Policy" in p]


def _sign_in(page, live_server, oidc_server, persona) -> None:
    page.goto(live_server.url + "/inventory/")
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_have_text(persona.display_name)


def test_a_running_sync_shows_live_progress_until_it_finishes(
    page, live_server, oidc_server, persona_inventory, screenshot
):
    from django.utils import timezone

    from governance.inventory.models import SyncRun

    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    run = SyncRun.objects.create(
        started_at=timezone.now(), status=SyncStatus.RUNNING, accounts_total=12, accounts_done=3
    )
    _sign_in(page, live_server, oidc_server, BY_KEY["policy_admin"])
    page.goto(live_server.url + "/inventory/sync/")
    panel = page.locator("#sync-progress")
    expect(panel).to_contain_text("3 / 12")
    expect(page.get_by_role("button", name="Sync now")).to_be_disabled()
    screenshot("1-running")

    SyncRun.objects.filter(pk=run.pk).update(accounts_done=8)
    expect(panel).to_contain_text("8 / 12", timeout=6000)
    SyncRun.objects.filter(pk=run.pk).update(accounts_done=12, status=SyncStatus.SUCCEEDED, finished_at=timezone.now())
    expect(panel).to_contain_text("Finished.", timeout=6000)
    expect(panel).to_contain_text("12 / 12")
    expect(panel).not_to_have_attribute("hx-trigger", "every 2s")
    screenshot("2-finished")
    assert problems == []


def test_hostile_names_read_as_text(page, live_server, oidc_server, persona_inventory, screenshot):
    from django.utils import timezone

    from governance.inventory.models import Principal

    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    account = persona_inventory.accounts["222222222222"]
    now = timezone.now()
    hostile = Principal.objects.create(
        kind=PrincipalKind.IAM_USER,
        account=account,
        arn="arn:aws:iam::222222222222:user/" + "<script>alert(1)</script>/" * 19 + "x",
        name="<script>alert(1)</script> evil\u202egnp.exe",
        path="/" + "<script>alert(1)</script>/" * 19 + "x" * 16 + "/",
        key="hostile",
        scope="iam:222222222222",
        content_hash="h",
        first_seen=now,
        last_seen=now,
    )
    _sign_in(page, live_server, oidc_server, ARTHUR)
    page.goto(f"{live_server.url}/inventory/principals/{hostile.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("<script>alert(1)</script>")
    page.goto(f"{live_server.url}/inventory/accounts/222222222222/")
    expect(page.locator(".inv-table")).to_contain_text("<script>alert(1)</script>")
    screenshot("account")
    assert dialogs == []
