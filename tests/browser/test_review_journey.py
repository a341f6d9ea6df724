"""A manager completes an access review in the browser, and the campaign owner closes it.

Maria opens her inbox, keeps one item with a justification, revokes everything recommended for
revocation in bulk, keeps the rest in bulk, and signs the attestation; Carla (the campaign admin)
closes the campaign from its report and approves its remediation; the revokes run against the
emulator and the next sync marks them verified. At desktop width and on a 390 px phone.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization
from governance.reviews import remediation, tasks
from governance.reviews.launch import launch
from governance.reviews.models import CampaignStatus, Decision, ItemKind, RemediationStatus, ReviewItem
from governance.reviews.templates_demo import ensure_demo_template

MARIA, CARLA = BY_KEY["manager"], BY_KEY["campaign_admin"]
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, oidc_server, persona, path: str) -> None:
    page.goto(live_server.url + path)
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_contain_text(persona.display_name.split()[0])


def _fits(page, where: str) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where}: the page is {overflow}px wider than the viewport"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_manager_completes_a_review_and_the_owner_closes_it(
    page, browser, live_server, oidc_server, fresh_demo_org, screenshot, width
):
    from tests.fixtures.personas import make_persona_user

    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.set_viewport_size(WIDTHS[width])
    assert sync_organization().status == SyncStatus.SUCCEEDED
    carla = make_persona_user("campaign_admin")
    campaign = launch(template=ensure_demo_template(), actor=carla, period="2026-Q4").campaign
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

    # The campaign's owner closes it from its report.
    owner = browser.new_page(viewport=WIDTHS[width])
    _sign_in(owner, live_server, oidc_server, CARLA, f"/reviews/{campaign.pk}/report/")
    owner.get_by_role("button", name="Close the campaign now").click()
    expect(owner.get_by_text(re.compile(r"Closed: \d+ undecided items took the default"))).to_be_visible()
    _fits(owner, f"the report at {width}")
    owner.close()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED

    # Remediation, approved by the campaign admin, runs in the emulator; the next sync verifies it.
    assert remediation.approve(campaign=campaign, actor=carla) >= revoked
    tasks.remediate_campaign(campaign_id=campaign.pk)
    runnable = mine.filter(decision=Decision.REVOKE).exclude(kind=ItemKind.ROLE_TRUST)
    assert set(runnable.values_list("remediation_status", flat=True)) == {RemediationStatus.DONE}, list(
        runnable.values_list("kind", "remediation_error")
    )
    tasks.after_sync(run_id=sync_organization().pk)
    assert set(runnable.values_list("remediation_status", flat=True)) == {RemediationStatus.VERIFIED}
    assert not problems, problems
