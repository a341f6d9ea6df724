"""The auditor and the manager walk the inventory's security pages on a desktop and on a 390 px phone.

Every page visited must fit the viewport (no horizontal scroll of the page itself: wide tables
scroll inside their own box), raise no Content Security Policy error and answer without an HTTP
error. The inventory is the demo organization synced from the emulator. Screenshots:
var/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.inventory.models import AccessKey, Account, AccountAssignment, Entitlement, SyncStatus
from governance.inventory.sync import sync_organization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def synced_demo(demo_org):
    for _ in range(2):  # two syncs, so "what changed" has a window to compare
        run = sync_organization()
        assert run.status == SyncStatus.SUCCEEDED, run.errors
    return demo_org


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return problems


def _sign_in(page, live_server, oidc_server, persona) -> None:
    page.goto(live_server.url + "/inventory/")
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_contain_text(persona.display_name.split()[0])


def _fits(page, where: str) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where}: the page is {overflow}px wider than the viewport"


def _visit_each_width(page, screenshot, name: str, check) -> None:
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.reload()
        check()
        _fits(page, f"{name} at {size['width']} px")
        screenshot(f"{name}-{label}")


def test_an_auditor_reads_the_security_pages_at_desktop_and_phone_widths(
    page, live_server, oidc_server, synced_demo, screenshot
):
    problems = _watch(page)
    _sign_in(page, live_server, oidc_server, BY_KEY["auditor"])
    nav = page.get_by_role("navigation", name="Inventory")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    _visit_each_width(page, screenshot, "1-org-tree", lambda: expect(page.locator(".badge.scp").first).to_be_visible())

    page.locator("a.badge.scp").first.click()
    _visit_each_width(
        page, screenshot, "2-scp", lambda: expect(page.get_by_role("heading", name="Attached to")).to_be_visible()
    )

    nav.get_by_role("link", name="IAM users").click()
    _visit_each_width(page, screenshot, "3-users", lambda: expect(page.locator(".inv-table")).to_be_visible())
    page.get_by_label("MFA").select_option("false")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"mfa=false"))
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()

    nav.get_by_role("link", name="Access keys").click()
    key = AccessKey.objects.present().order_by("created", "id").first()
    _visit_each_width(page, screenshot, "4-keys", lambda: expect(page.get_by_text(key.masked_id)).to_be_visible())

    nav.get_by_role("link", name="Roles").click()
    page.get_by_label("Trusts").select_option("outside")
    page.get_by_role("button", name="Apply").click()
    _visit_each_width(
        page, screenshot, "5-roles-outside", lambda: expect(page.locator(".badge.bad").first).to_be_visible()
    )

    nav.get_by_role("link", name="Admin power").click()
    _visit_each_width(
        page, screenshot, "6-admins", lambda: expect(page.get_by_text("full administrator").first).to_be_visible()
    )
    page.locator(".inv-trust a[href*='/permission-sets/']").first.click()
    _visit_each_width(
        page,
        screenshot,
        "7-permission-set",
        lambda: expect(page.get_by_role("heading", name="Assignments")).to_be_visible(),
    )

    nav.get_by_role("link", name="What changed").click()
    _visit_each_width(
        page, screenshot, "8-changes", lambda: expect(page.get_by_role("heading", name="Principals")).to_be_visible()
    )

    page.goto(f"{live_server.url}/inventory/accounts/{synced_demo.management_account_id}/")
    page.get_by_role("link", name="Credential report").click()
    _visit_each_width(
        page, screenshot, "9-credential-report", lambda: expect(page.locator(".inv-table")).to_be_visible()
    )
    assert problems == []


def test_a_manager_reads_their_own_at_desktop_and_phone_widths(page, live_server, oidc_server, synced_demo, screenshot):
    problems = _watch(page)
    _sign_in(page, live_server, oidc_server, BY_KEY["manager"])
    page.goto(live_server.url + "/")
    _visit_each_width(
        page, screenshot, "1-dashboard", lambda: expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    _visit_each_width(page, screenshot, "2-tree", lambda: expect(page.get_by_text("owner").first).to_be_visible())
    page.locator(".inv-leaf a:not(.badge)").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _visit_each_width(
        page, screenshot, "3-account", lambda: expect(page.get_by_role("heading", name="Last sync")).to_be_visible()
    )
    account_url = page.url

    page.get_by_role("link", name="Credential report").click()
    _visit_each_width(
        page, screenshot, "4-credential-report", lambda: expect(page.get_by_role("heading", level=1)).to_be_visible()
    )
    page.goto(account_url)
    page.get_by_role("link", name="What changed").first.click()
    _visit_each_width(
        page, screenshot, "5-changes", lambda: expect(page.get_by_role("heading", name="Access keys")).to_be_visible()
    )

    # The policy and permission set pages, for what the manager owns: an SCP in effect on their
    # branch (its badge in the tree), a policy one of their accounts' principals holds, and a
    # permission set assigned on one of their accounts.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    page.locator("a.badge.scp").first.click()
    _visit_each_width(
        page, screenshot, "6-scp", lambda: expect(page.get_by_role("heading", name="Attached to")).to_be_visible()
    )
    owned = list(Account.objects.filter(owner__iexact=BY_KEY["manager"].email).values_list("account_id", flat=True))
    held = Entitlement.objects.present().filter(account__account_id__in=owned).order_by("id").first()
    page.goto(f"{live_server.url}/inventory/policies/{held.policy_id}/")
    _visit_each_width(
        page, screenshot, "7-policy", lambda: expect(page.get_by_role("heading", name="Who holds it")).to_be_visible()
    )
    assigned = AccountAssignment.objects.present().filter(aws_account_id__in=owned).order_by("id").first()
    page.goto(f"{live_server.url}/inventory/permission-sets/{assigned.permission_set_id}/")
    _visit_each_width(
        page,
        screenshot,
        "8-permission-set",
        lambda: expect(page.get_by_role("heading", name="Assignments")).to_be_visible(),
    )

    nav = page.get_by_role("navigation", name="Inventory")
    expect(nav.get_by_role("link", name="What changed")).to_have_count(0)  # org-wide changes need view_all
    for name, link in (
        ("9-users", "IAM users"),
        ("10-keys", "Access keys"),
        ("11-roles", "Roles"),
        ("12-admins", "Admin power"),
    ):
        nav.get_by_role("link", name=link).click()
        _visit_each_width(page, screenshot, name, lambda: expect(page.get_by_role("heading", level=1)).to_be_visible())
    assert problems == []
