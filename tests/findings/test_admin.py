"""The governance admin for findings: suppressions and the baseline go through the services (audited,
validated, nothing written on bad input), need findings.manage and a fresh MFA login."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.findings.models import BaselineSettings, FindingStatus, Severity, Suppression
from tests.findings.test_pages import _finding
from tests.fixtures.personas import OTHER_ACCOUNT_ID

pytestmark = pytest.mark.django_db
SUPPRESSIONS = "/admin/findings/suppression/"
BASELINE = "/admin/findings/baselinesettings/"


@pytest.fixture
def finding(persona_inventory):
    return _finding(persona_inventory.accounts[OTHER_ACCOUNT_ID], name="legacy-user", severity=Severity.HIGH)


def _suppression(finding, **overrides) -> dict:
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    return {
        "finding": finding.pk,
        "justification": "Vendor migration ends in March",
        "owner": "olga.ops@example.com",
        "expires_at_0": expires.strftime("%Y-%m-%d"),
        "expires_at_1": expires.strftime("%H:%M:%S"),
        **overrides,
    }


def test_a_suppression_added_in_the_admin_goes_through_the_service(persona_client, personas, finding):
    response = persona_client("policy_admin").post(f"{SUPPRESSIONS}add/", _suppression(finding))
    assert response.status_code == 302, response.content.decode()[:2000]
    suppression = Suppression.objects.get(finding=finding)
    assert suppression.owner == "olga.ops@example.com" and suppression.is_active
    finding.refresh_from_db()
    assert finding.status == FindingStatus.SUPPRESSED
    event = AuditEvent.objects.get(action="findings.suppressed", object_id=str(finding.pk))
    assert event.actor == personas["policy_admin"]

    response = persona_client("policy_admin").post(
        SUPPRESSIONS, {"action": "lift", "_selected_action": [suppression.pk]}
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and not Suppression.objects.get(pk=suppression.pk).is_active


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"justification": "short"}, "at least 10 characters"), ({"owner": "not-an-email"}, "e-mail address")],
)
def test_a_bad_suppression_is_explained_and_nothing_is_written(persona_client, finding, overrides, message):
    events = AuditEvent.objects.count()
    response = persona_client("policy_admin").post(f"{SUPPRESSIONS}add/", _suppression(finding, **overrides))
    assert response.status_code == 200 and message in response.content.decode()
    assert not Suppression.objects.exists() and AuditEvent.objects.count() == events
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN


def test_only_findings_managers_with_a_fresh_mfa_login_suppress(persona_client, finding):
    assert persona_client("campaign_admin").post(f"{SUPPRESSIONS}add/", _suppression(finding)).status_code == 403
    stale = persona_client("policy_admin", mfa=False).post(f"{SUPPRESSIONS}add/", _suppression(finding))
    assert stale.status_code == 302 and "/admin/findings/" not in stale["Location"]  # to the step-up login
    assert not Suppression.objects.exists()


def _baseline(**overrides) -> dict:
    return {
        "required_scp_names": json.dumps(["DenyLeaveOrganization"]),
        "required_denies": json.dumps([]),
        "admin_permission_set_max_principals": 4,
        "max_session_hours": 8,
        **overrides,
    }


def test_the_baseline_is_set_in_the_admin_through_the_service(persona_client, personas):
    response = persona_client("policy_admin").post(f"{BASELINE}add/", _baseline())
    assert response.status_code == 302, response.content.decode()[:2000]
    baseline = BaselineSettings.objects.get()
    assert baseline.required_scp_names == ["DenyLeaveOrganization"] and baseline.max_session_hours == 8
    assert AuditEvent.objects.get(action="findings.baseline_changed").actor == personas["policy_admin"]

    bad = persona_client("policy_admin").post(
        f"{BASELINE}{baseline.pk}/change/", _baseline(required_denies=json.dumps([{"action": "s3:*"}]))
    )
    assert bad.status_code == 200 and "not an action" in bad.content.decode()
    assert AuditEvent.objects.filter(action="findings.baseline_changed").count() == 1
