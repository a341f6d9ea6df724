"""The optimized evaluation stores exactly what a straightforward one computes.

The evaluation shares work between findings that have the same inputs: one evidence object (hashed and
encoded once) per policy document, one verdict per distinct trust policy, and, on PostgreSQL, large
evidence repeated across a rule's new findings sent and stored once through a temporary stage. Here the
same rules run without any of it (each role its own copy of its trust policy, each hit hashed and
encoded on its own) over a mixed fixture: the synced demo organization, plus roles that copy a flawed
role's trust policy into other accounts and a role whose copy was made harmless.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.findings import rules as registry
from governance.findings import services
from governance.findings.models import BaselineSettings, EvaluationRun, Finding
from governance.findings.rules import roles
from governance.findings.rules.context import Context
from governance.inventory.ingest import digest
from governance.inventory.ingest import fingerprint as content_hash
from governance.inventory.models import Account, Principal, PrincipalKind

pytestmark = pytest.mark.django_db


def _clone(role: Principal, account: Account, name: str, trust_policy) -> Principal:
    clone = copy.copy(role)
    clone.pk = None
    clone.account = account
    clone.name = name
    clone.arn = f"arn:aws:iam::{account.account_id}:role/{name}"
    clone.key = digest(role.key, name, account.account_id)
    clone.trust_policy = trust_policy
    clone.save()
    return clone


@pytest.fixture
def mixed(synced_demo):
    """The synced demo, plus copies of every role with a trust flaw in every account (the same trust
    policy text many times over), and one copy per flawed role whose trust policy no longer lets in
    anyone (a different text)."""
    flawed = {"LegacyCrossAccess", "VendorAuditRole", "GitHubActionsAnyRepo"}
    originals = list(Principal.objects.present().filter(kind=PrincipalKind.IAM_ROLE, name__in=flawed))
    assert {r.name for r in originals} == flawed
    accounts = list(Account.objects.present())
    for role in originals:
        for account in accounts:
            _clone(role, account, f"{role.name}Copy", role.trust_policy)
        harmless = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*"}]}
        _clone(role, accounts[0], f"{role.name}Harmless", harmless)
    return synced_demo


def _straightforward(now) -> dict[str, tuple]:
    """Every rule over a context of its own; every role its own trust policy object; every hit hashed
    and encoded on its own."""
    baseline = BaselineSettings.current()
    separate = roles._trusting

    def trusting(ctx):
        return [row._replace(trust_policy=copy.deepcopy(row.trust_policy)) for row in separate(ctx)]

    expected = {}
    original, roles._trusting = roles._trusting, trusting
    try:
        for rule in registry.all_rules():
            ctx = Context(now=now, baseline=baseline)
            for hit in rule.evaluate(ctx):
                expected[services.fingerprint(rule.id, hit)] = (
                    rule.id,
                    hit.resource_arn,
                    hit.resource_name,
                    hit.account_id,
                    hit.principal_id,
                    hit.policy_id,
                    hit.message,
                    json.loads(json.dumps(hit.evidence)),
                    content_hash((hit.evidence, hit.message, hit.resource_name)),
                )
    finally:
        roles._trusting = original
    return expected


def _stored() -> dict[str, tuple]:
    return {
        row[0]: row[1:]
        for row in Finding.objects.values_list(
            "fingerprint",
            "rule_id",
            "resource_arn",
            "resource_name",
            "account_id",
            "principal_id",
            "policy_id",
            "message",
            "evidence",
            "evidence_hash",
        )
    }


@pytest.mark.parametrize("stage", [False, True], ids=["direct", "staged"])
def test_the_optimized_evaluation_stores_what_a_straightforward_one_computes(mixed, monkeypatch, stage):
    if stage:
        if connection.vendor != "postgresql":
            pytest.skip("the shared-evidence stage is PostgreSQL's")
        # Every evidence repeated twice or more goes through the stage.
        monkeypatch.setattr(services, "SHARED_EVIDENCE_MIN_CHARS", 1)
        monkeypatch.setattr(services, "SHARED_EVIDENCE_MIN_SAVED", 1)
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        run = services.evaluate(now=now)
    staged = [q["sql"] for q in queries.captured_queries if "findings_stage_rows" in q["sql"]]
    assert bool(staged) == stage
    expected = _straightforward(now)
    stored = _stored()
    assert stored == expected
    assert run.new == len(expected)
    # The copied roles were judged by their shared documents: every copy of a flawed role is found,
    # no harmless one.
    names = {v[2] for v in stored.values() if v[0].startswith("role.trust_")}
    assert {"LegacyCrossAccessCopy", "VendorAuditRoleCopy", "GitHubActionsAnyRepoCopy"} <= names
    assert not {n for n in names if n.endswith("Harmless")}
    # Evaluating again over the same inventory changes nothing but last_seen.
    again = services.evaluate()
    assert (again.new, again.resolved, again.reopened) == (0, 0, 0)
    assert _stored() == stored


def _writer_threads(monkeypatch) -> list[str]:
    """The names of the threads `services._write` ran on, for the evaluations after this call."""
    threads: list[str] = []
    write = services._write

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return write(*args, **kwargs)

    monkeypatch.setattr(services, "_write", recorded)
    return threads


@pytest.mark.django_db(transaction=True)
def test_writing_alongside_the_rules_stores_what_a_straightforward_evaluation_computes(mixed, monkeypatch):
    """Outside a transaction, PostgreSQL's evaluation reconciles on a writer thread (its own
    connection) while the rules run: the same findings, and evaluating again changes nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("the writer thread is PostgreSQL's")
    threads = _writer_threads(monkeypatch)
    now = timezone.now()
    run = services.evaluate(now=now)
    assert threads == ["findings-writer"]
    expected = _straightforward(now)
    stored = _stored()
    assert stored == expected
    assert run.new == len(expected)
    assert EvaluationRun.objects.get(pk=run.pk).new == len(expected)
    assert AuditEvent.objects.filter(action="findings.evaluated", object_id=str(run.pk)).count() == 1
    again = services.evaluate()
    assert (again.new, again.resolved, again.reopened) == (0, 0, 0)
    assert _stored() == stored


@pytest.mark.django_db(transaction=True)
def test_a_rule_failing_while_the_writer_works_leaves_nothing_written(synced_demo, monkeypatch):
    """A rule's error after earlier rules' findings went to the writer rolls the writer back: no
    finding, no run, no audit event, and the error is the rule's."""
    if connection.vendor != "postgresql":
        pytest.skip("the writer thread is PostgreSQL's")
    threads = _writer_threads(monkeypatch)
    chosen = registry.all_rules()

    def broken(ctx):
        raise RuntimeError("the last rule broke")

    failing = dataclasses.replace(chosen[-1], evaluate=broken)
    monkeypatch.setattr(registry, "all_rules", lambda: [*chosen[:-1], failing])
    with pytest.raises(RuntimeError, match="the last rule broke"):
        services.evaluate()
    assert threads == ["findings-writer"]
    assert not Finding.objects.exists()
    assert not EvaluationRun.objects.exists()
    assert not AuditEvent.objects.filter(action="findings.evaluated").exists()
    # The writer's connection was closed with its thread; the next evaluation (the rule mended) works.
    monkeypatch.undo()
    assert services.evaluate().new == len(_straightforward(timezone.now()))
