"""Reviews migration 0007 on a database that already holds campaigns: forward to the partitioned
table and back, every item kept with its id, the ids going on after them, and the guards working."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from governance.reviews.launch import launch

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="0007 partitions on PostgreSQL only"),
]
PLAIN = [("reviews", "0006_item_campaign_statement_check")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes("reviews")


def _partitions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'reviews_item'::regclass ORDER BY 1"
        )
        return dict(cursor.fetchall())


def _items():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, campaign_id, principal_name FROM reviews_item ORDER BY id")
        return cursor.fetchall()


def test_existing_items_survive_partitioning_and_its_reversal(campaign):
    latest = _latest()
    before = _items()
    assert before
    try:
        _migrate(PLAIN)
        assert _items() == before
        _migrate(latest)
        assert _items() == before
        # The campaigns that existed are in the legacy partition; later ones get their own.
        partitions = _partitions()
        assert partitions["reviews_item_legacy"] == f"FOR VALUES IN ('{campaign.pk}')"
        assert partitions["reviews_item_default"] == "DEFAULT"
        later = launch(template=campaign.template, actor=None, period="after-the-migration").campaign
        assert f"reviews_item_c{later.pk}" in _partitions()
        ids = [pk for pk, campaign_id, _ in _items() if campaign_id == later.pk]
        assert ids and min(ids) > max(pk for pk, _, _ in before)  # the sequence goes on after the old ids
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE reviews_item SET campaign_id = %s WHERE id = %s", [later.pk, before[0][0]])
        # And back: one plain table again, with every item.
        _migrate(PLAIN)
        assert _partitions() == {}
        assert [row for row in _items() if row[1] == campaign.pk] == before
    finally:
        _migrate(latest)
