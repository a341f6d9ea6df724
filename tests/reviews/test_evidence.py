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


# Issue 13.1's fields of a row, each with its items.csv column(s) and items.jsonl key(s).
ISSUE_FIELDS = {
    "campaign id": (["campaign_id"], ["campaign_id"]),
    "campaign name": (["campaign_name"], ["campaign_name"]),
    "account id": (["account_id"], ["aws_account_id"]),
    "account name": (["account_name"], ["account_name"]),
    "principal ARN": (["principal_arn"], ["principal_arn"]),
    "principal type": (["principal_type"], ["principal_kind"]),
    "principal name": (["principal_name"], ["principal_name"]),
    "policy ARN": (["entitlement_arn"], ["target_arn"]),
    "policy name": (["entitlement_name"], ["target_name"]),
    "how held": (["held_via"], ["via"]),
    "risk context at launch": (
        ["risk", "last_used", "mfa_enabled", "key_created", "open_findings", "admin_access"],
        ["risk", "last_used", "mfa_enabled", "key_created", "open_findings", "admin_access"],
    ),
    "recommendation at launch": (
        ["recommendation", "recommendation_reason"], ["recommendation", "recommendation_reason"],
    ),
    "assigned reviewer": (["assigned_reviewer"], ["reviewer_email"]),
    "the person who actually decided (after delegation)": (
        ["decided_by", "delegated_from"], ["decided_by", "delegated_from"],
    ),
    "decision": (["decision"], ["decision"]),
    "justification": (["justification"], ["justification"]),
    "decided at": (["decided_at"], ["decided_at"]),
    "whether it was a bulk decision": (["bulk_decision"], ["decided_in_bulk"]),
    "remediation action": (["remediation_action"], ["remediation_action"]),
    "status": (["remediation_status"], ["remediation_status"]),
    "AWS request id": (["aws_request_id"], ["remediation_request_id"]),
    "verified at": (["verified_at"], ["verified_at"]),
}  # fmt: skip


def _both_files(campaign):
    """(items.csv rows, items.jsonl rows) by item id, of the package and of the Python path."""
    import csv
    import io

    from governance.audit.spreadsheet import csv_chunks
    from governance.evidence.package import jsonl_chunks
    from governance.reviews import evidence

    source = sources.build("campaign", str(campaign.pk))  # on PostgreSQL, written by SQL
    python_csv = b"".join(csv_chunks(evidence.CSV_HEADER, evidence._csv_rows(campaign)))
    python_jsonl = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    for csv_bytes, jsonl_bytes in (
        (_file(source, "items.csv"), _file(source, "items.jsonl")),
        (python_csv, python_jsonl),
    ):
        reader = csv.DictReader(io.StringIO(csv_bytes.decode()))
        rows = {r["item_id"]: r for r in reader}
        lines = {str(line["id"]): line for line in map(json.loads, jsonl_bytes.decode().splitlines())}
        yield reader.fieldnames, rows, lines


def test_both_files_carry_every_field_issue_13_lists_with_the_delegate_who_decided(campaign, personas):
    from governance.audit.models import canonical_time
    from governance.reviews.models import ReviewItem

    maria, arthur = personas["manager"], personas["auditor"]
    trust = campaign.items.filter(reviewer_email=maria.email, kind="role_trust")
    (pk,) = trust.values_list("pk", flat=True)
    services.delegate_items(campaign=campaign, items=trust, to_email=arthur.email, reason="he runs it", actor=maria)
    item = services.decide_item(item_id=pk, decision="revoke", justification="gone", actor=arthur)
    kept = campaign.items.filter(reviewer_email=maria.email).exclude(pk=item.pk).first()
    services.decide_item(item_id=kept.pk, decision="keep", justification="needed", actor=maria)
    for header, csv_rows, jsonl_rows in _both_files(campaign):
        assert len(csv_rows) == len(jsonl_rows) == campaign.item_count
        for field, (columns, keys) in ISSUE_FIELDS.items():
            assert set(columns) <= set(header), f"items.csv has no column for {field}"
            assert all(set(keys) <= set(line) for line in jsonl_rows.values()), f"items.jsonl has no key for {field}"
        row, line = csv_rows[str(item.pk)], jsonl_rows[str(item.pk)]
        for columns, keys in ISSUE_FIELDS.values():  # the same values in both files
            for column, key in zip(columns, keys, strict=True):
                value = line[key]
                if isinstance(value, bool):
                    value = str(value).lower()
                elif value is None:
                    value = ""
                elif key.endswith("_at") or key in ("last_used", "key_created"):
                    value = canonical_time(ReviewItem._meta.get_field(key).to_python(value))
                assert row[column] == str(value), column
        # Who decided is the delegate, named as a person (not a portal user id) in both files.
        assert (row["decided_by"], line["decided_by"], line["decided_by_id"]) == (arthur.email, arthur.email, arthur.pk)
        assert (line["reviewer_email"], line["delegated_from"]) == (arthur.email, maria.email)
        assert line["campaign_name"] == row["campaign_name"] == campaign.name
        assert line["remediation_action"] == "by hand: change the role's trust policy"
        assert jsonl_rows[str(kept.pk)]["decided_by"] == maria.email
        assert jsonl_rows[str(kept.pk)]["remediation_action"] == ""
        undecided = [line for line in jsonl_rows.values() if not line["decision"]]
        assert undecided and all(line["decided_by"] is None for line in undecided)
