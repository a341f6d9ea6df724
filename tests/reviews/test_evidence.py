"""The campaign's evidence source: what the evidence package holds of a campaign."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from governance.evidence import sources
from governance.reviews import services

pytestmark = pytest.mark.django_db


def test_a_campaign_is_a_source_with_its_items_signoffs_and_audit(campaign, personas):
    item = campaign.items.filter(reviewer_email="maria.manager@example.com", kind="access_key").get()
    services.decide_item(item_id=item.pk, decision="revoke", justification="unused", actor=personas["manager"])
    source = sources.build("campaign", str(campaign.pk))
    names = [f.path for f in source.files]
    assert names[:4] == ["campaign.json", "items.jsonl", "items.csv", "signoffs.json"] and "audit/events.jsonl" in names
    assert source.subject["manifest"]["reconciled"] is True
    files = {f.path: f for f in source.files}
    raw = b"".join(files["items.jsonl"].chunks())
    rows = [json.loads(line) for line in raw.decode().splitlines()]
    assert len(rows) == campaign.item_count and any(r["decision"] == "revoke" for r in rows)


def test_an_unknown_campaign_is_not_found(db):
    with pytest.raises(sources.NotFound):
        sources.build("campaign", "999999")
    with pytest.raises(sources.NotFound):
        sources.build("campaign", "abc")


def _file(source, path):
    return b"".join(next(f for f in source.files if f.path == path).chunks())


def test_items_csv_has_a_row_per_item_with_the_decider_and_is_spreadsheet_safe(campaign, personas):
    import csv
    import io

    item = campaign.items.filter(reviewer_email="maria.manager@example.com").order_by("id").first()
    services.decide_item(item_id=item.pk, decision="revoke", justification="=HYPERLINK(1)", actor=personas["manager"])
    rows = list(csv.DictReader(io.StringIO(_file(sources.build("campaign", str(campaign.pk)), "items.csv").decode())))
    assert len(rows) == campaign.item_count
    row = next(r for r in rows if r["item_id"] == str(item.pk))
    assert (row["campaign_id"], row["decision"], row["decided_by"]) == (
        str(campaign.pk),
        "revoke",
        personas["manager"].email,
    )
    assert row["justification"] == "'=HYPERLINK(1)" and row["decided_at"].endswith("Z")
    assert row["bulk_decision"] == "false"


def test_each_signoff_carries_the_hash_of_the_decisions_it_covered(campaign, personas):
    from governance.reviews.evidence import attestation_hash

    maria = personas["manager"]
    for item in campaign.items.filter(reviewer_email=maria.email):
        services.decide_item(item_id=item.pk, decision="keep", justification="needed", actor=maria)
    services.sign_off(campaign=campaign, actor=maria, mfa_methods=["mfa"])
    signoffs = json.loads(_file(sources.build("campaign", str(campaign.pk)), "signoffs.json"))
    (signed,) = [s for s in signoffs if s["reviewer_email"] == maria.email]
    before = signed["decisions_sha256"]
    assert len(before) == 64 and before == attestation_hash(campaign, maria.email)
    # Tampering in the database by its owner, past PostgreSQL's guard of locked items (reviews 0008).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        campaign.items.filter(reviewer_email=maria.email).update(justification="changed later")
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    assert attestation_hash(campaign, maria.email) != before


@pytest.mark.django_db(transaction=True)
def test_closing_a_campaign_queues_one_package_and_a_second_close_or_delivery_makes_no_other(
    campaign, personas, monkeypatch
):
    from governance.evidence import tasks
    from governance.evidence.models import EvidencePackage

    queued = []
    monkeypatch.setattr(tasks, "async_task", lambda func, *args, **kw: queued.append((func, args, kw)))
    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    assert [(f, a) for f, a, _ in queued] == [("governance.evidence.tasks.generate", ("campaign", str(campaign.pk)))]
    first = tasks.generate(*queued[0][1])  # what the cluster runs
    again = tasks.generate(*queued[0][1])  # a second delivery
    packages = EvidencePackage.objects.filter(subject_type="reviews.campaign", subject_id=str(campaign.pk))
    assert first == again and packages.count() == 1 and packages.get().created_by_name == "system"
    assert {"items.csv", "items.jsonl", "signoffs.json"} <= {f["path"] for f in packages.get().files}


def test_items_csv_carries_the_risk_context_and_the_remediation_each_revoke_runs(campaign, personas, review_inventory):
    import csv
    import io

    from governance.audit.models import canonical_time

    maria = personas["manager"]
    mine = campaign.items.filter(reviewer_email=maria.email)
    key = mine.get(kind="access_key")
    admin_role = mine.filter(kind="role_policy", admin_access="full").first()
    services.decide_item(item_id=key.pk, decision="revoke", justification="unused", actor=maria)
    services.decide_item(item_id=admin_role.pk, decision="keep", justification="on call", actor=maria)
    rows = {
        r["item_id"]: r
        for r in csv.DictReader(io.StringIO(_file(sources.build("campaign", str(campaign.pk)), "items.csv").decode()))
    }
    key_row, role_row = rows[str(key.pk)], rows[str(admin_role.pk)]
    assert key_row["key_created"] == canonical_time(review_inventory.old_key.created)
    assert key_row["last_used"] == canonical_time(review_inventory.old_key.last_used_date)
    assert key_row["remediation_action"] == "iam:UpdateAccessKey (Inactive)"
    assert (role_row["admin_access"], role_row["risk"], role_row["remediation_action"]) == ("full", "high", "")
    assert role_row["open_findings"] == str(admin_role.open_findings)
    assert {"mfa_enabled", "remediation_ticket"} <= set(key_row)
    # Every revoke names what it runs in AWS, as the remediation does (an inline policy is deleted).
    from governance.reviews.remediation import action_for

    assert action_for(kind="user_policy", via="inline", decision="revoke") == "iam:DeleteUserPolicy"
    assert action_for(kind="role_policy", via="direct", decision="revoke") == "iam:DetachRolePolicy"
    assert action_for(kind="role_policy", via="direct", decision="keep") == ""
