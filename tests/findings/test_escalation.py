"""policy.privilege_escalation and boundary.delegated_admin_missing decide with the policy evaluator:
conditions, boundaries and SCPs change the verdict as they change AWS's."""

from __future__ import annotations

import pytest

from governance.findings import services
from governance.findings.models import Finding
from governance.inventory.models import (
    Entitlement,
    EntitlementVia,
    Policy,
    PolicyKind,
    Principal,
    PrincipalKind,
    ScpAttachment,
    ScpTargetType,
)
from tests.fixtures.personas import OTHER_ACCOUNT_ID, _synced

pytestmark = pytest.mark.django_db


def _document(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(actions, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def _user(inventory, name: str, document: dict, *, boundary: dict | None = None) -> Principal:
    account = inventory.accounts[OTHER_ACCOUNT_ID]
    arn = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:user/{name}"
    bound = None
    if boundary is not None:
        bound = Policy.objects.create(
            kind=PolicyKind.CUSTOMER_MANAGED,
            arn=f"arn:aws:iam::{OTHER_ACCOUNT_ID}:policy/{name}-b",
            name=f"{name}-b",
            account=account,
            document=boundary,
            **_synced(f"{name}-b"),
        )
    user = Principal.objects.create(
        kind=PrincipalKind.IAM_USER, account=account, arn=arn, name=name, permissions_boundary=bound, **_synced(arn)
    )
    policy = Policy.objects.create(
        kind=PolicyKind.INLINE,
        arn=f"{arn}#inline/p",
        name=f"{name}-inline",
        account=account,
        principal=user,
        document=document,
        **_synced(f"{arn}#p"),
    )
    Entitlement.objects.create(
        principal=user, policy=policy, via=EntitlementVia.INLINE, account=account, **_synced(f"{arn}#e")
    )
    return user


def _verdicts() -> dict[tuple[str, str], dict]:
    services.evaluate(rule_ids=["policy.privilege_escalation", "boundary.delegated_admin_missing"])
    return {(f.rule_id, f.resource_name): f.evidence for f in Finding.objects.filter(status="open")}


def test_pass_role_escalates_only_to_the_service_its_condition_names(persona_inventory):
    to_lambda = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    to_glue = {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}
    lambda_actions = ["lambda:CreateFunction", "lambda:InvokeFunction"]
    _user(
        persona_inventory,
        "lambda-deployer",
        _document(_allow("iam:PassRole", Condition=to_lambda), _allow(lambda_actions)),
    )
    _user(persona_inventory, "glue-only", _document(_allow("iam:PassRole", Condition=to_glue), _allow(lambda_actions)))
    found = _verdicts()
    paths = [p["id"] for p in found[("policy.privilege_escalation", "lambda-deployer")]["paths"]]
    assert paths == ["PassRoleToLambdaInvoke"]
    step = found[("policy.privilege_escalation", "lambda-deployer")]["paths"][0]["steps"][0]
    assert step["allowed_by"][0]["policy"].endswith("#inline/p")
    assert ("policy.privilege_escalation", "glue-only") not in found


def test_self_service_keys_are_not_an_escalation_but_keys_for_anyone_are(persona_inventory):
    own = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:user/${{aws:username}}"
    _user(persona_inventory, "self-service", _document(_allow("iam:CreateAccessKey", own)))
    _user(
        persona_inventory,
        "key-maker",
        _document(_allow("iam:CreateAccessKey", f"arn:aws:iam::{OTHER_ACCOUNT_ID}:user/*")),
    )
    found = _verdicts()
    assert ("policy.privilege_escalation", "self-service") not in found
    assert [p["id"] for p in found[("policy.privilege_escalation", "key-maker")]["paths"]] == ["CreateAccessKey"]


def test_a_boundary_closes_the_path_and_silences_the_delegation_finding(persona_inventory):
    admin_of_iam = _document(_allow(["iam:AttachRolePolicy", "iam:CreateRole", "sts:AssumeRole"]))
    _user(persona_inventory, "unbounded", admin_of_iam)
    _user(persona_inventory, "bounded", admin_of_iam, boundary=_document(_allow("s3:*")))
    found = _verdicts()
    assert ("policy.privilege_escalation", "unbounded") in found
    assert ("boundary.delegated_admin_missing", "unbounded") in found
    assert ("policy.privilege_escalation", "bounded") not in found
    assert ("boundary.delegated_admin_missing", "bounded") not in found


def test_an_scp_deny_closes_the_path(persona_inventory):
    _user(persona_inventory, "coder", _document(_allow("lambda:UpdateFunctionCode")))
    assert ("policy.privilege_escalation", "coder") in _verdicts()
    account = persona_inventory.accounts[OTHER_ACCOUNT_ID]
    scp = Policy.objects.create(
        kind=PolicyKind.SCP,
        arn="arn:aws:organizations::1:policy/p-deny",
        name="DenyLambdaCode",
        document=_document({"Effect": "Deny", "Action": "lambda:UpdateFunctionCode", "Resource": "*"}),
        **_synced("scp-deny"),
    )
    full = Policy.objects.create(
        kind=PolicyKind.SCP,
        arn="arn:aws:organizations::1:policy/p-full",
        name="FullAWSAccess",
        document=_document(_allow("*")),
        **_synced("scp-full"),
    )
    ScpAttachment.objects.create(
        policy=full,
        target_type=ScpTargetType.ROOT,
        target_id=account.parent.ou_id,
        unit=account.parent,
        **_synced("att-root"),
    )
    ScpAttachment.objects.create(
        policy=scp,
        target_type=ScpTargetType.ACCOUNT,
        target_id=account.account_id,
        account=account,
        **_synced("att-acct"),
    )
    assert ("policy.privilege_escalation", "coder") not in _verdicts()


def test_an_unparseable_policy_is_reported_not_passed(persona_inventory):
    _user(persona_inventory, "broken", {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "iam:*"}]})
    found = _verdicts()
    assert "cannot be parsed" in found[("policy.privilege_escalation", "broken")]["error"]


def test_keys_for_some_users_are_an_escalation_the_evidence_names_which(persona_inventory):
    admins = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:user/admins/*"
    _user(persona_inventory, "admin-key-maker", _document(_allow("iam:CreateAccessKey", admins)))
    found = _verdicts()
    (path,) = found[("policy.privilege_escalation", "admin-key-maker")]["paths"]
    assert path["id"] == "CreateAccessKey"
    (step,) = path["steps"]
    assert step["coverage"] == "some"
    assert step["allowed_on"] == ["arn:aws:iam::<account>:user/admins/*"]


def test_passing_one_named_role_to_a_new_function_is_an_escalation(persona_inventory):
    one_role = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/app-runner"
    _user(
        persona_inventory,
        "one-role-deployer",
        _document(_allow("iam:PassRole", one_role), _allow(["lambda:CreateFunction", "lambda:InvokeFunction"])),
    )
    found = _verdicts()
    (path,) = found[("policy.privilege_escalation", "one-role-deployer")]["paths"]
    assert path["id"] == "PassRoleToLambdaInvoke"
    passing = path["steps"][0]
    assert (passing["action"], passing["coverage"]) == ("iam:PassRole", "some")
    assert passing["allowed_on"] == ["arn:aws:iam::<account>:role/app-runner"]
    assert path["steps"][1]["coverage"] == "all"


def test_attaching_to_one_role_and_assuming_another_is_no_path(persona_inventory):
    attach = _allow("iam:AttachRolePolicy", f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/build-*")
    _user(
        persona_inventory,
        "split-rights",
        _document(attach, _allow("sts:AssumeRole", f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/read-*")),
    )
    _user(
        persona_inventory,
        "joined-rights",
        _document(attach, _allow("sts:AssumeRole", f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/build-*")),
    )
    found = _verdicts()
    assert ("policy.privilege_escalation", "split-rights") not in found
    paths = [p["id"] for p in found[("policy.privilege_escalation", "joined-rights")]["paths"]]
    assert paths == ["AttachRolePolicy"]
    # Either way, attaching policies to roles is delegated IAM administration without a boundary.
    assert ("boundary.delegated_admin_missing", "split-rights") in found


def test_a_deny_on_the_only_allowed_users_closes_the_path(persona_inventory):
    admins = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:user/admins/*"
    denied = {"Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": admins}
    _user(persona_inventory, "cancelled", _document(_allow("iam:CreateAccessKey", admins), denied))
    assert ("policy.privilege_escalation", "cancelled") not in _verdicts()
