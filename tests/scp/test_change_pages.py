"""The policy and change-request pages: editing makes a request, four-eyes and MFA guard the decision."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from governance.inventory.models import Policy, PolicyKind
from governance.scp import tasks
from governance.scp.models import ChangeRequest, ChangeStatus

pytestmark = pytest.mark.django_db

PROPOSAL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
        {"Sid": "NoTrailStops", "Effect": "Deny", "Action": "cloudtrail:StopLogging", "Resource": "*"},
    ],
}


def _scp(name: str) -> Policy:
    return Policy.objects.present().get(kind=PolicyKind.SCP, name=name)


def test_the_policy_page_shows_document_versions_and_attachments(
    demo_org, synced_persona_client, django_assert_max_num_queries
):
    client = synced_persona_client("auditor")
    policy = _scp("SandboxGuardrails")
    with django_assert_max_num_queries(20):
        response = client.get(reverse("scp:policy", args=[policy.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "ec2:RunInstances" in body and "v1 (synced)" in body and demo_org.ous["Sandbox"] in body
    assert "Edit (a change request)" not in body  # auditors read, they do not propose
    assert client.get(reverse("scp:policy_edit", args=[policy.pk])).status_code == 403


def test_full_aws_access_is_explained_and_offers_no_edit(demo_org, synced_persona_client):
    client = synced_persona_client("policy_admin")
    body = client.get(reverse("scp:policy", args=[_scp("FullAWSAccess").pk])).content.decode()
    assert "FullAWSAccess is AWS's own SCP: it allows every action" in body
    assert "It cannot be edited" in body and "Edit (a change request)" not in body


def test_an_edit_becomes_a_request_and_a_bad_one_writes_nothing(demo_org, synced_persona_client):
    client = synced_persona_client("policy_admin")
    policy = _scp("DenyLeaveOrganization")
    url = reverse("scp:policy_edit", args=[policy.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'hx-post="/guardrails/policies/validate/"' in page.content.decode()

    bad = client.post(
        url, {"document": '{"Version": "2012-10-17", "Statement": [', "reason": "Stop trail tampering now"}
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.content.decode()
    assert not ChangeRequest.objects.exists()

    live = client.post(
        reverse("scp:policy_validate"), {"document": json.dumps(PROPOSAL, indent=2), "scp_id": policy.pk}
    )
    assert "No errors" in live.content.decode() and "diff-add" in live.content.decode()

    done = client.post(url, {"document": json.dumps(PROPOSAL, indent=2), "reason": "Stop trail tampering now"})
    change = ChangeRequest.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse("scp:change", args=[change.pk])
    assert change.status == ChangeStatus.PENDING and change.author.username == "paula.policy"


def test_the_author_cannot_approve_and_approval_needs_mfa(demo_org, synced_persona_client):
    paula = synced_persona_client("policy_admin")
    policy = _scp("DenyLeaveOrganization")
    paula.post(
        reverse("scp:policy_edit", args=[policy.pk]),
        {"document": json.dumps(PROPOSAL), "reason": "Stop trail tampering now"},
    )
    change = ChangeRequest.objects.get()
    tasks.run_impact(change.pk)
    approve = reverse("scp:change_approve", args=[change.pk])

    refused = paula.post(approve, follow=True)
    assert "another policy admin must approve it" in refused.content.decode()
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING

    peter_without_mfa = synced_persona_client("policy_admin_2", mfa=False)
    response = peter_without_mfa.post(approve)
    assert response.status_code == 302 and reverse("scp:change", args=[change.pk]) not in response["Location"]
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING

    peter = synced_persona_client("policy_admin_2")
    page = peter.get(reverse("scp:change", args=[change.pk])).content.decode()
    assert "cloudtrail:StopLogging" in page and "may lose actions" in page
    peter.post(approve)
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.approved_by.username == "peter.policy"


def test_the_impact_panel_polls_while_running(demo_org, synced_persona_client):
    client = synced_persona_client("policy_admin")
    policy = _scp("DenyLeaveOrganization")
    client.post(
        reverse("scp:policy_edit", args=[policy.pk]),
        {"document": json.dumps(PROPOSAL), "reason": "Stop trail tampering now"},
    )
    change = ChangeRequest.objects.get()
    ChangeRequest.objects.filter(pk=change.pk).update(impact_status="running", impact_done=3, impact_total=9)
    panel = client.get(reverse("scp:change_impact", args=[change.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in panel and "3 / 9" in panel
