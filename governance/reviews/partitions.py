"""A full launch's items get a partition of their own (PostgreSQL).

`reviews_item` is LIST-partitioned by campaign (reviews migration 0007). Inserting a million rows
into an indexed table maintains every index row by row, which was most of a launch; so a full
launch inserts into a bare table made for its campaign, then attaches it: ATTACH builds each
index with one sorted pass, and checks the campaign foreign key in one query. Event-driven
launches, a few items each and frequent, go into the DEFAULT partition as ordinary inserts.

The run-time role cannot create tables, so both steps are SECURITY DEFINER functions owned by
the schema's owner (installed by 0007, granted in deploy/postgresql/portal-role.sql). They take
only the campaign's id, name the table after it, and refuse a campaign that does not exist,
already has items or already has its table. Both run in the launch's transaction: a failure
leaves neither the table nor the campaign behind.

ATTACH locks the DEFAULT partition (and scans it for rows of the new campaign: there are none,
and it holds only event-driven items) until the launch commits, a few seconds once a quarter:
reads of event-driven campaigns' items wait that long, other campaigns' do not.
"""

from __future__ import annotations

from django.db import connection


def supported() -> bool:
    return connection.vendor == "postgresql"


def create(campaign_id: int) -> str:
    """Make the bare table for `campaign_id`'s items; returns its name, to INSERT into."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reviews_item_partition_create(%s)", [campaign_id])
        return cursor.fetchone()[0]


def attach(campaign_id: int) -> None:
    """Attach the loaded table as the campaign's partition (indexes built, references checked)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reviews_item_partition_attach(%s)", [campaign_id])
