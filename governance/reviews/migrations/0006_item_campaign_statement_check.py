# 0005 dropped the per-row foreign key from items to their campaign (a million-item launch checked it
# a million times at commit, about 3.5 s). The reference is still the database's to keep, checked
# once per statement as the findings' references are (findings 0003/0005): an INSERT's new items
# must all name an existing campaign (one pass over the statement's rows, about 0.3 s for a launch),
# an item never moves to another campaign, and a campaign cannot be deleted while items name it
# (Django's cascade deletes the items first, in the same transaction). PostgreSQL only: on SQLite,
# the embedded demo database, the ORM's cascade is the guard.

from django.db import migrations

from governance.reviews.migrations._postgres import on_postgresql

INSERTED = """
CREATE FUNCTION reviews_item_campaign_written() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
DECLARE
  ids bigint[];
  missing bigint;
BEGIN
  SELECT array_agg(DISTINCT r.campaign_id) INTO ids FROM new_rows r;
  IF ids IS NOT NULL AND cardinality(ids) <> (SELECT count(*) FROM reviews_campaign c WHERE c.id = ANY(ids)) THEN
    SELECT v.value INTO missing FROM unnest(ids) v (value)
      WHERE NOT EXISTS (SELECT 1 FROM reviews_campaign c WHERE c.id = v.value) LIMIT 1;
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('reviews_item.campaign_id = %s refers to no reviews_campaign row', missing);
  END IF;
  RETURN NULL;
END
$$
"""

KEPT = """
CREATE FUNCTION reviews_item_campaign_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
    MESSAGE = 'a review item stays in the campaign that launched it';
END
$$
"""

ORPHANED = """
CREATE FUNCTION reviews_campaign_items_left() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
DECLARE
  left_behind bigint;
BEGIN
  SELECT o.id INTO left_behind FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM reviews_item i WHERE i.campaign_id = o.id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('reviews_campaign %s still has review items', left_behind);
  END IF;
  RETURN NULL;
END
$$
"""

INSTALL = [
    INSERTED,
    "CREATE TRIGGER reviews_item_campaign_insert AFTER INSERT ON reviews_item REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reviews_item_campaign_written()",
    KEPT,
    "CREATE TRIGGER reviews_item_campaign_update BEFORE UPDATE OF campaign_id ON reviews_item FOR EACH ROW "
    "WHEN (NEW.campaign_id IS DISTINCT FROM OLD.campaign_id) EXECUTE FUNCTION reviews_item_campaign_kept()",
    ORPHANED,
    "CREATE TRIGGER reviews_campaign_items_delete AFTER DELETE ON reviews_campaign REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reviews_campaign_items_left()",
]

UNINSTALL = [
    "DROP TRIGGER IF EXISTS reviews_campaign_items_delete ON reviews_campaign",
    "DROP TRIGGER IF EXISTS reviews_item_campaign_update ON reviews_item",
    "DROP TRIGGER IF EXISTS reviews_item_campaign_insert ON reviews_item",
    "DROP FUNCTION IF EXISTS reviews_campaign_items_left()",
    "DROP FUNCTION IF EXISTS reviews_item_campaign_kept()",
    "DROP FUNCTION IF EXISTS reviews_item_campaign_written()",
]


class Migration(migrations.Migration):
    dependencies = [("reviews", "0005_item_campaign_no_db_constraint")]

    operations = [on_postgresql(INSTALL, UNINSTALL)]
