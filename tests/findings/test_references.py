"""A finding's references are checked per statement (migration 0003), not by per-row constraints."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.findings.models import Finding
from governance.findings.services import FINDING_FIELDS
from governance.inventory.ingest import insert_plain

pytestmark = pytest.mark.django_db


def _row(fingerprint: str, **references) -> tuple:
    now = timezone.now()
    values = {
        "fingerprint": fingerprint,
        "rule_id": "user.direct_policy",
        "severity": "low",
        "severity_rank": 1,
        "status": "open",
        "account_id": None,
        "principal_id": None,
        "policy_id": None,
        "permission_set_id": None,
        "resource_type": "principal",
        "resource_arn": "arn:aws:iam::111122223333:user/x",
        "resource_name": "x",
        "message": "m",
        "evidence": {},
        "evidence_hash": "0" * 32,
        "first_seen": now,
        "last_seen": now,
        "times_reopened": 0,
        "first_run_id": None,
        **references,
    }
    return tuple(values[name] for name in FINDING_FIELDS)


def test_a_bulk_insert_that_names_a_missing_principal_is_refused_whole(persona_inventory):
    if connection.vendor != "postgresql":
        pytest.skip("the reference checks are PostgreSQL's (see findings migration 0003)")
    account = next(iter(persona_inventory.accounts.values()))
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_plain(Finding, FINDING_FIELDS, [_row("a" * 32, account_id=account.pk), _row("b" * 32, principal_id=-7)])
    assert not Finding.objects.exists()
    insert_plain(Finding, FINDING_FIELDS, [_row("c" * 32, account_id=account.pk)])
    assert Finding.objects.get().account_id == account.pk


@pytest.mark.parametrize(
    ("column", "table"),
    [
        ("account_id", "inventory_account"),
        ("principal_id", "inventory_principal"),
        ("policy_id", "inventory_policy"),
        ("permission_set_id", "inventory_permission_set"),
        ("first_run_id", "findings_evaluationrun"),
    ],
)
def test_each_reference_is_checked_and_the_missing_value_named(persona_inventory, column, table):
    if connection.vendor != "postgresql":
        pytest.skip("the reference checks are PostgreSQL's (see findings migration 0003)")
    account = next(iter(persona_inventory.accounts.values()))
    good = {"account_id": account.pk}
    rows = [_row(f"{n:032x}", **good) for n in range(50)]
    rows.append(_row("e" * 32, **{**good, column: 987654321}))
    with pytest.raises(IntegrityError, match=f"{column} = 987654321 refers to no {table} row"), transaction.atomic():
        insert_plain(Finding, FINDING_FIELDS, rows)
    assert not Finding.objects.exists()


def test_a_stored_finding_keeps_its_resource(persona_inventory):
    if connection.vendor != "postgresql":
        pytest.skip("the update guard is PostgreSQL's")
    accounts = list(persona_inventory.accounts.values())
    insert_plain(Finding, FINDING_FIELDS, [_row("d" * 32, account_id=accounts[0].pk)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Finding.objects.update(account_id=accounts[1].pk)
    Finding.objects.update(last_seen=timezone.now())  # other columns change freely
