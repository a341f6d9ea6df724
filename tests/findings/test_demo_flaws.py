"""The findings of the demo organization are exactly the flaws it documents (governance/aws/demo/flaws.py)."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from governance.aws.demo import flaws
from governance.findings.models import Finding, FindingStatus
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


def test_sync_then_evaluate_shows_every_seeded_flaw_and_nothing_else(synced_demo):
    out = StringIO()
    call_command("evaluate_findings", stdout=out)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    expected = Counter(
        (f.rule, f.account, f.resource) for f in flaws.seeded_flaws(accounts=DEMO_ACCOUNTS, seed=DEMO_SEED)
    )
    found = _found(synced_demo)
    assert found - expected == Counter(), "false alarms"
    assert expected - found == Counter(), "seeded flaws the findings miss"
    assert summary["open"] == sum(expected.values())
    assert summary["rules"] == len(all_rules())


def test_every_rule_has_a_seeded_flaw_to_fire_on():
    seeded = {f.rule for f in flaws.seeded_flaws(accounts=DEMO_ACCOUNTS, seed=DEMO_SEED)}
    # Rules other apps register (scp.drift needs an approved change first) are tested in their apps.
    builtin = {r.id for r in all_rules() if r.module in BUILTIN_MODULES}
    assert builtin - seeded == set()


def test_the_dashboard_counts_the_seeded_flaws(synced_demo):
    call_command("evaluate_findings", stdout=StringIO())
    client = _client("auditor")
    page = client.get(reverse("findings:dashboard")).content.decode()
    total = len(flaws.seeded_flaws(accounts=DEMO_ACCOUNTS, seed=DEMO_SEED))
    assert f'data-open-total="{total}"' in page


def _client(key: str):
    from django.test import Client

    client = Client()
    client.force_login(make_persona_user(key), backend="allauth.account.auth_backends.AuthenticationBackend")
    fresh_mfa_session(client, subject=key)
    return client
