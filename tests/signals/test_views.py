"""The signals pages and panels: scoped to what each persona may see, honest about missing sources."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from governance.audit.models import AuditEvent
from governance.signals.models import (
    ActivityEvent,
    AnalyzerFinding,
    ConfigRuleCompliance,
    FetchState,
    LastAccessedFetch,
    ServiceLastAccessed,
    Source,
    SourceState,
    SourceStatus,
)
from tests.fixtures.personas import OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS
from tests.signals.conftest import NOW, T1

pytestmark = pytest.mark.django_db


def _events(inventory, n_per_account=3):
    rows = []
    for account_id in (OWNED_ACCOUNT_IDS[0], OTHER_ACCOUNT_ID):
        account = inventory.accounts[account_id]
        for i in range(n_per_account):
            rows.append(
                ActivityEvent(
                    event_id=f"{account_id}-{i}",
                    account=account,
                    recipient_account_id=account_id,
                    event_time=T1 - timedelta(minutes=i),
                    event_source="iam.amazonaws.com",
                    event_name="AttachRolePolicy",
                    actor_arn=f"arn:aws:iam::{account_id}:user/ops-{i}",
                    target=f"target-{account_id}-{i}",
                    source_ip="198.51.100.9",
                    out_of_band=i % 2 == 0,
                )
            )
    ActivityEvent.objects.bulk_create(rows)


def test_the_feed_shows_everything_to_an_auditor_in_pinned_queries(
    persona_client, persona_inventory, django_assert_max_num_queries
):
    _events(persona_inventory, n_per_account=20)
    client = persona_client("auditor")
    client.get(reverse("signals:activity"))  # warm the per-session lookups
    with django_assert_max_num_queries(12):
        page = client.get(reverse("signals:activity")).content.decode()
    assert f"target-{OTHER_ACCOUNT_ID}-0" in page and f"target-{OWNED_ACCOUNT_IDS[0]}-19" in page


def test_a_manager_sees_only_the_accounts_they_own(persona_client, persona_inventory):
    _events(persona_inventory)
    page = persona_client("manager").get(reverse("signals:activity")).content.decode()
    assert f"target-{OWNED_ACCOUNT_IDS[0]}-0" in page and f"target-{OTHER_ACCOUNT_ID}-0" not in page


def test_the_feed_filters_changes_made_outside_the_portal(persona_client, persona_inventory):
    _events(persona_inventory)
    url = reverse("signals:activity") + f"?account={OWNED_ACCOUNT_IDS[0]}&out_of_band=1"
    page = persona_client("auditor").get(url).content.decode()
    assert f"target-{OWNED_ACCOUNT_IDS[0]}-0" in page and f"target-{OWNED_ACCOUNT_IDS[0]}-1" not in page
    assert f"target-{OTHER_ACCOUNT_ID}-0" not in page


def test_a_source_the_endpoint_lacks_is_named_as_such(persona_client, persona_inventory):
    SourceStatus.objects.create(
        source=Source.CLOUDTRAIL, scope="", state=SourceState.NOT_AVAILABLE, message="x", checked_at=NOW
    )
    page = persona_client("auditor").get(reverse("signals:activity")).content.decode()
    assert "Not available from this endpoint" in page and "No events match" in page
    sources = persona_client("auditor").get(reverse("signals:sources")).content.decode()
    assert "Not available from this endpoint" in sources and "not read yet" in sources


def test_config_compliance_is_shown_per_account(persona_client, persona_inventory):
    for account_id, compliance in ((OWNED_ACCOUNT_IDS[0], "NON_COMPLIANT"), (OTHER_ACCOUNT_ID, "COMPLIANT")):
        ConfigRuleCompliance.objects.create(
            account=persona_inventory.accounts[account_id], rule_name=f"iam-rule-{account_id}",
            identifier="IAM_USER_MFA_ENABLED", compliance=compliance, non_compliant=2, checked_at=NOW,
        )  # fmt: skip
    page = persona_client("auditor").get(reverse("signals:config") + "?non_compliant=1").content.decode()
    assert f"iam-rule-{OWNED_ACCOUNT_IDS[0]}" in page and f"iam-rule-{OTHER_ACCOUNT_ID}" not in page
    assert "2 resources" in page
    mine = persona_client("manager").get(reverse("signals:config")).content.decode()
    assert f"iam-rule-{OTHER_ACCOUNT_ID}" not in mine


def test_analyzer_findings_are_listed(persona_client, persona_inventory):
    AnalyzerFinding.objects.create(
        analyzer_arn="arn:a", finding_id="f-1", kind="external", finding_type="ExternalAccess", status="active",
        resource_arn="arn:aws:s3:::shared-<b>", resource_type="AWS::S3::Bucket",
        resource_owner_account=OTHER_ACCOUNT_ID,
        account=persona_inventory.accounts[OTHER_ACCOUNT_ID], first_seen=NOW, last_seen=NOW, updated_at=NOW,
    )  # fmt: skip
    page = persona_client("auditor").get(reverse("signals:analyzer")).content.decode()
    assert "arn:aws:s3:::shared-&lt;b&gt;" in page
    assert "shared-" not in persona_client("manager").get(reverse("signals:analyzer")).content.decode()


def test_a_refresh_request_is_audited_and_queued(persona_client, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = persona_client("policy_admin").post(reverse("signals:refresh"), {"source": ["cloudtrail"]})
    assert response.status_code == 302
    (event,) = AuditEvent.objects.filter(action="signals.refresh_requested")
    assert event.actor == personas["policy_admin"] and event.after == {"sources": ["cloudtrail"]}
    (queued,) = OrmQ.objects.all()
    task = SignedPackage.loads(queued.payload)
    assert task["func"] == "governance.signals.tasks.refresh"
    assert task["kwargs"] == {"sources": ["cloudtrail"], "force": True}


def test_an_unknown_source_is_refused_and_nothing_is_queued(persona_client, personas):
    response = persona_client("policy_admin").post(reverse("signals:refresh"), {"source": ["guessing"]}, follow=True)
    assert "Unknown source: guessing" in response.content.decode()
    assert not AuditEvent.objects.filter(action="signals.refresh_requested").exists()
    assert not OrmQ.objects.exists()


def test_the_account_page_shows_changes_outside_the_portal_and_config(persona_client, persona_inventory):
    _events(persona_inventory)
    ConfigRuleCompliance.objects.create(
        account=persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]], rule_name="root-account-mfa",
        compliance="NON_COMPLIANT", checked_at=NOW,
    )  # fmt: skip
    url = reverse("inventory:account", args=[OWNED_ACCOUNT_IDS[0]])
    page = persona_client("manager").get(url).content.decode()
    assert "Changes outside the portal" in page and f"target-{OWNED_ACCOUNT_IDS[0]}-0" in page
    assert f"target-{OWNED_ACCOUNT_IDS[0]}-1" not in page  # made through the portal
    assert "root-account-mfa" in page


def test_the_principal_page_shows_service_last_accessed(persona_client, persona_inventory):
    role = persona_inventory.manager_role
    LastAccessedFetch.objects.create(principal=role, state=FetchState.DONE, requested_at=NOW, completed_at=NOW)
    ServiceLastAccessed.objects.create(principal=role, namespace="ec2", service_name="Amazon EC2", fetched_at=NOW)
    page = persona_client("manager").get(reverse("inventory:principal", args=[role.pk])).content.decode()
    assert "Never used EC2 in 400 days." in page and "not in 400 days" in page


def test_the_signals_panels_cost_a_fixed_number_of_queries(persona_client, persona_inventory, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.inventory import panels

    account = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    role = persona_inventory.manager_role
    client = persona_client("auditor")
    pages = [
        (reverse("inventory:account", args=[account.account_id]), 4),
        (reverse("inventory:principal", args=[role.pk]), 6),
    ]
    client.get(pages[0][0])
    mine = {key: panel for key, panel in panels._PANELS.items() if key[1] == "signals"}
    _events(persona_inventory, n_per_account=30)
    for url, queries in pages:
        monkeypatch.setattr(panels, "_PANELS", {})
        with CaptureQueriesContext(connection) as without:
            client.get(url)
        monkeypatch.setattr(panels, "_PANELS", mine)
        with CaptureQueriesContext(connection) as with_panels:
            assert "AWS signals" in client.get(url).content.decode()
        assert len(with_panels.captured_queries) - len(without.captured_queries) <= queries


def _drift(policy):
    from governance.findings.models import Finding, ResourceType, Severity

    now = timezone.now()
    return Finding.objects.create(
        fingerprint=f"scp.drift:{policy.aws_policy_id}",
        rule_id="scp.drift",
        severity=Severity.HIGH,
        severity_rank=3,
        status="open",
        policy=policy,
        resource_type=ResourceType.POLICY,
        resource_arn=policy.arn,
        resource_name=policy.name,
        message=f"{policy.name} differs from its approved version.",
        evidence={"diff": [{"kind": "added", "sid": "Extra"}]},
        evidence_hash="x",
        first_seen=now,
        last_seen=now,
    )


def test_an_scp_drift_names_its_author_from_cloudtrail(demo_org, synced_persona_client):
    from governance.inventory.models import Policy, PolicyKind

    client = synced_persona_client("auditor")
    policy = Policy.objects.present().get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")
    url = reverse("scp:policy", args=[policy.pk])
    assert "Changed in AWS by" not in client.get(url).content.decode()  # no drift, no author line
    _drift(policy)
    body = client.get(url).content.decode()
    assert "Who changed it: no CloudTrail event of this change was read" in body
    ActivityEvent.objects.create(
        event_id="drift-1", recipient_account_id=policy.arn.split(":")[4], event_time=T1,
        event_source="organizations.amazonaws.com", event_name="UpdatePolicy", read_only=False,
        identity_type="IAMUser", actor_arn="arn:aws:iam::111111111111:user/bob", user_name="bob",
        source_ip="198.51.100.4", target=policy.aws_policy_id, out_of_band=True,
    )  # fmt: skip
    body = client.get(url).content.decode()
    assert "Changed in AWS by (CloudTrail): <bdi>bob</bdi>" in body
    assert "(<code>organizations:UpdatePolicy</code> from <bdi>198.51.100.4</bdi>, outside the portal)" in body
