"""`manage.py evaluate_findings` on the emulator's demo organization: its one-line JSON summary, last."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.findings.models import EvaluationRun, Finding, FindingStatus
from governance.findings.rules import all_rules
from governance.inventory.models import Principal

pytestmark = pytest.mark.django_db
KEYS = {"rules", "open", "new", "resolved", "by_rule", "seconds"}
SAFE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _evaluate(*args: str) -> dict:
    out = StringIO()
    call_command("evaluate_findings", *args, stdout=out)
    last = out.getvalue().rstrip("\n").splitlines()[-1]
    summary = json.loads(last)
    assert "\n" not in last and set(summary) >= KEYS, f"missing keys: {KEYS - set(summary)}"
    return summary


def _open_by_rule() -> Counter:
    return Counter(Finding.objects.filter(status=FindingStatus.OPEN).values_list("rule_id", flat=True))


def test_it_prints_rules_open_new_resolved_by_rule_and_seconds(synced_demo):
    first = _evaluate()
    opened = _open_by_rule()
    assert first["rules"] == len(all_rules())
    assert first["open"] == first["new"] == sum(opened.values()) > 0 and first["resolved"] == 0
    assert {rule: n for rule, n in first["by_rule"].items() if n} == dict(opened)
    assert set(first["by_rule"]) >= {rule.id for rule in all_rules()}  # a rule with nothing open says 0
    assert isinstance(first["seconds"], float) and first["seconds"] >= 0

    # AWS no longer shows one flaw: the next run resolves it and finds nothing new.
    Principal.objects.filter(name="LegacyCrossAccess").update(trust_policy=SAFE_TRUST)
    second = _evaluate()
    assert (second["new"], second["resolved"], second["open"]) == (0, 1, first["open"] - 1)
    assert second["by_rule"]["role.trust_any_principal"] == first["by_rule"]["role.trust_any_principal"] - 1


def test_one_rule_can_be_run_and_the_summary_counts_that_rule(synced_demo):
    summary = _evaluate("--rule", "root.mfa_missing")
    assert summary["rules"] == 1 and summary["open"] == summary["new"] == summary["by_rule"]["root.mfa_missing"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--account", "12345"), "not a 12-digit AWS account id"), (("--rule", "nope.nope"), "Unknown rule ids")],
)
def test_bad_arguments_are_refused_and_nothing_is_evaluated(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_findings", *args, stdout=StringIO())
    assert not EvaluationRun.objects.exists() and not Finding.objects.exists()
