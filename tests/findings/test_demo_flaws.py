"""The findings of the demo organization are exactly the flaws it documents (governance/aws/demo/flaws.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from governance.aws.demo import flaws
from governance.findings import rules
from governance.findings.models import Finding, FindingStatus, Severity
from governance.findings.rules import BUILTIN_MODULES, all_rules
from tests.fixtures.aws import DEMO_ACCOUNTS, DEMO_SEED
from tests.fixtures.personas import fresh_mfa_session, make_persona_user

pytestmark = pytest.mark.django_db


def _found(demo_org) -> Counter:
    names = {account_id: name for name, account_id in demo_org.accounts.items()}
    names[demo_org.management_account_id] = "management"
    found = Counter()
    for finding in Finding.objects.filter(status=FindingStatus.OPEN).select_related("account"):
        account = names[finding.account.account_id] if finding.account else flaws.IDENTITY_CENTER
        found[(finding.rule_id, account, finding.resource_name)] += 1
    return found


def _demo_org_then_sync_aws() -> None:
    """What an operator runs: `demo_org` (the session's emulator holds it) and `sync_aws`; the
    findings come from `evaluate_findings` alone (--no-after-sync), so its summary counts them new."""
    out = StringIO()
    call_command("sync_aws", "--no-after-sync", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["errors"] == 0


def test_sync_then_evaluate_shows_every_seeded_flaw_and_nothing_else(demo_org):
    _demo_org_then_sync_aws()
    out = StringIO()
    call_command("evaluate_findings", stdout=out)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    expected = _seeded()
    found = _found(demo_org)
    assert found - expected == Counter(), "false alarms"
    assert expected - found == Counter(), "seeded flaws the findings miss"
    assert summary["open"] == summary["new"] == sum(expected.values())
    assert summary["rules"] == len(all_rules())
    assert {rule: n for rule, n in summary["by_rule"].items() if n} == dict(
        Counter(rule for rule, _, _ in expected.elements())
    )


def test_every_rule_has_a_seeded_flaw_to_fire_on():
    seeded = {f.rule for f in flaws.seeded_flaws(accounts=DEMO_ACCOUNTS, seed=DEMO_SEED)}
    # Rules other apps register (scp.drift needs an approved change first) are tested in their apps.
    builtin = {r.id for r in all_rules() if r.module in BUILTIN_MODULES}
    assert builtin - seeded == set()


def test_the_dashboard_shows_the_seeded_flaws_by_severity_account_ou_and_rule(demo_org):
    _demo_org_then_sync_aws()
    call_command("evaluate_findings", stdout=StringIO())
    seeded = flaws.seeded_flaws(accounts=DEMO_ACCOUNTS, seed=DEMO_SEED)
    ids = {**demo_org.accounts, "management": demo_org.management_account_id}
    response = _client("auditor").get(reverse("findings:dashboard"))
    board, page = response.context["board"], response.content.decode()

    severities = Counter(rules.get(f.rule).severity for f in seeded)
    assert board.by_severity == {s: severities.get(s, 0) for s in Severity.values}
    assert f'data-open-total="{len(seeded)}"' in page
    shown = dict(re.findall(r'class="card stat-card sev-(\w+)"[^>]*>\s*<div class="stat">(\d+)</div>', page))
    assert shown == {s: str(severities.get(s, 0)) for s in Severity.values}

    per_account = Counter(ids[f.account] for f in seeded if f.account != flaws.IDENTITY_CENTER)
    assert len(per_account) < 20  # the dashboard lists the 20 busiest accounts: here every one
    assert {row["account__account_id"]: row["total"] for row in board.by_account} == dict(per_account)
    for account_id in per_account:
        assert f"?account={account_id}" in page
    assert sum(row["total"] for row in board.by_ou) == sum(per_account.values())

    by_rule = Counter(f.rule for f in seeded)
    assert {rule.id: n for rule, n in board.by_rule if n} == dict(by_rule)
    assert board.trend["labels"][-1] == timezone.now().date().isoformat()
    assert {s["severity"]: s["data"][-1] for s in board.trend["series"]} == board.by_severity
    assert 'src="/static/js/chart.umd.min.js"' in page and 'id="findings-trend"' in page
    # The riskiest principals are principals the seeded flaws are on, riskiest first.
    assert board.riskiest and [p["score"] for p in board.riskiest] == sorted(
        (p["score"] for p in board.riskiest), reverse=True
    )


def _seeded() -> Counter:
    return Counter((f.rule, f.account, f.resource) for f in flaws.seeded_flaws(accounts=DEMO_ACCOUNTS, seed=DEMO_SEED))


def _client(key: str):
    from django.test import Client

    client = Client()
    client.force_login(make_persona_user(key), backend="allauth.account.auth_backends.AuthenticationBackend")
    fresh_mfa_session(client, subject=key)
    return client
