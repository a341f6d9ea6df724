"""ValidatePolicy in the SCP editor and on customer policies; recent use for impact analysis."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from governance.inventory.models import Policy, PolicyKind
from governance.scp import diagnostics
from governance.scp.impact import _USAGE
from governance.signals.models import (
    ActionLastUsed,
    ActivityEvent,
    ServiceLastAccessed,
    Source,
    SourceState,
    SourceStatus,
)
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID, OWNED_ACCOUNT_IDS, _synced
from tests.signals.conftest import NOW, T1

pytestmark = pytest.mark.django_db

SCP = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Deny", "Action": "s3:GetObjekt", "Resource": "*"}]\n}'


def _analyzer_read(state=SourceState.OK):
    SourceStatus.objects.create(source=Source.ACCESS_ANALYZER, scope="", state=state, checked_at=NOW)


def _finding(kind="ERROR", code="INVALID_ACTION"):
    return {
        "findingDetails": "The action s3:GetObjekt does not exist.",
        "findingType": kind,
        "issueCode": code,
        "learnMoreLink": "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html",
        "locations": [{"path": [{"value": "Statement"}, {"index": 0}, {"value": "Action"}],
                       "span": {"start": {"line": 3, "column": 40, "offset": 70},
                                "end": {"line": 3, "column": 53, "offset": 83}}}],
    }  # fmt: skip


def test_the_scp_editor_shows_access_analyzers_findings_beside_its_own(stub, persona_inventory):
    _analyzer_read()
    with stub("accessanalyzer") as s:
        s.add_response(
            "validate_policy",
            {"findings": [_finding()]},
            {"policyDocument": SCP, "policyType": "SERVICE_CONTROL_POLICY"},
        )
        found = diagnostics.diagnose(SCP, "scp")
    ours = [d for d in found if d.source == "access_analyzer"]
    assert [(d.code, d.severity, d.line, d.column, d.path) for d in ours] == [
        ("INVALID_ACTION", "error", 3, 40, "Statement[0].Action")
    ]
    assert any(d.source != "access_analyzer" for d in found)  # the portal's own checks still ran
    with stub("accessanalyzer"):  # the same text again: kept, no call
        again = [d for d in diagnostics.diagnose(SCP, "scp") if d.source == "access_analyzer"]
    assert again == ours


def test_without_a_successful_analyzer_read_validate_policy_is_not_asked(stub, persona_inventory):
    _analyzer_read(SourceState.NOT_AVAILABLE)
    with stub("accessanalyzer"):  # nothing stubbed: a call would fail the test
        found = diagnostics.diagnose(SCP, "scp")
    assert not [d for d in found if d.source == "access_analyzer"]


def test_a_refused_validation_is_a_warning_not_silence(stub, persona_inventory):
    _analyzer_read()
    with stub("accessanalyzer") as s:
        s.add_client_error("validate_policy", service_error_code="AccessDeniedException", http_status_code=403)
        found = [d for d in diagnostics.diagnose(SCP, "scp") if d.source == "access_analyzer"]
    assert [(d.code, d.severity) for d in found] == [("ACCESS_ANALYZER_FAILED", "warning")]
    assert "AccessDeniedException" in found[0].message


def _customer_policy(inventory):
    account = inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    arn = f"arn:aws:iam::{account.account_id}:policy/ops"
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}
    return Policy.objects.create(
        kind=PolicyKind.CUSTOMER_MANAGED, arn=arn, name="ops", account=account, document=document,
        scope=f"iam:{account.account_id}", **_synced(arn),
    )  # fmt: skip


def test_a_customer_policy_page_shows_aws_checks_and_who_changed_it(stub, persona_client, persona_inventory):
    policy = _customer_policy(persona_inventory)
    _analyzer_read()
    ActivityEvent.objects.create(
        event_id="e-1", recipient_account_id=OWNED_ACCOUNT_IDS[0], event_time=T1, event_source="iam.amazonaws.com",
        event_name="CreatePolicyVersion", target=policy.arn, actor_arn="arn:aws:iam::1:user/bob", user_name="bob",
        source_ip="203.0.113.5", out_of_band=True,
    )  # fmt: skip
    text = json.dumps(Policy.objects.get(pk=policy.pk).document, indent=2)  # as stored (jsonb orders keys)
    with stub("accessanalyzer") as s:
        s.add_response(
            "validate_policy",
            {"findings": [_finding("SECURITY_WARNING", "PASS_ROLE_WITH_STAR_IN_RESOURCE")]},
            {"policyDocument": text, "policyType": "IDENTITY_POLICY"},
        )
        page = persona_client("manager").get(reverse("inventory:policy", args=[policy.pk])).content.decode()
    assert "PASS_ROLE_WITH_STAR_IN_RESOURCE" in page
    assert "iam:CreatePolicyVersion" in page and "bob" in page and "outside the portal" in page


def test_on_the_emulator_the_policy_page_says_validate_policy_is_not_available(persona_client, persona_inventory):
    policy = _customer_policy(persona_inventory)
    page = persona_client("manager").get(reverse("inventory:policy", args=[policy.pk])).content.decode()
    assert "ValidatePolicy: not available from this endpoint" in page


def test_impact_analysis_reads_recent_use_from_last_accessed_and_cloudtrail(persona_inventory):
    role = persona_inventory.manager_role
    ServiceLastAccessed.objects.create(
        principal=role, namespace="ec2", service_name="Amazon EC2", last_authenticated=NOW - timedelta(days=2),
        fetched_at=NOW,
    )  # fmt: skip
    ServiceLastAccessed.objects.create(principal=role, namespace="s3", service_name="Amazon S3", fetched_at=NOW)
    ActionLastUsed.objects.create(
        account=persona_inventory.accounts[GOVERNANCE_ACCOUNT_ID], principal_arn=role.arn, principal=role,
        action="organizations:DescribePolicy", last_used_at=NOW - timedelta(days=1), source="cloudtrail",
    )  # fmt: skip
    since = NOW - timedelta(days=90)
    assert _USAGE["service_last_accessed"]([role.pk], since)[role.pk].services == {"ec2": NOW - timedelta(days=2)}
    assert _USAGE["cloudtrail"]([role.pk], since)[role.pk].services == {"organizations": NOW - timedelta(days=1)}
