"""The guardrail pages: the tree with SCPs and RCPs, an account's chain, and the explain form."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_tree_shows_scps_and_rcps_at_each_node(demo_org, synced_persona_client, django_assert_max_num_queries):
    client = synced_persona_client("auditor")
    with django_assert_max_num_queries(18):
        response = client.get(reverse("scp:org_tree"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "SCP <bdi>DenyLeaveOrganization</bdi>" in body
    assert "RCP <bdi>DataPerimeterProd</bdi>" in body
    assert reverse("scp:account", args=[demo_org.accounts["sandbox-maria"]]) in body


def test_an_account_page_shows_the_chain_and_explains(demo_org, synced_persona_client, django_assert_max_num_queries):
    client = synced_persona_client("policy_admin")
    account = demo_org.accounts["sandbox-maria"]
    url = reverse("scp:account", args=[account])
    with django_assert_max_num_queries(18):
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    for name in ("Root", "Sandbox", "sandbox-maria", "SandboxGuardrails", "FullAWSAccess", "RCPFullAWSAccess"):
        assert name in body
    assert "denies directconnect:*, ec2:AttachInternetGateway, ec2:CreateVpcPeeringConnection" in body
    assert "every action except budgets:*, cloudfront:*, iam:*, organizations:*…" in body

    params = {
        "principal": f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        "action": "ec2:RunInstances",
        "resource": f"arn:aws:ec2:us-east-1:{account}:instance/i-1",
        "context": "ec2:InstanceType=m5.large\naws:RequestedRegion=us-east-1",
    }
    partial = client.get(url, params, HTTP_HX_REQUEST="true")
    text = partial.content.decode()
    assert "Explicitly denied" in text and "SandboxGuardrails" in text and "<html" not in text
    error = client.get(url, {**params, "principal": "arn:aws:iam::999999999999:user/ghost"}, HTTP_HX_REQUEST="true")
    assert "not an IAM user, role or role session" in error.content.decode()


def test_managers_cannot_see_guardrails(persona_client):
    assert persona_client("manager").get(reverse("scp:org_tree")).status_code == 403


def test_an_unknown_account_is_404(persona_client):
    assert persona_client("auditor").get(reverse("scp:account", args=["000000000000"])).status_code == 404
