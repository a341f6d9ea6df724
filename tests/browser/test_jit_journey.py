"""Just-in-time access from request to automatic revocation, in the browser.

Rick (jit-requesters) asks for ReadOnlyAccess on payments-dev; Anna (jit-approvers), signed in with
MFA in her own browser, approves it; the worker creates the assignment in the emulator and Rick's
active grants page counts down. Then the clock runs out: one scheduler pass deletes the assignment,
Rick's page (polling) shows nothing active, and the next sync confirms the assignment is gone.

Tasks run as they are queued (django-q's sync mode): the worker is there at once.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.inventory.models import Account, PermissionSet, Principal, PrincipalKind, SyncStatus
from governance.inventory.sync import sync_organization
from tests.browser.conftest import SCREENSHOTS

RICK, ANNA = BY_KEY["requester"], BY_KEY["approver"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def jit_demo(fresh_demo_org, monkeypatch):
    from django_q.conf import Conf

    from governance.jit.models import EligibilityPolicy
    from tests.fixtures.personas import make_persona_user

    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    groups = {p.name: p for p in Principal.objects.present().filter(kind=PrincipalKind.SSO_GROUP)}
    policy = EligibilityPolicy.objects.create(
        name="payments-dev read-only",
        requester_group=groups["jit-requesters"],
        approver_group=groups["jit-approvers"],
        grantor=make_persona_user("campaign_admin"),
        max_duration_minutes=120,
    )
    policy.permission_sets.set([PermissionSet.objects.present().get(name="ReadOnlyAccess")])
    policy.accounts.set([Account.objects.get(name="payments-dev")])
    monkeypatch.setattr(Conf, "SYNC", True)
    return policy


def _sign_in(page, live_server, oidc_server, path: str, persona) -> None:
    page.goto(live_server.url + path)
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_have_text(persona.display_name)


def test_a_request_is_approved_granted_and_revoked_by_itself(
    page, browser, live_server, oidc_server, jit_demo, screenshot
):
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    from governance.aws import session
    from governance.jit import lifecycle
    from governance.jit.models import Grant, GrantStatus
    from governance.jit.reconcile import reconcile

    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _sign_in(page, live_server, oidc_server, "/jit/request/", RICK)
    expect(page.get_by_role("heading", name="Request temporary access")).to_be_visible()
    account = jit_demo.accounts.get()
    page.get_by_label("Access", exact=True).select_option(
        label=f"ReadOnlyAccess on payments-dev ({account.account_id}) — up to 120 min"
    )
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_label("Justification").fill("Check the failed payments batch in the logs")
    page.get_by_label("Ticket (optional)").fill("OPS-4242")
    screenshot("1-request")
    page.get_by_role("button", name="Request access").click()
    expect(page.get_by_text("sent to its approvers")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("Waiting for approval")

    anna = browser.new_page()
    _sign_in(anna, live_server, oidc_server, "/jit/inbox/", ANNA)
    expect(anna.get_by_role("heading", name="Waiting for your decision")).to_be_visible()
    anna.get_by_role("link", name=re.compile(r"#\d+")).first.click()
    expect(anna.get_by_text("OPS-4242")).to_be_visible()
    anna.get_by_label("Comment (required to deny)").fill("ok for the incident")
    anna.get_by_role("button", name="Approve").click()
    expect(anna.get_by_text("approved; the access is being granted")).to_be_visible()
    anna.screenshot(path=str(SCREENSHOTS / "test_a_request_is_approved_granted_and_revoked_by_itself-2-approved.png"))
    anna.close()

    grant = Grant.objects.get()
    assert grant.status == GrantStatus.ACTIVE, grant.last_error
    sso = session.management_client("sso-admin")
    held = sso.list_account_assignments(
        InstanceArn=grant.permission_set.instance_arn,
        AccountId=grant.account.account_id,
        PermissionSetArn=grant.permission_set.arn,
    )["AccountAssignments"]
    assert any(a["PrincipalId"] == grant.principal.identity_store_principal_id for a in held)

    page.goto(live_server.url + "/jit/grants/")
    expect(page.get_by_role("heading", name="My active access")).to_be_visible()
    countdown = page.locator(".countdown").first
    expect(countdown).to_have_text(re.compile(r"\d+m \d+s left"))
    first = countdown.text_content()
    page.wait_for_timeout(1500)
    assert countdown.text_content() != first  # it counts down live
    screenshot("3-active")

    # The time is up: the grant's end (and its one-off schedule) move into the past, one scheduler pass.
    now = timezone.now() - timedelta(seconds=5)
    Grant.objects.filter(pk=grant.pk).update(starts_at=now - timedelta(minutes=30), ends_at=now)
    Schedule.objects.filter(name=lifecycle.EXPIRY_SCHEDULE.format(grant.pk)).update(next_run=now)
    scheduler()
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ENDED, grant.last_error
    expect(page.get_by_text("No access is active for you right now.")).to_be_visible(timeout=15_000)
    screenshot("4-revoked")

    run = sync_organization()
    assert reconcile(run_id=run.pk)["confirmed"] == 1
    page.goto(live_server.url + f"/jit/requests/{grant.request_id}/")
    expect(page.locator("h2")).to_contain_text("Ended")
    expect(page.get_by_text("Expired")).to_be_visible()
    expect(page.get_by_text("confirmed the assignment is gone from AWS")).to_be_visible()
    screenshot("5-history")
    assert not problems, problems
