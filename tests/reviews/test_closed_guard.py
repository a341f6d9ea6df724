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
