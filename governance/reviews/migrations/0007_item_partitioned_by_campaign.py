# On PostgreSQL, reviews_item becomes a table LIST-partitioned by campaign_id, so that a full launch
# can load its million items into a bare table of its own and attach it as the campaign's partition:
# ATTACH builds the indexes sorted, in one pass each, and checks the campaign reference in one
# query, where an INSERT into an indexed table maintained the inbox index row by row (6-9 s of a
# 19.5 s launch) and 0006's checks ran per statement. See governance/reviews/partitions.py.
#
# - The items already there stay where they are: the old table becomes the partition of the
#   campaigns that exist now (reviews_item_legacy), or, with none, the DEFAULT partition. Small
#   event-driven launches keep going into the DEFAULT partition (reviews_item_default), which
#   every ATTACH scans for rows of the new campaign: keeping old quarters out of it keeps that
#   scan short.
# - A partitioned table has no identity columns (PostgreSQL 15) and its primary key must include
#   the partition key: ids come from a sequence owned by reviews_item.id (Django's sequence
#   resets find it), and the key is (id, campaign_id). Django's state keeps `id` as the pk.
# - The campaign reference is a real foreign key again (the AlterField below): partitioned, its
#   per-row check only runs on the DEFAULT partition's few inserts; an attached partition is
#   checked once. So 0006's insert and delete statement triggers go; "an item never moves
#   campaign" stays (a row trigger, cloned onto every partition).
# - The two SECURITY DEFINER functions let the run-time role, which owns nothing and cannot
#   create tables, make and attach a launch's partition, and nothing else.
# SQLite, the embedded demo database, is not partitioned; it only gets the foreign key.

import importlib

import django.db.models.deletion
from django.db import migrations, models

statement_checks = importlib.import_module("governance.reviews.migrations.0006_item_campaign_statement_check")

FUNCTIONS = r"""
CREATE FUNCTION reviews_item_partition_create(campaign bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
  name text := 'reviews_item_c' || campaign;
  grant_to record;
  partial record;
BEGIN
  IF campaign IS NULL OR NOT EXISTS (SELECT 1 FROM reviews_campaign c WHERE c.id = campaign AND c.status = 'open') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('reviews_item_partition_create: no reviews_campaign %s open for items', campaign);
  END IF;
  IF to_regclass(name) IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
      MESSAGE = format('reviews_item_partition_create: reviews_campaign %s already has its table %s', campaign, name);
  END IF;
  IF EXISTS (SELECT 1 FROM reviews_item i WHERE i.campaign_id = campaign) THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('reviews_item_partition_create: reviews_campaign %s already has items', campaign);
  END IF;
  -- No index, no foreign key: the rows go in bare and ATTACH builds and checks the rest. The
  -- CHECK lets ATTACH skip its scan for the partition constraint.
  EXECUTE format('CREATE TABLE %I (LIKE reviews_item INCLUDING DEFAULTS INCLUDING CONSTRAINTS, '
                 'CONSTRAINT %I CHECK (campaign_id = %s))', name, name || '_campaign', campaign);
  -- The partial indexes (decided, in remediation) hold none of a launch's fresh items: made
  -- now, the load pays one predicate per row for them, where ATTACH would scan the table once
  -- for each (0.5 s for a million items). ATTACH adopts them as their parents' partitions.
  FOR partial IN
    SELECT pg_get_indexdef(x.indexrelid) AS definition FROM pg_index x
    WHERE x.indrelid = 'reviews_item'::regclass AND x.indpred IS NOT NULL
  LOOP
    EXECUTE regexp_replace(partial.definition, '^CREATE INDEX \S+ ON ONLY \S+ ', format('CREATE INDEX ON %I ', name));
  END LOOP;
  -- Whoever may insert items may load these, until they are attached (then the parent's rights
  -- apply to them as to every item).
  FOR grant_to IN
    SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS role
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE c.oid = 'reviews_item'::regclass AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT SELECT, INSERT ON %I TO %s', name, grant_to.role);
  END LOOP;
  RETURN name;
END
$$;

CREATE FUNCTION reviews_item_partition_attach(campaign bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
  name text := 'reviews_item_c' || campaign;
  waiting regclass := to_regclass('reviews_item_c' || campaign);
BEGIN
  IF waiting IS NULL OR NOT EXISTS (
    SELECT 1 FROM pg_class c WHERE c.oid = waiting AND c.relkind = 'r' AND NOT c.relispartition
      AND c.relowner = (SELECT p.relowner FROM pg_class p WHERE p.oid = 'reviews_item'::regclass)
  ) THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('reviews_item_partition_attach: reviews_campaign %s has no table waiting to be attached', campaign);
  END IF;
  EXECUTE format('ALTER TABLE reviews_item ATTACH PARTITION %I FOR VALUES IN (%s)', name, campaign);
  EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_campaign');
END
$$;

REVOKE ALL ON FUNCTION reviews_item_partition_create(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION reviews_item_partition_attach(bigint) FROM PUBLIC;
"""

KEPT_TRIGGER = (
    "CREATE TRIGGER reviews_item_campaign_update BEFORE UPDATE OF campaign_id ON reviews_item FOR EACH ROW "
    "WHEN (NEW.campaign_id IS DISTINCT FROM OLD.campaign_id) EXECUTE FUNCTION reviews_item_campaign_kept()"
)


def _fetch(schema_editor, sql, params=None):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _indexes_and_foreign_keys(schema_editor, table):
    """The table's index definitions (but its primary key's) and foreign keys, as SQL to recreate them."""
    indexes = _fetch(
        schema_editor,
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary ORDER BY i.relname",
        [table],
    )
    foreign_keys = _fetch(
        schema_editor,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'f' ORDER BY conname",
        [table],
    )
    return indexes, foreign_keys


def _runner(schema_editor):
    """schema_editor.execute without parameters unless given: the functions' SQL has % in it."""
    return lambda sql, params=None: schema_editor.execute(sql, params=params)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = _runner(schema_editor)
    run("DROP TRIGGER reviews_campaign_items_delete ON reviews_campaign")
    run("DROP TRIGGER reviews_item_campaign_insert ON reviews_item")
    run("DROP TRIGGER reviews_item_campaign_update ON reviews_item")
    run("DROP FUNCTION reviews_campaign_items_left()")
    run("DROP FUNCTION reviews_item_campaign_written()")
    indexes, foreign_keys = _indexes_and_foreign_keys(schema_editor, "reviews_item")
    campaigns = [pk for (pk,) in _fetch(schema_editor, "SELECT id FROM reviews_campaign ORDER BY id")]
    old = "reviews_item_legacy" if campaigns else "reviews_item_default"
    run(f"ALTER TABLE reviews_item RENAME TO {old}")
    run(f"ALTER TABLE {old} DROP CONSTRAINT reviews_item_pkey")
    for name, _ in foreign_keys:
        run(f'ALTER TABLE {old} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        run(f'ALTER INDEX "{name}" RENAME TO "{(name + "_" + old.removeprefix("reviews_item_"))[:63]}"')
    max_id = _fetch(schema_editor, f"SELECT max(id) FROM {old}")[0][0]  # noqa: S608 - our own name
    run(f"ALTER TABLE {old} ALTER COLUMN id DROP IDENTITY")
    run(
        f"CREATE TABLE reviews_item (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY LIST (campaign_id)"
    )
    run("CREATE SEQUENCE reviews_item_id_seq OWNED BY reviews_item.id")
    if max_id is not None:
        run("SELECT setval('reviews_item_id_seq', %s)", [max_id])
    for table in ("reviews_item", old):
        run(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('reviews_item_id_seq')")
    run("ALTER TABLE reviews_item ADD CONSTRAINT reviews_item_pkey PRIMARY KEY (id, campaign_id)")
    for _, definition in indexes:
        run(definition)
    for name, definition in foreign_keys:
        run(f'ALTER TABLE reviews_item ADD CONSTRAINT "{name}" {definition}')
    if campaigns:
        run(f"ALTER TABLE reviews_item ATTACH PARTITION {old} FOR VALUES IN ({', '.join(map(str, campaigns))})")
        run("CREATE TABLE reviews_item_default PARTITION OF reviews_item DEFAULT")
    else:
        run(f"ALTER TABLE reviews_item ATTACH PARTITION {old} DEFAULT")
    run(KEPT_TRIGGER)
    schema = _fetch(schema_editor, "SELECT quote_ident(current_schema())")[0][0]
    run(FUNCTIONS.replace("{schema}", schema))


def unpartition(apps, schema_editor):
    """Back to one plain table: every partition's rows copied into it, 0006's checks restored."""
    if schema_editor.connection.vendor != "postgresql":
        return
    run = _runner(schema_editor)
    run("DROP FUNCTION reviews_item_partition_attach(bigint)")
    run("DROP FUNCTION reviews_item_partition_create(bigint)")
    indexes, foreign_keys = _indexes_and_foreign_keys(schema_editor, "reviews_item")
    run("CREATE TABLE reviews_item_plain (LIKE reviews_item INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    run("INSERT INTO reviews_item_plain SELECT * FROM reviews_item")
    max_id = _fetch(schema_editor, "SELECT max(id) FROM reviews_item_plain")[0][0]
    run("ALTER TABLE reviews_item_plain ALTER COLUMN id DROP DEFAULT")
    run("DROP TABLE reviews_item CASCADE")  # its partitions and its sequence with it
    run("ALTER TABLE reviews_item_plain RENAME TO reviews_item")
    run("ALTER TABLE reviews_item ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
    if max_id is not None:
        run("SELECT setval(pg_get_serial_sequence('reviews_item', 'id'), %s)", [max_id])
    run("ALTER TABLE reviews_item ADD CONSTRAINT reviews_item_pkey PRIMARY KEY (id)")
    for _, definition in indexes:
        run(definition.replace(" ON ONLY ", " ON ", 1))
    for name, definition in foreign_keys:
        run(f'ALTER TABLE reviews_item ADD CONSTRAINT "{name}" {definition}')
    run(KEPT_TRIGGER)
    for statement in statement_checks.INSTALL:
        if "reviews_item_campaign_kept" not in statement:
            run(statement)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0006_item_campaign_statement_check")]

    operations = [
        migrations.RunPython(partition, unpartition),
        migrations.AlterField(
            model_name="reviewitem",
            name="campaign",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="reviews.campaign",
            ),
        ),
    ]
