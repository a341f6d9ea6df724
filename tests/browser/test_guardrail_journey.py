"""Two policy admins carry an SCP change from edit to applied in the browser (four-eyes).

Paula edits the policy (the editor validates as she types), submits it as a change request, and
cannot approve it herself; Peter signs in, reads the diff and the impact, approves and applies it;
the emulator then holds the new document. Screenshots: var/screenshots/.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from governance.aws import session
from governance.aws.demo.personas import BY_KEY
from governance.inventory.models import Policy, PolicyKind, SyncStatus
from governance.inventory.sync import sync_organization
from governance.scp import tasks
from governance.scp.models import ChangeRequest

PAULA, PETER = BY_KEY["policy_admin"], BY_KEY["policy_admin_2"]
PROPOSAL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
        {
            "Sid": "KeepTrails",
            "Effect": "Deny",
            "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"],
            "Resource": "*",
        },
    ],
}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, oidc_server, persona, path: str) -> None:
    page.goto(live_server.url + path)
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(persona.display_name))).click()
    expect(page.locator(".who")).to_have_text(persona.display_name)


def test_one_admin_edits_another_approves_and_applies(page, live_server, oidc_server, fresh_demo_org, screenshot):
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    assert sync_organization().status == SyncStatus.SUCCEEDED
    policy = Policy.objects.present().get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")

    _sign_in(page, live_server, oidc_server, PAULA, "/guardrails/")
    page.get_by_role("link", name="Policies").click()
    page.get_by_role("link", name="DenyLeaveOrganization").click()
    page.get_by_role("link", name="Edit (a change request)").click()
    editor = page.locator("#scp-document")
    editor.fill('{"Version": "2012-10-17", "Statement": [')
    expect(page.locator("#scp-diagnostics")).to_contain_text("not valid JSON")
    editor.fill(json.dumps(PROPOSAL, indent=2))
    expect(page.locator("#scp-diagnostics")).to_contain_text("No errors")
    expect(page.locator("#scp-diagnostics .diff-add").first).to_be_visible()
    screenshot("1-editor")
    page.get_by_label("Reason").fill("Nobody may stop or delete CloudTrail trails (SEC-7).")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#change-status")).to_have_text("Awaiting approval")
    change = ChangeRequest.objects.get()
    tasks.run_impact(change.pk)  # the task cluster's work, done here
    page.reload()
    expect(page.get_by_text("you wrote it")).to_be_visible()
    expect(page.locator("#approve")).to_have_count(0)
    screenshot("2-submitted")
    page.get_by_role("button", name="Log out").click()

    _sign_in(page, live_server, oidc_server, PETER, f"/guardrails/changes/{change.pk}/")
    expect(page.locator("#impact-summary")).to_contain_text("may lose actions")
    expect(page.get_by_text("cloudtrail:StopLogging").first).to_be_visible()
    screenshot("3-review")
    page.locator("#approve").click()
    expect(page.locator("#change-status")).to_have_text("Approved, not applied")
    page.locator("#apply").click()
    expect(page.locator("#change-status")).to_have_text("Applied")
    screenshot("4-applied")

    change.refresh_from_db()
    assert change.approved_by.username == PETER.user_name and change.aws_request_id
    organizations = session.management_client("organizations")
    content = organizations.describe_policy(PolicyId=policy.aws_policy_id)["Policy"]["Content"]
    assert json.loads(content) == PROPOSAL
    assert problems == []
