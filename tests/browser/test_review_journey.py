"""A demo campaign launched, completed and closed in the browser, its evidence verified by an auditor.

Carla (the campaign admin), signed in with MFA, launches the `quarterly` template from the
governance admin; Maria opens her inbox, keeps one item with a justification, revokes everything
recommended for revocation in bulk, keeps the rest in bulk, and signs the attestation; Carla
closes the campaign from its report and approves its remediation in the admin; the revokes run
against the emulator and, after the next sync, Carla's report counts them verified. Arthur (the
auditor) signs in, downloads the campaign's evidence package from its page, fetches the public key
from the portal's key URL without logging in, and verifies the package with `manage.py
verify_evidence --public-key` and with the README's standard-tools commands. The background
tasks (the package made at close, the remediation, the after-sync check) run here as the worker
would run them. At desktop width and on a 390 px phone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.evidence import tasks as evidence_tasks
from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization
from governance.reviews import tasks
from governance.reviews.models import Campaign, CampaignStatus, Decision, ItemKind, RemediationStatus, ReviewItem
from governance.reviews.templates_demo import ensure_demo_template
from tests.evidence.test_standard_tools import _run as run_readme_standard_tools

MARIA, CARLA, ARTHUR = BY_KEY["manager"], BY_KEY["campaign_admin"], BY_KEY["auditor"]
MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, oidc_server, persona, path: str, *, mfa: bool = False) -> None:
    page.goto(live_server.url + path)
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    if mfa:  # the admin's actions want a recent MFA login: the IdP's tick-box sets the amr claim
        page.get_by_label("Signed in with MFA").check()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_contain_text(persona.display_name.split()[0])


def _admin_action(page, row: str, action: str) -> None:
    """Ticks `row` in a governance admin list and runs `action` on it."""
    page.get_by_role("checkbox", name=f"Select this object for an action - {row}", exact=True).check()
    page.get_by_label("Action:").select_option(label=action)
    page.get_by_role("button", name="Go").click()


def _fetch(url: str) -> bytes:
    """A plain HTTP GET: no cookie, no session, as an auditor outside the portal fetches it."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200, url
        return response.read()


def _fits(page, where: str) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where}: the page is {overflow}px wider than the viewport"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_campaign_is_launched_completed_closed_remediated_and_its_evidence_verified(
    page, browser, live_server, oidc_server, fresh_demo_org, screenshot, width, tmp_path
):
    problems = []

    def watch(p):
        p.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
        p.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        return p

    watch(page).set_viewport_size(WIDTHS[width])
    assert sync_organization().status == SyncStatus.SUCCEEDED
    template = ensure_demo_template()  # what the demo ships

    # The campaign admin launches the demo template from the governance admin (MFA login).
    owner = watch(browser.new_page(viewport=WIDTHS[width]))
    _sign_in(owner, live_server, oidc_server, CARLA, "/", mfa=True)
    owner.goto(live_server.url + "/admin/reviews/campaigntemplate/")
    _admin_action(owner, template.name, "Launch for the current period")
    expect(owner.locator(".messagelist")).to_contain_text(re.compile(r"Launched .+ \(\d+ items, \d+ reviewers\)\."))
    campaign = Campaign.objects.get(template=template)
    assert campaign.launched_by.email == CARLA.email and campaign.status == CampaignStatus.OPEN
    mine = ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA.email)
    total = mine.count()
    assert total > 2 and mine.filter(recommendation=Decision.REVOKE).exists()

    _sign_in(page, live_server, oidc_server, MARIA, "/reviews/")
    page.get_by_role("link", name=campaign.name).click()
    expect(page.get_by_test_id("progress-text")).to_have_text(f"0 of {total} decided (0%)")
    _fits(page, f"the inbox at {width}")
    screenshot(f"{width}-1-inbox")

    # One by one: the first item kept, with a justification (htmx swaps the item in place).
    first = page.locator("article.review-item").first
    first.get_by_label(re.compile("Justification")).fill("Still on call for payments")
    first.get_by_role("button", name="Keep").click()
    expect(page.locator("article.review-item").first).to_contain_text("Decided: Keep")

    # In bulk: every revoke recommendation, then whatever is still undecided.
    page.get_by_label("Recommendation").select_option("revoke")
    page.get_by_label("Undecided only").check()
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("Decide or delegate everything").click()
    page.locator("#bulk-form").get_by_label("Justification").fill("Unused: revoke")
    page.locator("#bulk-form").get_by_role("button", name="Revoke all").click()
    expect(page.locator(".messages")).to_contain_text(re.compile(r"\d+ items? marked revoke"))
    revoked = mine.filter(decision=Decision.REVOKE, decided_in_bulk=True).count()
    assert revoked and revoked == mine.filter(recommendation=Decision.REVOKE).exclude(decision=Decision.KEEP).count()

    page.get_by_label("Recommendation").select_option("")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("Decide or delegate everything").click()
    page.locator("#bulk-form").get_by_label("Justification").fill("Reviewed: still needed")
    page.locator("#bulk-form").get_by_role("button", name="Keep all").click()
    expect(page.locator(".messages")).to_contain_text(re.compile(r"\d+ items? marked keep"))
    page.goto(live_server.url + f"/reviews/{campaign.pk}/")
    expect(page.get_by_test_id("progress-text")).to_have_text(f"{total} of {total} decided (100%)")
    screenshot(f"{width}-2-decided")

    page.get_by_role("link", name="Sign off").click()
    page.get_by_label(re.compile("I sign this statement")).check()
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_text("Signed. Your decisions are locked.")).to_be_visible()
    assert not mine.filter(locked=False).exists()
    _fits(page, f"the signed inbox at {width}")
    screenshot(f"{width}-3-signed")

    # The campaign's owner closes it from its report; closing queues its evidence package.
    owner.goto(live_server.url + f"/reviews/{campaign.pk}/report/")
    owner.get_by_role("button", name="Close the campaign now").click()
    expect(owner.get_by_text(re.compile(r"Closed: \d+ undecided items took the default"))).to_be_visible()
    _fits(owner, f"the report at {width}")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    evidence_tasks.generate("campaign", str(campaign.pk))

    # She approves the remediation in the admin; it runs in the emulator; the next sync verifies it.
    owner.goto(live_server.url + "/admin/reviews/campaign/")
    _admin_action(owner, str(campaign), "Approve remediation (revokes run as you)")
    expect(owner.locator(".messagelist")).to_contain_text(re.compile(r": (\d+) revokes approved and queued\."))
    approved = int(re.search(r": (\d+) revokes approved", owner.locator(".messagelist").inner_text()).group(1))
    # A role's trust is changed by hand: those revokes wait for their ticket instead.
    assert approved >= mine.filter(decision=Decision.REVOKE).exclude(kind=ItemKind.ROLE_TRUST).count()
    trusts = mine.filter(decision=Decision.REVOKE, kind=ItemKind.ROLE_TRUST)
    assert set(trusts.values_list("remediation_status", flat=True)) <= {RemediationStatus.MANUAL}
    campaign.refresh_from_db()
    assert campaign.remediation_approved_by.email == CARLA.email
    tasks.remediate_campaign(campaign_id=campaign.pk)
    runnable = mine.filter(decision=Decision.REVOKE).exclude(kind=ItemKind.ROLE_TRUST)
    assert set(runnable.values_list("remediation_status", flat=True)) == {RemediationStatus.DONE}, list(
        runnable.values_list("kind", "remediation_error")
    )
    tasks.after_sync(run_id=sync_organization().pk)
    assert set(runnable.values_list("remediation_status", flat=True)) == {RemediationStatus.VERIFIED}
    verified = ReviewItem.objects.filter(campaign=campaign, verified_at__isnull=False).count()
    assert verified >= runnable.count() > 0
    owner.goto(live_server.url + f"/reviews/{campaign.pk}/report/")
    expect(owner.locator(".stat-card", has_text="Revokes verified").locator(".stat")).to_have_text(str(verified))
    owner.close()

    # The auditor downloads the package from the campaign's evidence page and verifies it against
    # the key from the portal's key URL (public: fetched with no session), both ways.
    auditor = watch(browser.new_page(viewport=WIDTHS[width], accept_downloads=True))
    _sign_in(auditor, live_server, oidc_server, ARTHUR, "/evidence/campaigns/")
    auditor.get_by_role("link", name=campaign.name).click()
    expect(auditor.get_by_role("heading", name=f"Evidence: {campaign.name}")).to_be_visible()
    _fits(auditor, f"the evidence page at {width}")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Download").click()
    work = tmp_path / "auditor"
    work.mkdir()
    download.value.save_as(work / "package.zip")
    key_id = auditor.locator("table.inv-table").first.locator("tbody tr td code").last.inner_text()
    keys_url = auditor.get_by_role("link", name="the key URL").get_attribute("href")
    auditor.close()
    keys = json.loads(_fetch(live_server.url + keys_url))["keys"]
    (key,) = [k for k in keys if k["key_id"] == key_id]
    (work / "portal-key.pem").write_bytes(_fetch(key["pem_url"]))

    checked = subprocess.run(
        [sys.executable, str(MANAGE_PY), "verify_evidence", "package.zip", "--public-key", "portal-key.pem"],
        cwd=work, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified" in checked.stdout and key["fingerprint_sha256"] in checked.stdout
    by_hand = run_readme_standard_tools(work)
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    assert "Signature Verified Successfully" in by_hand.stdout and key["fingerprint_sha256"] in by_hand.stdout
    assert not problems, problems
