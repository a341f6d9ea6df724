"""Reviews migration 0009 on a database that already holds closed campaigns: it counts their coverage
from their items as they stand, and none for an open campaign."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from governance.reviews import services
from governance.reviews.launch import launch

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="0008's guard, which 0009 follows, is PostgreSQL's"),
]
BEFORE = [("reviews", "0008_closed_campaign_guard")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _fetch(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _coverage():
    rows = _fetch("SELECT campaign_id, aws_account_id, items, undecided FROM reviews_coverage")
    return {(campaign_id, aws_id): (items, undecided) for campaign_id, aws_id, items, undecided in rows}


def test_it_backfills_the_campaigns_closed_before_it(campaign, personas):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("reviews")
    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    at_close = _coverage()
    assert at_close and {key[0] for key in at_close} == {campaign.pk}
    try:
        _migrate(BEFORE)
        assert _fetch("SELECT to_regclass('reviews_coverage')") == [(None,)]
        # One closed before the service defaulted undecided items (its gaps stand), one still open.
        gappy = launch(template=campaign.template, actor=None, period="closed-with-gaps").campaign
        _fetch(
            "UPDATE reviews_campaign SET status = 'closed', closed_at = %s WHERE id = %s RETURNING id",
            [timezone.now(), gappy.pk],
        )
        still_open = launch(template=campaign.template, actor=None, period="still-open").campaign
        gaps = dict(
            _fetch("SELECT aws_account_id, count(*) FROM reviews_item WHERE campaign_id = %s GROUP BY 1", [gappy.pk])
        )
        assert gaps
        _migrate(latest)
        backfilled = _coverage()
        assert {key: value for key, value in backfilled.items() if key[0] == campaign.pk} == at_close
        assert {key[1]: value for key, value in backfilled.items() if key[0] == gappy.pk} == {
            aws_id: (n, n) for aws_id, n in gaps.items()
        }
        assert not [key for key in backfilled if key[0] == still_open.pk]
    finally:
        _migrate(latest)
