"""explain_access over the synced demo organization: SCP levels, RCPs, identity policies, errors."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from governance.scp.explain import ExplainError, explain, parse_context

pytestmark = pytest.mark.django_db


def _admin_role(demo, account: str) -> str:
    return f"arn:aws:iam::{demo.accounts[account]}:role/OrganizationAccountAccessRole"


def _layer(answer: dict, layer: str, name: str | None = None) -> dict:
    return next(x for x in answer["layers"] if x["layer"] == layer and (name is None or x.get("name") == name))


def test_it_names_the_sandbox_guardrail_that_denies_a_large_instance(synced_demo):
    sandbox = synced_demo.accounts["sandbox-maria"]
    common = {
        "principal_arn": _admin_role(synced_demo, "sandbox-maria"),
        "action": "ec2:RunInstances",
        "resource": f"arn:aws:ec2:us-east-1:{sandbox}:instance/i-1",
    }
    denied = explain(**common, context={"ec2:InstanceType": "m5.large", "aws:RequestedRegion": "us-east-1"})
    answer = denied.as_dict()
    assert answer["decision"] == "explicit_deny" and not answer["allowed"]
    assert {"type": "scp", "policy": "SandboxGuardrails", "sid": None, "index": 0} in answer["statements"]
    assert _layer(answer, "scp", "Sandbox")["decision"] == "explicit_deny"
    assert _layer(answer, "scp", "Root")["decision"] == "allow"
    assert _layer(answer, "identity")["decision"] == "allow"
    assert "AdministratorAccess" in _layer(answer, "identity")["policies"]

    small = explain(**common, context={"ec2:InstanceType": "t3.micro", "aws:RequestedRegion": "us-east-1"})
    assert small.decision.allowed
    outside = explain(**common, context={"ec2:InstanceType": "t3.micro", "aws:RequestedRegion": "ap-south-1"})
    assert outside.as_dict()["statements"][0]["policy"] == "DenyRegionsOutsideAllowList"


def test_it_decides_the_data_perimeter_rcp_on_the_resource_account(synced_demo):
    common = {
        "principal_arn": _admin_role(synced_demo, "payments-prod"),
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::payments-receipts/2026/receipt.pdf",
    }
    # An S3 ARN names no account: the bucket is payments-prod's own, as the context says.
    own = {"aws:RequestedRegion": "eu-west-1", "aws:ResourceAccount": synced_demo.accounts["payments-prod"]}
    inside = explain(**common, context=own).as_dict()
    assert inside["allowed"], inside["reason"]
    assert inside["resource_account"] == synced_demo.accounts["payments-prod"]
    assert any(x["layer"] == "rcp" and "DataPerimeterProd" in x["policies"] for x in inside["layers"])
    outsider = explain(**common, context={**own, "aws:PrincipalOrgID": "o-someoneelse"})
    outsider = outsider.as_dict()
    assert outsider["decision"] == "explicit_deny"
    assert outsider["statements"][0] == {
        "type": "rcp",
        "policy": "DataPerimeterProd",
        "sid": "EnforceOrgIdentities",
        "index": 0,
    }


def test_management_account_principals_are_not_restricted_by_scps(synced_demo):
    management = synced_demo.management_account_id
    answer = explain(
        principal_arn=f"arn:aws:iam::{management}:role/GovernancePortalWriterRole",
        action="organizations:UpdatePolicy",
        resource=f"arn:aws:organizations::{management}:policy/o-x/service_control_policy/p-1",
    ).as_dict()
    assert all(
        x.get("note") == "SCPs do not apply to the management account" for x in answer["layers"] if x["layer"] == "scp"
    )


def test_the_command_prints_json_and_refuses_unknown_principals(synced_demo, capsys):
    call_command(
        "explain_access",
        "--principal", _admin_role(synced_demo, "sandbox-maria"),
        "--action", "ec2:RunInstances",
        "--resource", f"arn:aws:ec2:us-east-1:{synced_demo.accounts['sandbox-maria']}:instance/i-1",
        "--context", "ec2:InstanceType=m5.large",
        "--context", "aws:RequestedRegion=us-east-1",
    )  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert printed["decision"] == "explicit_deny"
    assert set(printed) >= {"principal", "action", "resource", "decision", "reason", "statements", "layers"}
    with pytest.raises(CommandError, match="not an IAM user, role or role session"):
        call_command(
            "explain_access",
            "--principal",
            "arn:aws:iam::999999999999:role/nobody",
            "--action",
            "s3:GetObject",
            "--resource",
            "*",
        )


def test_a_role_session_arn_is_its_role(synced_demo):
    account = synced_demo.accounts["sandbox-maria"]
    answer = explain(
        principal_arn=f"arn:aws:sts::{account}:assumed-role/OrganizationAccountAccessRole/alice",
        action="iam:ListRoles",
        resource="*",
    )
    assert answer.principal.name == "OrganizationAccountAccessRole" and answer.decision.allowed


def test_bad_context_and_actions_are_clear_errors():
    with pytest.raises(ExplainError, match="KEY=VALUE"):
        parse_context(["aws:RequestedRegion"])
    assert parse_context(["aws:TagKeys=a", "aws:TagKeys=b"]) == {"aws:TagKeys": ["a", "b"]}
    for action in ("GetObject", "s3:", ":GetObject"):
        with pytest.raises(ExplainError, match="service:Action"):
            explain(principal_arn="arn:aws:iam::1:role/x", action=action, resource="*")
    for pattern in ("*", "s3:*", "s3:Get*", "ec2:RunInstance?"):
        with pytest.raises(ExplainError, match="is a pattern: name one action"):
            explain(principal_arn="arn:aws:iam::1:role/x", action=pattern, resource="*")


def test_an_action_the_catalog_does_not_know_is_answered_with_a_warning(synced_demo):
    answer = explain(
        principal_arn=_admin_role(synced_demo, "sandbox-maria"),
        action="s3:GetObjekt",
        resource="*",
        context={"aws:RequestedRegion": "us-east-1"},
    ).as_dict()
    assert answer["warnings"] == ["s3:GetObjekt is not in the IAM action catalog: check its spelling"]


RECEIPT = "arn:aws:s3:::payments-receipts/2026/receipt.pdf"
UNKNOWN = "the resource's account is unknown; give aws:ResourceAccount"


def test_a_bucket_whose_account_is_not_given_is_not_allowed_and_says_why(synced_demo):
    """IAM User Guide, "Cross-account policy evaluation logic": in another account the bucket policy must
    allow too, so an S3 ARN (no account) is not taken as the caller's own."""
    answer = explain(
        principal_arn=_admin_role(synced_demo, "payments-prod"),
        action="s3:GetObject",
        resource=RECEIPT,
        context={"aws:RequestedRegion": "eu-west-1"},
    ).as_dict()
    assert answer["decision"] == "implicit_deny" and not answer["allowed"]
    assert answer["reason"].startswith(UNKNOWN)
    assert "in another account: cross-account request: no resource policy allows it" in answer["reason"]
    assert answer["resource_account"] is None
    assert any("give --context aws:ResourceAccount=ACCOUNT_ID" in w for w in answer["warnings"])
    # Each layer still shows its own statements, read as the caller's own account, and says so.
    identity = _layer(answer, "identity")
    assert identity["decision"] == "allow" and "caller's own account" in identity["note"]
    assert any(x["layer"] == "rcp" and "DataPerimeterProd" in x["policies"] for x in answer["layers"])


def test_a_bucket_of_another_account_needs_its_bucket_policy(synced_demo):
    answer = explain(
        principal_arn=_admin_role(synced_demo, "payments-prod"),
        action="s3:GetObject",
        resource=RECEIPT,
        context={"aws:RequestedRegion": "eu-west-1", "aws:ResourceAccount": synced_demo.accounts["sandbox-maria"]},
    ).as_dict()
    assert answer["decision"] == "implicit_deny"
    assert UNKNOWN not in answer["reason"] and "cross-account" in answer["reason"]
    assert answer["resource_account"] == synced_demo.accounts["sandbox-maria"]
    assert not any("unknown" in w for w in answer["warnings"])


def test_the_command_takes_the_resource_account_from_context(synced_demo, capsys):
    base = [
        "explain_access",
        "--principal", _admin_role(synced_demo, "payments-prod"),
        "--action", "s3:GetObject",
        "--resource", RECEIPT,
        "--context", "aws:RequestedRegion=eu-west-1",
    ]  # fmt: skip
    call_command(*base)
    unknown = json.loads(capsys.readouterr().out)
    assert unknown["decision"] == "implicit_deny" and unknown["reason"].startswith(UNKNOWN)
    call_command(*base, "--context", f"aws:ResourceAccount={synced_demo.accounts['payments-prod']}")
    known = json.loads(capsys.readouterr().out)
    assert known["allowed"] and known["decision"] == "allow", known["reason"]
    assert known["resource_account"] == synced_demo.accounts["payments-prod"]
    with pytest.raises(CommandError, match="must be one 12-digit account ID"):
        call_command(*base, "--context", "aws:ResourceAccount=payments")


def test_a_resource_account_that_is_not_one_account_or_contradicts_the_arn_is_refused(synced_demo):
    role = _admin_role(synced_demo, "sandbox-maria")
    sandbox = synced_demo.accounts["sandbox-maria"]
    for value in ("12345", "abcdefghijkl", ["111122223333", "444455556666"]):
        with pytest.raises(ExplainError, match="must be one 12-digit account ID"):
            explain(principal_arn=role, action="s3:GetObject", resource=RECEIPT, context={"aws:ResourceAccount": value})
    with pytest.raises(ExplainError, match="contradicts the resource's ARN"):
        explain(
            principal_arn=role,
            action="ec2:StopInstances",
            resource=f"arn:aws:ec2:us-east-1:{sandbox}:instance/i-1",
            context={"aws:resourceaccount": "999999999999"},
        )
    # The same account as the ARN's is no contradiction.
    agreed = explain(
        principal_arn=role,
        action="ec2:StopInstances",
        resource=f"arn:aws:ec2:us-east-1:{sandbox}:instance/i-1",
        context={"aws:ResourceAccount": sandbox, "aws:RequestedRegion": "us-east-1"},
    )
    assert agreed.request.resource_account == sandbox
