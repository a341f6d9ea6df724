"""The impact analysis over the synced demo organization: who loses what, recent use, guardrails."""

from __future__ import annotations

import json

import pytest

from governance.inventory.models import Policy, PolicyKind
from governance.scp import impact, tasks
from governance.scp.models import ChangeKind, ChangeRequest, ImpactStatus

pytestmark = pytest.mark.django_db


def _change(policy: Policy, document: dict, kind: str = ChangeKind.UPDATE, **extra) -> ChangeRequest:
    from tests.fixtures.personas import make_persona_user

    author = make_persona_user("policy_admin")
    return ChangeRequest.objects.create(
        kind=kind, policy=policy, aws_policy_id=policy.aws_policy_id, name=policy.name, document=document,
        document_text=json.dumps(document), base_document=policy.document, base_hash=policy.document_hash,
        reason="impact test", author=author, author_name="Paula", **extra,
    )  # fmt: skip


def test_denying_iam_at_the_root_costs_every_account_its_guardrails(synced_demo):
    policy = Policy.objects.get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")
    document = {"Version": "2012-10-17", "Statement": [*policy.document["Statement"],
                {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}  # fmt: skip
    change = _change(policy, document)
    steps = []
    result = impact.analyze(change, progress=lambda done, total: steps.append((done, total)))
    members = [a for name, a in synced_demo.accounts.items() if a != synced_demo.management_account_id]
    assert result["accounts_affected"] == len(members)  # the management account is not restricted by SCPs
    assert result["principals_losing"] > 0 and "iam" in result["lost_services"]
    assert {a["account_id"] for a in result["guardrail_accounts"]} >= {synced_demo.accounts["payments-prod"]}
    assert steps and steps[-1][0] == steps[-1][1]


def test_attaching_a_policy_reaches_only_the_target(synced_demo):
    policy = Policy.objects.get(kind=PolicyKind.SCP, name="DenyIamUserCreation")
    target = synced_demo.accounts["sandbox-olga"]
    change = _change(policy, None, kind=ChangeKind.ATTACH, target_id=target, target_type="ACCOUNT")
    result = impact.analyze(change)
    assert result["accounts_affected"] == 1
    assert all(a["account_id"] == target for a in result["accounts"])


def test_a_change_that_reaches_nothing_says_so_and_the_task_records_it(synced_demo):
    policy = Policy.objects.get(kind=PolicyKind.SCP, name="DraftDenyS3PublicAccess")  # attached nowhere
    change = _change(
        policy, {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    )
    assert tasks.run_impact(change.pk) == "done"
    change.refresh_from_db()
    assert change.impact_status == ImpactStatus.DONE and change.impact["accounts_affected"] == 0
    assert "No account" in change.impact["note"]
    assert tasks.run_impact(change.pk) == "done"  # idempotent: delivered twice, same answer


def test_a_usage_provider_can_be_added(synced_demo):
    from datetime import UTC, datetime

    seen = []

    def cloudtrail(principal_ids, since):
        seen.extend(principal_ids)
        return {pk: impact.Usage(services={"iam": datetime.now(UTC)}, source="cloudtrail") for pk in principal_ids[:1]}

    impact.register_usage_provider("test-cloudtrail", cloudtrail)
    try:
        policy = Policy.objects.get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}
        result = impact.analyze(_change(policy, document))
        assert seen and "test-cloudtrail" in result["usage_sources"]
        assert any(u["source"] == "cloudtrail" for u in result["used_recently"])
    finally:
        impact._USAGE.pop("test-cloudtrail")


def test_break_glass_roles_and_recent_use_from_the_credential_report_and_role_last_used(synced_demo):
    """What the issue asks of the built-in usage: an access key's last used service (credential report) and a
    role used recently (RoleLastUsed); and a break-glass role (by name or tag) that loses anything."""
    from datetime import timedelta

    from django.utils import timezone

    from governance.inventory.models import AccessKey, Principal, PrincipalKind

    now = timezone.now()
    role = Principal.objects.present().get(
        kind=PrincipalKind.IAM_ROLE, name="OrganizationAccountAccessRole", account__name="payments-prod"
    )
    Principal.objects.filter(pk=role.pk).update(tags={"purpose": "break-glass"}, last_used=now - timedelta(days=3))
    user = Principal.objects.present().get(kind=PrincipalKind.IAM_USER, name="legacy-admin")
    assert (
        AccessKey.objects.present()
        .filter(principal=user)
        .update(last_used_service="iam", last_used_date=now - timedelta(days=2))
    )
    policy = Policy.objects.get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")  # attached at the root
    document = {"Version": "2012-10-17", "Statement": [*policy.document["Statement"],
                {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}  # fmt: skip
    result = impact.analyze(_change(policy, document), now=now)

    assert {"credential_report", "role_last_used"} <= set(result["usage_sources"])
    used = {u["arn"]: u for u in result["used_recently"]}
    assert used[user.arn]["source"] == "credential report" and used[user.arn]["services"] == ["iam"]
    assert used[role.arn]["source"] == "RoleLastUsed" and used[role.arn]["services"] == []
    glass = {g["arn"]: g for g in result["break_glass"]}
    assert role.arn in glass and any(a.startswith("iam:") for a in glass[role.arn]["actions"])
    untagged = Principal.objects.present().get(
        kind=PrincipalKind.IAM_ROLE, name="OrganizationAccountAccessRole", account__name="legacy-billing"
    )
    assert untagged.arn not in glass  # losing the same actions, but not a break-glass role
