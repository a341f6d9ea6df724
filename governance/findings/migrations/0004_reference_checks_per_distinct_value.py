# The per-statement reference checks of 0003 probe each referenced table once per distinct value a
# statement writes instead of once per row: a first evaluation inserts a rule's 100,000 findings in one
# statement, all of one run and of 1,000 accounts, and 0003 probed the run's row 100,000 times.

from django.db import migrations

TABLE = "findings_finding"
REFERENCES = (
    ("account_id", "inventory_account"),
    ("principal_id", "inventory_principal"),
    ("policy_id", "inventory_policy"),
    ("permission_set_id", "inventory_permission_set"),
    ("first_run_id", "findings_evaluationrun"),
)
# As governance.inventory.references: one index probe per value is always right, whatever the
# statistics say about a table a first sync has just filled.
PLANNER = "SET enable_seqscan = off SET enable_bitmapscan = off SET enable_material = off"


def _function(written: str) -> str:
    checks = "\n".join(
        f"""  SELECT n.value INTO missing FROM ({written.format(column=column)}) n
    WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t.id = n.value OFFSET 0)
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('findings_finding.{column} = %s refers to no {target} row', missing);
  END IF;"""
        for column, target in REFERENCES
    )
    return (
        f"CREATE OR REPLACE FUNCTION findings_finding_refs_written() RETURNS trigger LANGUAGE plpgsql {PLANNER} AS $$\n"
        f"DECLARE missing bigint;\nBEGIN\n{checks}\n  RETURN NULL;\nEND\n$$"
    )


DISTINCT_VALUES = "SELECT DISTINCT r.{column} AS value FROM new_rows r WHERE r.{column} IS NOT NULL"
EVERY_ROW = "SELECT r.{column} AS value FROM new_rows r WHERE r.{column} IS NOT NULL"


def per_distinct_value(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # the checks are PostgreSQL's only (0003)
        schema_editor.execute(_function(DISTINCT_VALUES), params=None)


def per_row(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(EVERY_ROW), params=None)


class Migration(migrations.Migration):
    dependencies = [("findings", "0003_statement_reference_checks")]

    operations = [migrations.RunPython(per_distinct_value, per_row)]
