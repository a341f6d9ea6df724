# The heads of a closed campaign's items.jsonl lines (ItemHead): written once at the close
# (services.close_campaign), read by every export of the campaign's evidence. The campaigns closed
# before this migration have none: their lines are written whole from the items, to the same bytes.
#
# On PostgreSQL the database keeps the heads as written, as 0008 keeps the items they were written
# from: a head is never updated or deleted, and none is written for a campaign that is not closed
# (whose items could still change). One check a statement for the inserts (a close writes up to
# millions of heads in one), a row trigger for the rest. SQLite, the embedded demo database, has no
# heads (the Python path writes whole lines there).
import django.db.models.deletion
from django.db import migrations, models

from governance.reviews.migrations._postgres import on_postgresql

GUARD = """
CREATE FUNCTION reviews_item_head_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
    MESSAGE = format('the head of item %s was written at its campaign''s close: it cannot change', OLD.item_id);
END
$$
"""

CLOSED_ONLY = """
CREATE FUNCTION reviews_item_head_closed_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  open_campaign bigint;
BEGIN
  SELECT a.campaign_id INTO open_campaign FROM (SELECT DISTINCT campaign_id FROM added) AS a
    LEFT JOIN reviews_campaign c ON c.id = a.campaign_id
    WHERE c.status IS DISTINCT FROM 'closed' LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('campaign %s is not closed: its items get their heads when it closes', open_campaign);
  END IF;
  RETURN NULL;
END
$$
"""

INSTALL = [
    GUARD,
    "CREATE TRIGGER reviews_item_head_kept BEFORE UPDATE OR DELETE ON reviews_item_head FOR EACH ROW "
    "EXECUTE FUNCTION reviews_item_head_kept()",
    CLOSED_ONLY,
    "CREATE TRIGGER reviews_item_head_closed_only AFTER INSERT ON reviews_item_head "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION reviews_item_head_closed_only()",
]

UNINSTALL = [
    "DROP TRIGGER IF EXISTS reviews_item_head_closed_only ON reviews_item_head",
    "DROP FUNCTION IF EXISTS reviews_item_head_closed_only()",
    "DROP TRIGGER IF EXISTS reviews_item_head_kept ON reviews_item_head",
    "DROP FUNCTION IF EXISTS reviews_item_head_kept()",
]


class Migration(migrations.Migration):
    dependencies = [("reviews", "0009_campaign_coverage")]

    operations = [
        migrations.CreateModel(
            name="ItemHead",
            fields=[
                ("item_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("head", models.TextField()),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="reviews.campaign"
                    ),
                ),
            ],
            options={"db_table": "reviews_item_head"},
        ),
        on_postgresql(INSTALL, UNINSTALL),
    ]
