"""Items are partitioned by campaign on PostgreSQL (reviews migration 0007): a full launch's items
get a partition of their own, made and attached through two SECURITY DEFINER functions; the
campaign reference is a foreign key; an item never moves to another campaign."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from governance.reviews import partitions, providers
from governance.reviews.launch import launch
from governance.reviews.models import Campaign, ReviewItem
from tests.audit.test_database_roles import as_portal_role  # noqa: F401 - a fixture, used below

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the partitions are PostgreSQL's"),
]

FOREIGN_KEY = r"reviews_item_campaign_id_\w+_fk_reviews_campaign_id"


def _fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _tables_of(campaign: Campaign) -> set[str]:
    return {
        name
        for (name,) in _fetch(
            "SELECT DISTINCT tableoid::regclass::text FROM reviews_item WHERE campaign_id = %s", [campaign.pk]
        )
    }


def _item_tables() -> set[str]:
    return {
        name
        for (name,) in _fetch(r"SELECT relname FROM pg_class WHERE relname LIKE 'reviews\_item\_c%%' AND relkind = 'r'")
    }


def _refused(sql: str, params: list) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(excinfo.value)


def _copy_item_sql() -> str:
    """An INSERT .. SELECT of one existing item's columns under another campaign id."""
    columns = [f.column for f in ReviewItem._meta.concrete_fields if f.column not in ("id", "campaign_id")]
    listed = ", ".join(columns)
    # The names come from the model, the values are parameters.
    copied = f"SELECT %s, {listed} FROM reviews_item WHERE id = %s"  # noqa: S608
    return f"INSERT INTO reviews_item (campaign_id, {listed}) {copied}"


def _bare_campaign(template, period: str) -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(
        template=template, name=period, period=period, launched_at=now, due_at=now,
        attestation="", close_action=template.close_action, remediation_mode=template.remediation_mode,
    )  # fmt: skip


def test_a_full_launch_gets_an_attached_indexed_partition_of_its_own(campaign):
    own = f"reviews_item_c{campaign.pk}"
    assert ReviewItem.objects.filter(campaign=campaign).count() == campaign.item_count > 0
    assert _tables_of(campaign) == {own}
    [(attached, bound)] = _fetch(
        "SELECT relispartition, pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = %s", [own]
    )
    assert attached and bound == f"FOR VALUES IN ('{campaign.pk}')"
    # Every index of the parent has its partition on the new table, and the CHECK that spared
    # ATTACH its scan is gone again.
    parent_indexes = _fetch("SELECT count(*) FROM pg_index WHERE indrelid = 'reviews_item'::regclass")[0][0]
    own_indexes = _fetch("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisvalid", [own])[0][0]
    assert own_indexes == parent_indexes == 5
    assert not _fetch("SELECT 1 FROM pg_constraint WHERE conname = %s", [f"{own}_campaign"])


def test_an_event_driven_launch_goes_into_the_default_partition(review_inventory, template):
    tables = _item_tables()
    result = launch(template=template, actor=None, period="event", new_since=datetime(2000, 1, 1, tzinfo=UTC))
    assert result.items > 0
    assert _tables_of(result.campaign) == {"reviews_item_default"}
    assert _item_tables() == tables


def test_a_failed_launch_leaves_no_partition_and_no_campaign(review_inventory, template, monkeypatch):
    tables = _item_tables()
    monkeypatch.setitem(providers._PROVIDERS, "zz.fails", "tests.reviews.test_item_partitions.failing_provider")
    with pytest.raises(RuntimeError, match="provider failed"):
        launch(template=template, actor=None, period="failed")
    assert not Campaign.objects.filter(period="failed").exists()
    assert _item_tables() == tables


def failing_provider(*, campaign, items) -> None:
    assert items.exists()  # after the items were written and attached
    raise RuntimeError("provider failed")


def test_the_functions_refuse_what_is_not_a_new_campaign(campaign, template):
    missing = Campaign.objects.order_by("-pk").first().pk + 1000
    create, attach = "SELECT reviews_item_partition_create(%s)", "SELECT reviews_item_partition_attach(%s)"
    assert f"no reviews_campaign {missing}" in _refused(create, [missing])
    assert "no reviews_campaign" in _refused(create, [None])
    assert f"reviews_campaign {campaign.pk} already has its table reviews_item_c{campaign.pk}" in _refused(
        create, [campaign.pk]
    )
    # A campaign whose items are in the DEFAULT partition (an event-driven launch's).
    shared = _bare_campaign(template, "shared")
    with connection.cursor() as cursor:
        cursor.execute(_copy_item_sql(), [shared.pk, ReviewItem.objects.filter(campaign=campaign).first().pk])
    assert f"reviews_campaign {shared.pk} already has items" in _refused(create, [shared.pk])
    assert f"reviews_campaign {missing} has no table waiting to be attached" in _refused(attach, [missing])
    assert f"reviews_campaign {campaign.pk} has no table waiting to be attached" in _refused(attach, [campaign.pk])
    assert f"reviews_campaign {shared.pk} has no table waiting" in _refused(attach, [shared.pk])


def test_a_partition_made_by_hand_takes_only_its_campaign(review_inventory, template, campaign):
    fresh = _bare_campaign(template, "by-hand")
    table = partitions.create(fresh.pk)
    assert table == f"reviews_item_c{fresh.pk}"
    other_item = ReviewItem.objects.filter(campaign=campaign).first().pk
    wrong = _copy_item_sql().replace("INSERT INTO reviews_item ", f"INSERT INTO {table} ", 1)
    assert "violates check constraint" in _refused(wrong, [campaign.pk, other_item])
    with connection.cursor() as cursor:
        cursor.execute(wrong, [fresh.pk, other_item])
    partitions.attach(fresh.pk)
    assert ReviewItem.objects.filter(campaign=fresh).count() == 1
    assert _tables_of(fresh) == {table}


def test_an_item_of_no_campaign_is_refused(campaign):
    item = ReviewItem.objects.filter(campaign=campaign).first()
    missing = Campaign.objects.order_by("-pk").first().pk + 1000
    refused = pytest.raises(IntegrityError, match=FOREIGN_KEY)
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_copy_item_sql(), [missing, item.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign key is checked at commit
    assert not ReviewItem.objects.filter(campaign_id=missing).exists()


def test_an_item_of_an_existing_campaign_is_accepted_by_raw_sql(campaign):
    item = ReviewItem.objects.filter(campaign=campaign).first()
    with connection.cursor() as cursor:
        cursor.execute(_copy_item_sql(), [campaign.pk, item.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert ReviewItem.objects.filter(campaign=campaign).count() == campaign.item_count + 1


def test_an_item_never_moves_to_another_campaign(campaign, template):
    other = launch(template=template, actor=None, period="other").campaign
    item = ReviewItem.objects.filter(campaign=campaign).first()
    with pytest.raises(IntegrityError, match="stays in the campaign that launched it"), transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(campaign=other)
    item.refresh_from_db()
    assert item.campaign_id == campaign.pk


def test_a_campaign_with_items_cannot_be_deleted_behind_the_orm(campaign):
    refused = pytest.raises(IntegrityError, match=FOREIGN_KEY)
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM reviews_campaign WHERE id = %s", [campaign.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_deleting_a_campaign_with_its_own_partition_deletes_its_items(campaign):
    campaign.delete()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not ReviewItem.objects.filter(campaign_id=campaign.pk).exists()


def test_the_run_time_role_launches_into_a_partition_it_cannot_make_itself(
    review_inventory,
    template,
    as_portal_role,  # noqa: F811 - the fixture imported above
):
    assert _fetch("SELECT current_user")[0][0] == as_portal_role
    assert "permission denied" in _refused("CREATE TABLE reviews_item_c999999 (LIKE reviews_item)", [])
    result = launch(template=template, actor=None, period="as-role")
    own = f"reviews_item_c{result.campaign.pk}"
    assert result.created and result.items > 0
    assert _tables_of(result.campaign) == {own}
    [(owner,)] = _fetch("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s", [own])
    assert owner != as_portal_role
    # Owning nothing, the role cannot take the partition apart either.
    message = _refused(f"ALTER TABLE reviews_item DETACH PARTITION {own}", [])
    assert "must be owner" in message, message


def test_a_role_not_granted_them_cannot_call_the_functions(campaign):
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE reviews_item_test_stranger NOLOGIN")
        cursor.execute("GRANT USAGE ON SCHEMA public TO reviews_item_test_stranger")
        cursor.execute("SET ROLE reviews_item_test_stranger")
    try:
        message = _refused("SELECT reviews_item_partition_create(%s)", [campaign.pk])
        assert "permission denied for function reviews_item_partition_create" in message, message
        message = _refused("SELECT reviews_item_partition_attach(%s)", [campaign.pk])
        assert "permission denied for function reviews_item_partition_attach" in message, message
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
