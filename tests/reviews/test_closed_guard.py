"""On PostgreSQL the database itself refuses to change what a closed campaign or a signed-off item holds.

Raw SQL, as someone with the portal's database credentials would write it, past the services'
own checks (tests/reviews/test_decisions.py covers those): a locked item keeps its decision and
snapshot and is never deleted, but still goes through remediation and loses a deleted decider; a
closed campaign is never reopened or deleted, but its remediation can still be approved.
"""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, InternalError, connection, transaction

from governance.reviews import remediation, services
from governance.reviews.models import Campaign, CampaignStatus, ReviewItem

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the database's own guard is PostgreSQL's"),
]
MARIA = "maria.manager@example.com"


@pytest.fixture
def closed(campaign, personas):
    maria = personas["manager"]
    for item in ReviewItem.objects.filter(campaign=campaign, reviewer_email=maria.email):
        services.decide_item(item_id=item.pk, decision="revoke", justification="not needed", actor=maria)
    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    return campaign


def _refused(sql, params, match):
    with pytest.raises((IntegrityError, InternalError), match=match), transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)


@pytest.mark.parametrize(
    "assignment",
    [
        "decision = 'keep'",
        "justification = 'rewritten'",
        "decided_at = now()",
        "reviewer_email = 'someone@example.com'",
        "principal_arn = 'arn:aws:iam::1:role/other'",
        "locked = false",
        "flagged = NOT flagged",
        "context = '{\"x\": 1}'",
        "decided_by_id = (SELECT max(id) FROM authz_user)",
    ],
)
def test_a_closed_campaigns_item_keeps_its_decision_and_snapshot(closed, assignment):
    item = ReviewItem.objects.filter(campaign=closed, reviewer_email=MARIA).first()
    before = ReviewItem.objects.filter(pk=item.pk).values().get()
    sql = f"UPDATE reviews_item SET {assignment} WHERE id = %s"  # noqa: S608 - the test's own SQL
    _refused(sql, [item.pk], "only its remediation may change")
    assert ReviewItem.objects.filter(pk=item.pk).values().get() == before


def test_a_locked_item_is_never_deleted_nor_its_closed_campaign(closed):
    item = ReviewItem.objects.filter(campaign=closed).first()
    _refused("DELETE FROM reviews_item WHERE id = %s", [item.pk], "cannot be deleted")
    _refused("DELETE FROM reviews_campaign WHERE id = %s", [closed.pk], "is closed: it cannot be deleted")
    assert ReviewItem.objects.filter(pk=item.pk).exists() and Campaign.objects.filter(pk=closed.pk).exists()


@pytest.mark.parametrize("assignment", ["status = 'open'", "closed_at = NULL", "attestation = 'other'", "name = 'x'"])
def test_a_closed_campaign_is_never_reopened_or_rewritten(closed, assignment):
    sql = f"UPDATE reviews_campaign SET {assignment} WHERE id = %s"  # noqa: S608 - the test's own SQL
    _refused(sql, [closed.pk], "only its remediation approval")
    closed.refresh_from_db()
    assert closed.status == CampaignStatus.CLOSED and closed.closed_at is not None


def test_remediation_still_runs_on_a_closed_campaign_and_a_deleted_decider_lets_go(closed, personas):
    approved = remediation.approve(campaign=closed, actor=personas["campaign_admin"])
    closed.refresh_from_db()
    assert approved and closed.remediation_approved_by == personas["campaign_admin"]
    revoked = ReviewItem.objects.filter(campaign=closed, decision="revoke")
    statuses = set(revoked.exclude(kind="role_trust").values_list("remediation_status", flat=True))
    assert statuses == {"pending"}, "a role's trust waits for its ticket instead"
    assert set(revoked.filter(kind="role_trust").values_list("remediation_status", flat=True)) <= {"manual"}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reviews_item SET remediation_status = 'failed', remediation_attempts = 1,"
            " remediation_error = 'throttled', verified_at = now() WHERE id = %s",
            [revoked.first().pk],
        )
        assert cursor.rowcount == 1
    maria = personas["manager"]
    assert revoked.filter(decided_by=maria).exists()
    maria.delete()  # Django's SET_NULL on the items she decided
    assert not revoked.filter(decided_by__isnull=False).exists() and revoked.count() > 0


def test_a_signed_off_item_is_locked_while_the_campaign_is_still_open(campaign, personas):
    maria = personas["manager"]
    for item in ReviewItem.objects.filter(campaign=campaign, reviewer_email=maria.email):
        services.decide_item(item_id=item.pk, decision="keep", justification="on call", actor=maria)
    services.sign_off(campaign=campaign, actor=maria, mfa_methods=["mfa"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN
    item = ReviewItem.objects.filter(campaign=campaign, reviewer_email=maria.email).first()
    _refused("UPDATE reviews_item SET decision = 'revoke' WHERE id = %s", [item.pk], "locked")
    # What is not locked stays the services' to change.
    other = ReviewItem.objects.filter(campaign=campaign, locked=False).first()
    assert other is not None
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reviews_item SET flagged = true WHERE id = %s", [other.pk])
        assert cursor.rowcount == 1


def test_no_item_is_added_to_a_closed_campaign_through_any_table(closed):
    item = ReviewItem.objects.filter(campaign=closed).values().first()
    columns = [name for name in item if name != "id"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'reviews_item'::regclass"
        )
        partitions = [name for (name,) in cursor.fetchall()]
    assert "reviews_item_default" in partitions
    count = ReviewItem.objects.filter(campaign=closed).count()
    for table in ["reviews_item", *partitions]:  # the parent, and each partition straight
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608 - the test's own SQL
            f" SELECT {', '.join(columns)} FROM reviews_item WHERE id = %s"
        )
        _refused(sql, [item["id"]], "is closed: no item can be added|violates (partition|check) constraint")
    assert ReviewItem.objects.filter(campaign=closed).count() == count


def test_no_table_is_made_for_a_closed_campaign(closed):
    refused = pytest.raises(DataError, match=f"no reviews_campaign {closed.pk} open for items")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT reviews_item_partition_create(%s)", [closed.pk])


def _changed(field) -> str:
    """SQL that changes the field's value whatever it is."""
    column, internal = field.column, field.get_internal_type()
    if field.is_relation or internal.endswith("IntegerField"):
        return f"{column} = coalesce({column}, 0) + 1"
    if internal == "BooleanField":
        return f"{column} = NOT coalesce({column}, false)"
    if internal == "DateTimeField":
        return f"{column} = coalesce({column}, now()) + interval '1 second'"
    if internal == "JSONField":
        return f"""{column} = '{{"changed": true}}'"""
    return f"{column} = CASE WHEN {column} = 'x' THEN 'y' ELSE 'x' END"


def test_what_a_locked_item_may_still_change_is_what_its_evidence_heads_leave_out(closed):
    """Every field but CHANGES_WHEN_LOCKED is refused on a locked item (so items.jsonl's stored heads,
    which hold every other field, stay true), and each of CHANGES_WHEN_LOCKED goes through; derived
    from the model, so a new field is covered the day it is added."""
    from governance.reviews.models import CHANGES_WHEN_LOCKED

    item = ReviewItem.objects.filter(campaign=closed, reviewer_email=MARIA).first()
    fields = [f for f in ReviewItem._meta.concrete_fields if not f.primary_key and f.name != "campaign"]
    assert set(CHANGES_WHEN_LOCKED) < {f.attname for f in fields}
    for field in fields:
        sql = f"UPDATE reviews_item SET {_changed(field)} WHERE id = %s"  # noqa: S608 - the test's own SQL
        if field.attname in CHANGES_WHEN_LOCKED and field.attname != "decided_by_id":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [item.pk])
                assert cursor.rowcount == 1, field.attname
        else:
            _refused(sql, [item.pk], "only its remediation may change")


def test_a_closed_campaigns_evidence_heads_are_kept_as_written(closed):
    from governance.reviews.models import ItemHead

    heads = ItemHead.objects.filter(campaign=closed)
    assert heads.count() == closed.items.count() > 0  # written by the close
    head = heads.first()
    _refused("UPDATE reviews_item_head SET head = 'x' WHERE item_id = %s", [head.item_id], "it cannot change")
    _refused("DELETE FROM reviews_item_head WHERE item_id = %s", [head.item_id], "it cannot change")
    assert ItemHead.objects.get(pk=head.pk).head == head.head


def test_no_evidence_head_is_written_for_an_open_campaign(campaign):
    item = campaign.items.first()
    sql = "INSERT INTO reviews_item_head (item_id, campaign_id, head) VALUES (%s, %s, '{')"
    _refused(sql, [item.pk, campaign.pk], f"campaign {campaign.pk} is not closed")
    with pytest.raises(ValueError, match="Only a closed campaign"):
        from governance.reviews import evidence

        evidence.write_heads(campaign)
