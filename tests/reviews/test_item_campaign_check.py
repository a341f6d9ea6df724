"""Items keep their campaign: checked once per statement on PostgreSQL (reviews migration 0006)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from governance.reviews.launch import launch
from governance.reviews.models import Campaign, ReviewItem

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the statement checks are PostgreSQL's"),
]


def _copy_item_sql() -> str:
    """An INSERT .. SELECT of one existing item's columns under another campaign id."""
    columns = [f.column for f in ReviewItem._meta.concrete_fields if f.column not in ("id", "campaign_id")]
    listed = ", ".join(columns)
    # The names come from the model, the values are parameters.
    copied = f"SELECT %s, {listed} FROM reviews_item WHERE id = %s"  # noqa: S608
    return f"INSERT INTO reviews_item (campaign_id, {listed}) {copied}"


def test_a_launch_inserts_items_of_an_existing_campaign(campaign):
    assert ReviewItem.objects.filter(campaign=campaign).count() == campaign.item_count > 0


def test_an_item_of_no_campaign_is_refused_and_named(campaign):
    item = ReviewItem.objects.filter(campaign=campaign).first()
    missing = Campaign.objects.order_by("-pk").first().pk + 1000
    refused = f"reviews_item.campaign_id = {missing} refers to no reviews_campaign row"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_copy_item_sql(), [missing, item.pk])
    assert not ReviewItem.objects.filter(campaign_id=missing).exists()


def test_an_item_of_an_existing_campaign_is_accepted_by_raw_sql(campaign):
    item = ReviewItem.objects.filter(campaign=campaign).first()
    with connection.cursor() as cursor:
        cursor.execute(_copy_item_sql(), [campaign.pk, item.pk])
    assert ReviewItem.objects.filter(campaign=campaign).count() == campaign.item_count + 1


def test_an_item_never_moves_to_another_campaign(campaign, template):
    other = launch(template=template, actor=None, period="other").campaign
    item = ReviewItem.objects.filter(campaign=campaign).first()
    with pytest.raises(IntegrityError, match="stays in the campaign that launched it"), transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(campaign=other)
    item.refresh_from_db()
    assert item.campaign_id == campaign.pk


def test_a_campaign_with_items_cannot_be_deleted_behind_the_orm(campaign):
    refused = f"reviews_campaign {campaign.pk} still has review items"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM reviews_campaign WHERE id = %s", [campaign.pk])
    assert Campaign.objects.filter(pk=campaign.pk).exists()
