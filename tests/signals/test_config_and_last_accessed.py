"""AWS Config compliance per account, and service last accessed fetched within its call budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from governance.inventory.models import Principal
from governance.signals.models import (
    ConfigRuleCompliance,
    FetchState,
    LastAccessedFetch,
    ServiceLastAccessed,
    Source,
    SourceState,
    SourceStatus,
)
from governance.signals.selectors import action_usage, last_accessed_hints
from governance.signals.services import prioritize_last_accessed, refresh_config, refresh_last_accessed
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID
from tests.signals.conftest import NOW, T0, iam_principal

pytestmark = pytest.mark.django_db


def _rules(s, rules, compliance):
    s.add_response("describe_compliance_by_config_rule", {"ComplianceByConfigRules": compliance})
    s.add_response("describe_config_rules", {"ConfigRules": rules})


def _rule(name, identifier):
    return {"ConfigRuleName": name, "Source": {"Owner": "AWS", "SourceIdentifier": identifier}}


def test_config_rules_are_read_per_account_and_replaced_by_the_next_read(stub, persona_inventory):
    with stub("config") as s:
        _rules(
            s,
            [_rule("iam-password-policy", "IAM_PASSWORD_POLICY"), _rule("root-mfa", "ROOT_ACCOUNT_MFA_ENABLED")],
            [{"ConfigRuleName": "root-mfa", "Compliance": {"ComplianceType": "NON_COMPLIANT",
                                                          "ComplianceContributorCount": {"CappedCount": 1}}}],
        )  # fmt: skip
        s.add_response("describe_conformance_packs", {"ConformancePackDetails": []})
        summary = refresh_config(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    assert (summary.state, summary.accounts, summary.items, summary.api_calls) == ("ok", 1, 2, 3)
    rows = {r.rule_name: r for r in ConfigRuleCompliance.objects.all()}
    assert rows["root-mfa"].compliance == "NON_COMPLIANT" and rows["root-mfa"].non_compliant == 1
    assert rows["iam-password-policy"].compliance == "INSUFFICIENT_DATA"
    with stub("config") as s:
        _rules(s, [_rule("root-mfa", "ROOT_ACCOUNT_MFA_ENABLED")], [])
        s.add_response("describe_conformance_packs", {"ConformancePackDetails": []})
        refresh_config(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    assert list(ConfigRuleCompliance.objects.values_list("rule_name", flat=True)) == ["root-mfa"]


def test_a_denied_config_read_keeps_the_last_known_rules(stub, persona_inventory):
    with stub("config") as s:
        _rules(s, [_rule("root-mfa", "ROOT_ACCOUNT_MFA_ENABLED")], [])
        s.add_response("describe_conformance_packs", {"ConformancePackDetails": []})
        refresh_config(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    with stub("config") as s:
        s.add_client_error("describe_compliance_by_config_rule", service_error_code="AccessDeniedException")
        summary = refresh_config(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    assert summary.errors and ConfigRuleCompliance.objects.count() == 1
    assert SourceStatus.objects.get(source=Source.CONFIG, scope=GOVERNANCE_ACCOUNT_ID).state == SourceState.DENIED


def test_against_the_emulator_config_is_not_available(aws, settings, persona_inventory):
    assert refresh_config(now=NOW).state == SourceState.NOT_AVAILABLE


# Service last accessed ------------------------------------------------------------------------------

JOBS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(4)]


def _start(s, principal, job):
    s.add_response(
        "generate_service_last_accessed_details",
        {"JobId": job},
        {"Arn": principal.arn, "Granularity": "ACTION_LEVEL"},
    )


def _done(s, job, services):
    s.add_response(
        "get_service_last_accessed_details",
        {"JobStatus": "COMPLETED", "JobCreationDate": T0, "JobCompletionDate": NOW, "ServicesLastAccessed": services,
         "IsTruncated": False},
        {"JobId": job, "MaxItems": 1000},
    )  # fmt: skip


def _running(s, job):
    s.add_response(
        "get_service_last_accessed_details",
        {"JobStatus": "IN_PROGRESS", "JobCreationDate": T0, "JobCompletionDate": NOW, "ServicesLastAccessed": []},
        {"JobId": job, "MaxItems": 1000},
    )


EC2_NEVER = {"ServiceName": "Amazon EC2", "ServiceNamespace": "ec2", "TotalAuthenticatedEntities": 0}
IAM_USED = {
    "ServiceName": "AWS Identity and Access Management",
    "ServiceNamespace": "iam",
    "LastAuthenticated": NOW - timedelta(days=3),
    "TotalAuthenticatedEntities": 1,
    "TrackedActionsLastAccessed": [{"ActionName": "PassRole", "LastAccessedTime": NOW - timedelta(days=3)}],
}


@pytest.fixture
def roles(persona_inventory):
    # Only management-account roles (the stubbed client); the personas' member-account roles step aside.
    Principal.objects.filter(pk__in=[persona_inventory.manager_role.pk, persona_inventory.other_role.pk]).update(
        removed_at=NOW
    )
    return [iam_principal("iam_role", f"app-{n}") for n in range(3)]


def test_it_fetches_within_the_budget_and_shows_the_hint(stub, roles):
    with stub("iam") as s:  # minute 1: two jobs started, the budget is spent
        _start(s, roles[0], JOBS[0])
        _start(s, roles[1], JOBS[1])
        assert refresh_last_accessed(budget=2, now=NOW).api_calls == 2
    with stub("iam") as s:  # minute 2: both jobs read (one still running); nothing left to start the third
        _done(s, JOBS[0], [EC2_NEVER, IAM_USED])
        _running(s, JOBS[1])
        assert refresh_last_accessed(budget=2, now=NOW + timedelta(minutes=1)).api_calls == 2
    with stub("iam") as s:  # minute 3: the running job done, the third started
        _done(s, JOBS[1], [EC2_NEVER])
        _start(s, roles[2], JOBS[2])
        refresh_last_accessed(budget=2, now=NOW + timedelta(minutes=2))
    assert ServiceLastAccessed.objects.filter(principal=roles[0]).count() == 2
    hints = last_accessed_hints([r.pk for r in roles], now=NOW)
    assert hints[roles[0].pk].text == "Never used EC2 in 400 days; used IAM recently."
    assert not hints[roles[0].pk].suggests_revoke and hints[roles[1].pk].suggests_revoke
    assert hints[roles[2].pk].text == "Service last accessed: not fetched yet."
    # The action-level data feeds impact analysis too.
    assert [(u.principal_arn, u.action) for u in action_usage(actions=["iam:PassRole"])] == [
        (roles[0].arn, "iam:PassRole")
    ]


def test_only_what_changed_is_fetched_again(stub, roles):
    for n, role in enumerate(roles):
        LastAccessedFetch.objects.create(
            principal=role, state=FetchState.DONE, job_id=JOBS[n], content_hash=role.content_hash,
            requested_at=NOW, completed_at=NOW,
        )  # fmt: skip
    with stub("iam"):  # nothing stubbed: fresh, unchanged principals cost no call
        assert refresh_last_accessed(budget=10, now=NOW + timedelta(hours=1)).api_calls == 0
    Principal.objects.filter(pk=roles[1].pk).update(content_hash="changed")
    with stub("iam") as s:
        _start(s, roles[1], JOBS[3])
        assert refresh_last_accessed(budget=10, now=NOW + timedelta(hours=2)).api_calls == 1
    with stub("iam") as s:  # a week later everything is due again, oldest first (and the running job read)
        _running(s, JOBS[3])
        _start(s, roles[0], JOBS[0])
        refresh_last_accessed(budget=2, now=NOW + timedelta(days=8))


def test_a_review_puts_its_principals_first(stub, roles):
    prioritize_last_accessed(principal_ids=[roles[2].pk], now=NOW)
    with stub("iam") as s:
        _start(s, roles[2], JOBS[2])
        refresh_last_accessed(budget=1, now=NOW)
    assert LastAccessedFetch.objects.get(principal=roles[2]).state == FetchState.RUNNING


def test_throttling_ends_the_run_and_is_recorded(stub, roles):
    with stub("iam") as s:
        s.add_client_error("generate_service_last_accessed_details", service_error_code="Throttling")
        summary = refresh_last_accessed(budget=5, now=NOW)
    assert summary.state == SourceState.THROTTLED and summary.api_calls == 1
    assert not LastAccessedFetch.objects.exists()


def test_against_the_emulator_last_accessed_is_not_available(aws, settings, roles):
    assert refresh_last_accessed(budget=5, now=NOW).state == SourceState.NOT_AVAILABLE
    assert SourceStatus.objects.get(source=Source.LAST_ACCESSED, scope="").state == SourceState.NOT_AVAILABLE
