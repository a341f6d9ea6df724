"""Every page family at 390 px, each visited by a persona who may see it: nothing wider than the phone.

One browser, one page, the personas signing in through the demo IdP in turn (as the other
journeys do). A page fits when the document is no wider than the viewport: wide tables scroll
inside their own box, and long e-mails, ARNs and names wrap. Each page must also answer without an
HTTP error and raise no Content Security Policy error. The data behind the pages (a sync of the
demo organization, the rules' findings, a review campaign with an evidence package, a JIT request,
an SCP change request) is made here; nothing is written to AWS. Screenshots: var/screenshots/.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.inventory.models import Account, PermissionSet, Principal, PrincipalKind, SyncStatus
from governance.inventory.sync import sync_organization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
PROPOSAL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
        {"Sid": "KeepTrails", "Effect": "Deny", "Action": "cloudtrail:StopLogging", "Resource": "*"},
    ],
}

# What sticks out past the viewport's right edge (the innermost elements), to name in a failure.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 4)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
            + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


@pytest.fixture
def everything(demo_org):
    """A synced demo organization with something on every page: findings, a campaign, evidence, JIT."""
    from governance.evidence import sources
    from governance.evidence.services import generate_from_source
    from governance.findings import services as findings
    from governance.jit.models import EligibilityPolicy
    from governance.reviews.launch import launch
    from governance.reviews.templates_demo import ensure_demo_template
    from tests.fixtures.personas import make_persona_user

    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    findings.evaluate()
    carla = make_persona_user("campaign_admin")
    campaign = launch(template=ensure_demo_template(), actor=carla, period="2026-Q4").campaign
    generate_from_source(sources.build("campaign", str(campaign.pk)))
    groups = {p.name: p for p in Principal.objects.present().filter(kind=PrincipalKind.SSO_GROUP)}
    policy = EligibilityPolicy.objects.create(
        name="payments-dev read-only",
        requester_group=groups["jit-requesters"],
        approver_group=groups["jit-approvers"],
        grantor=carla,
        max_duration_minutes=120,
    )
    policy.permission_sets.set([PermissionSet.objects.present().get(name="ReadOnlyAccess")])
    policy.accounts.set([Account.objects.get(name="payments-dev")])
    return campaign


def _sign_in(page, live_server, oidc_server, persona, path: str) -> None:
    page.goto(live_server.url + path)
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_have_text(persona.display_name)


def _sign_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_every_page_fits_a_390_px_phone(page, live_server, oidc_server, everything, screenshot):
    from governance.audit.models import AuditEvent
    from governance.findings.models import Finding

    campaign = everything
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.set_viewport_size(PHONE)
    visited: list[str] = []
    too_wide: list[str] = []

    def fits(name: str, heading: str | None = None) -> None:
        if heading:
            expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        else:
            expect(page.locator("h1").first).to_be_visible()
        overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
        screenshot(f"{len(visited) + 1:02d}-{name}")
        visited.append(name)
        if overflow > 0:
            too_wide.append(f"{name} ({page.url}): {overflow}px too wide; widest: {page.evaluate(WIDEST)}")

    def visit(name: str, path: str, heading: str | None = None) -> None:
        page.goto(live_server.url + path)
        fits(name, heading)

    visit("login", "/accounts/login/", "Sign in")

    # Carla (campaign admin): the dashboard, her access, the audit trail, findings, reviews'
    # report, evidence, signals, API tokens, every JIT grant and the JIT history.
    _sign_in(page, live_server, oidc_server, BY_KEY["campaign_admin"], "/")
    fits("dashboard", "Dashboard")
    visit("my-access", "/me/")
    visit("audit-trail", "/audit/")
    visit("audit-event", f"/audit/{AuditEvent.objects.order_by('-sequence').first().sequence}/")
    visit("findings-dashboard", "/findings/")
    visit("findings-list", "/findings/list/")
    finding = Finding.objects.filter(rule_id="role.trust_any_principal").order_by("pk").first()
    visit("finding", f"/findings/{finding.pk}/")
    visit("compliance", "/findings/compliance/")
    visit("framework", "/findings/compliance/cis-aws-3/")
    visit("review-report", f"/reviews/{campaign.pk}/report/")
    visit("evidence", "/evidence/", "Signing keys")  # the key URL itself answers JSON, not a page
    visit("evidence-campaigns", "/evidence/campaigns/")
    visit("evidence-campaign", f"/evidence/campaigns/{campaign.pk}/")
    visit("signals", "/signals/")
    visit("signals-activity", "/signals/activity/")
    visit("signals-analyzer", "/signals/access-analyzer/")
    visit("signals-config", "/signals/config/")
    visit("api-tokens", "/api/tokens/")
    visit("jit-grants-admin", "/jit/grants/")
    visit("jit-history", "/jit/history/")
    _sign_out(page)

    # Paula (policy admin): the guardrail tree, an account's chain, the policies, the editor, and
    # the change request she submits from it.
    _sign_in(page, live_server, oidc_server, BY_KEY["policy_admin"], "/guardrails/")
    fits("scp-tree")
    visit("scp-account", f"/guardrails/accounts/{Account.objects.get(name='payments-dev').account_id}/")
    visit("scp-policies", "/guardrails/policies/")
    page.get_by_role("link", name="DenyLeaveOrganization").click()
    fits("scp-policy")
    page.get_by_role("link", name="Edit (a change request)").click()
    page.locator("#scp-document").fill(json.dumps(PROPOSAL, indent=2))
    expect(page.locator("#scp-diagnostics")).to_contain_text("No errors")
    fits("scp-editor")
    page.get_by_label("Reason").fill("A reason long enough to wrap on a phone: keep leaving the org denied.")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#change-status")).to_have_text("Awaiting approval")
    fits("scp-change")
    visit("scp-changes", "/guardrails/changes/")
    visit("scp-new-policy", "/guardrails/policies/new/")
    _sign_out(page)

    # Rick (JIT requester): the request form, the request he sends, his requests and grants.
    _sign_in(page, live_server, oidc_server, BY_KEY["requester"], "/jit/request/")
    fits("jit-request-form", "Request temporary access")
    dev = Account.objects.get(name="payments-dev").account_id
    choice = f"ReadOnlyAccess on payments-dev ({dev}) — up to 120 min"
    page.get_by_label("Access", exact=True).select_option(label=choice)
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_label("Justification").fill("Check the failed payments batch in the logs")
    page.get_by_role("button", name="Request access").click()
    expect(page.get_by_text("sent to its approvers")).to_be_visible()
    fits("jit-request")
    visit("jit-my-requests", "/jit/")
    visit("jit-grants", "/jit/grants/")
    _sign_out(page)

    # Anna (JIT approver): her inbox and the request waiting in it.
    _sign_in(page, live_server, oidc_server, BY_KEY["approver"], "/jit/inbox/")
    fits("jit-inbox", "Waiting for your decision")
    page.get_by_role("link", name=re.compile(r"#\d+")).first.click()
    fits("jit-review")
    _sign_out(page)

    # Maria (manager, a reviewer): the reviews inbox, her campaign's items, the sign-off page.
    _sign_in(page, live_server, oidc_server, BY_KEY["manager"], "/reviews/")
    fits("reviews-inbox")
    visit("review-campaign", f"/reviews/{campaign.pk}/")
    visit("review-sign-off", f"/reviews/{campaign.pk}/sign-off/")

    assert len(visited) == 38
    assert too_wide == [], "\n".join(too_wide)
    assert problems == []
