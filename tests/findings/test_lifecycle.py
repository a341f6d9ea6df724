"""The lifecycle on the emulator's data: found, resolved when AWS no longer shows it, reopened when it
comes back, suppressed until the suppression expires; re-evaluation only for the accounts a sync changed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.aws import session
from governance.findings import selectors, services, tasks
from governance.findings.models import EventKind, Finding, FindingStatus, Suppression
from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization
from tests.fixtures.personas import make_persona_user

pytestmark = pytest.mark.django_db


def _finding(rule_id: str, name: str) -> Finding:
    return Finding.objects.get(rule_id=rule_id, resource_name=name)


def _sync(**kwargs):
    run = sync_organization(**kwargs)
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    return run


def test_it_resolves_a_finding_aws_no_longer_shows_and_reopens_it_when_it_comes_back(fresh_demo_org):
    _sync()
    services.evaluate()
    finding = _finding("role.trust_any_principal", "LegacyCrossAccess")
    assert finding.status == FindingStatus.OPEN
    iam = session.client_for("iam", session.member_credentials(fresh_demo_org.accounts["legacy-billing"]))
    trust = iam.get_role(RoleName="LegacyCrossAccess")["Role"]["AssumeRolePolicyDocument"]
    safe = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    iam.update_assume_role_policy(RoleName="LegacyCrossAccess", PolicyDocument=safe)

    run = _sync()
    result = tasks.evaluate_after_sync(run_id=run.pk)
    assert result["accounts"] == 1 and result["full"] is False  # only legacy-billing changed
    finding.refresh_from_db()
    assert finding.status == FindingStatus.RESOLVED and finding.resolved_at is not None

    iam.update_assume_role_policy(RoleName="LegacyCrossAccess", PolicyDocument=json.dumps(trust))
    tasks.evaluate_after_sync(run_id=_sync().pk)
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and finding.times_reopened == 1
    assert [event.kind for event in selectors.history(finding)] == [
        EventKind.OPENED,
        EventKind.RESOLVED,
        EventKind.REOPENED,
    ]


def test_an_unchanged_sync_evaluates_nothing(synced_demo):
    services.evaluate()
    before = Finding.objects.count()
    run = _sync()
    assert tasks.evaluate_after_sync(run_id=run.pk) == {"skipped": "the sync changed nothing"}
    assert Finding.objects.count() == before


def test_evaluating_again_changes_only_last_seen(synced_demo):
    services.evaluate()
    snapshot = dict(Finding.objects.values_list("pk", "status"))
    run = services.evaluate()
    assert (run.new, run.resolved, run.reopened) == (0, 0, 0)
    assert dict(Finding.objects.values_list("pk", "status")) == snapshot
    assert AuditEvent.objects.filter(action="findings.evaluated").count() == 2


def test_findings_found_again_with_other_facts_get_the_new_evidence(synced_demo, django_assert_max_num_queries):
    services.evaluate()
    with CaptureQueriesContext(connection) as unchanged:
        services.evaluate()
    fields = ("message", "evidence", "evidence_hash", "resource_name", "severity", "severity_rank")
    expected = {row[0]: row[1:] for row in Finding.objects.values_list("pk", *fields)}
    assert len(expected) > 20
    Finding.objects.update(
        message="stale", evidence={"stale": True}, evidence_hash="0" * 32, resource_name="stale", severity="low"
    )
    # One UPDATE .. FROM (VALUES ..) per rule and chunk, not one per finding.
    rules = len({row[0] for row in Finding.objects.values_list("rule_id")})
    with django_assert_max_num_queries(len(unchanged) + rules):
        run = services.evaluate()
    assert (run.new, run.resolved, run.reopened) == (0, 0, 0)
    assert {row[0]: row[1:] for row in Finding.objects.values_list("pk", *fields)} == expected


def test_a_suppression_hides_a_finding_until_it_expires(synced_demo):
    services.evaluate()
    admin = make_persona_user("policy_admin")
    finding = _finding("role.trust_any_principal", "LegacyCrossAccess")
    expires = timezone.now() + timedelta(days=30)
    services.suppress_finding(
        finding=finding,
        justification="Vendor migration ends in March",
        owner="olga.ops@example.com",
        expires_at=expires,
        actor=admin,
    )
    finding.refresh_from_db()
    assert finding.status == FindingStatus.SUPPRESSED
    assert services.evaluate().by_rule["role.trust_any_principal"] == 0  # still found, but not open
    finding.refresh_from_db()
    assert finding.status == FindingStatus.SUPPRESSED
    assert AuditEvent.objects.filter(action="findings.suppressed", object_id=str(finding.pk)).exists()

    assert services.expire_suppressions(now=expires - timedelta(seconds=1)) == 0
    assert services.expire_suppressions(now=expires + timedelta(seconds=1)) == 1
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
    assert Suppression.objects.get(finding=finding).end_reason == "expired"
    assert finding.events.filter(kind=EventKind.SUPPRESSION_EXPIRED).exists()


@pytest.mark.parametrize(
    ("justification", "owner", "days", "message"),
    [
        ("short", "olga.ops@example.com", 10, "at least 10 characters"),
        ("A reason that is long enough", "not-an-email", 10, "e-mail address"),
        ("A reason that is long enough", "olga.ops@example.com", -1, "in the future"),
        ("A reason that is long enough", "olga.ops@example.com", 400, "at most 366 days"),
    ],
)
def test_a_bad_suppression_is_refused_and_writes_nothing(synced_demo, justification, owner, days, message):
    services.evaluate()
    finding = _finding("role.trust_any_principal", "LegacyCrossAccess")
    events = AuditEvent.objects.count()
    with pytest.raises(services.FindingsError, match=message):
        services.suppress_finding(
            finding=finding,
            justification=justification,
            owner=owner,
            expires_at=timezone.now() + timedelta(days=days),
            actor=None,
        )
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
    assert not Suppression.objects.exists() and AuditEvent.objects.count() == events


def test_lifting_a_suppression_opens_the_finding_again(synced_demo):
    services.evaluate()
    finding = _finding("root.mfa_missing", "root user of legacy-billing")
    suppression = services.suppress_finding(
        finding=finding,
        justification="Root MFA device is in the post",
        owner="olga.ops@example.com",
        expires_at=timezone.now() + timedelta(days=5),
        actor=None,
    )
    with pytest.raises(services.FindingsError, match="already suppressed"):
        services.suppress_finding(
            finding=finding,
            justification="Root MFA device is in the post",
            owner="olga.ops@example.com",
            expires_at=timezone.now() + timedelta(days=5),
            actor=None,
        )
    services.lift_suppression(suppression=suppression, actor=None, reason="device arrived")
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
    with pytest.raises(services.FindingsError, match="already ended"):
        services.lift_suppression(suppression=suppression, actor=None)


def test_the_baseline_is_validated_and_audited(db, django_capture_on_commit_callbacks):
    with pytest.raises(services.FindingsError, match="not an action"):
        services.update_baseline(
            actor=None,
            values={
                "required_scp_names": [],
                "required_denies": [{"action": "s3:*"}],
                "admin_permission_set_max_principals": 3,
                "max_session_hours": 8,
            },
        )
    values = {
        "required_scp_names": ["DenyLeaveOrganization"],
        "required_denies": [],
        "admin_permission_set_max_principals": 10,
        "max_session_hours": 12,
    }
    with django_capture_on_commit_callbacks() as callbacks:
        baseline = services.update_baseline(actor=None, values=values)
    assert baseline.admin_permission_set_max_principals == 10 and len(callbacks) == 1
    assert AuditEvent.objects.filter(action="findings.baseline_changed").count() == 1
