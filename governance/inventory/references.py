"""Statement-level reference checks for the tables the sync fills in bulk.

Foreign keys declared with `models.base.bulk_reference` have no database constraint. In their
place, `install()` (run by migrations) creates triggers that keep the same guarantees:

- every row an INSERT or UPDATE writes must refer to an existing row. On PostgreSQL one
  statement-level trigger per table checks all the rows the statement wrote (COPY included) with
  one indexed anti-join per column; on SQLite a row trigger per column does the same per row.
- on PostgreSQL, a referenced row cannot be deleted, nor its id changed, while a row still
  refers to it (ON DELETE RESTRICT). Not on SQLite, the embedded demo database: its triggers run
  at once, never at commit, and Django empties tables one by one in any order (`flush`), which
  deferred constraints allow and an immediate check would refuse. There the ORM's PROTECT still
  guards deletes, and inventory rows are never deleted in normal operation (`removed_at`).

A violation raises `foreign_key_violation` on PostgreSQL and a constraint error on SQLite, both
`django.db.IntegrityError`, and the statement (with its transaction) is undone. TRUNCATE is not
guarded; only tests truncate, and they truncate every table together.

The checks are built from the models, so a new `bulk_reference` is covered once a migration
calls `install()` again (`tests/inventory/test_references.py` fails until one does).
"""

# ruff: noqa: S608 - the SQL here is built from model metadata (table and column names), never from input.
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

APP_LABEL = "inventory"
PREFIX = "inventory_refs"


@dataclass(frozen=True)
class Reference:
    table: str
    column: str
    target_table: str
    target_column: str


def references(apps: Any) -> list[Reference]:
    """Every foreign key of the inventory app that has no database constraint."""
    found = []
    for model in apps.get_app_config(APP_LABEL).get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.many_to_one and not field.db_constraint:
                target = field.target_field
                found.append(Reference(model._meta.db_table, field.column, target.model._meta.db_table, target.column))
    return sorted(found, key=lambda r: (r.table, r.column))


def install(apps: Any, schema_editor: Any) -> None:
    uninstall(apps, schema_editor)
    refs = references(apps)
    statements = _postgresql(refs) if schema_editor.connection.vendor == "postgresql" else _sqlite(refs)
    for sql in statements:
        schema_editor.execute(sql, params=None)


def uninstall(apps: Any, schema_editor: Any) -> None:
    """Drop every check this module ever installed (by name prefix), whatever the models now say."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE %s", [f"{PREFIX}%"]
            )
            for name, table in cursor.fetchall():
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON {table}', params=None)
            cursor.execute("SELECT oid::regprocedure::text FROM pg_proc WHERE proname LIKE %s", [f"{PREFIX}%"])
            for (signature,) in cursor.fetchall():
                schema_editor.execute(f"DROP FUNCTION IF EXISTS {signature}", params=None)
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{PREFIX}%"])
            for (name,) in cursor.fetchall():
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}"', params=None)


def installed_names(connection: Any) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s", [f"{PREFIX}%"])
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{PREFIX}%"])
        return {name for (name,) in cursor.fetchall()}


def expected_names(apps: Any, vendor: str) -> set[str]:
    refs = references(apps)
    if vendor == "postgresql":
        names = {f"{PREFIX}_{t}_{op}" for t in {r.table for r in refs} for op in ("insert", "update")}
        return names | {f"{PREFIX}_{t}_{op}" for t in {r.target_table for r in refs} for op in ("delete", "rekey")}
    return {f"{PREFIX}_{r.table}_{r.column}_{op}" for r in refs for op in ("insert", "update")}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _postgresql(refs: list[Reference]) -> list[str]:
    by_table: dict[str, list[Reference]] = defaultdict(list)
    by_target: dict[str, list[Reference]] = defaultdict(list)
    for ref in refs:
        by_table[ref.table].append(ref)
        by_target[ref.target_table].append(ref)
    # The transition tables carry no statistics and the checked tables grow fast during a sync
    # (a first sync writes them before autovacuum ever analyzes them): a plan made while a table
    # looked empty would scan all of it for every row checked. One index probe per row is always
    # right here, so the lookup is kept a per-row subplan (OFFSET 0 stops it being turned into a
    # join) and scans are priced out.
    planner = "SET enable_seqscan = off SET enable_bitmapscan = off SET enable_material = off"
    sql = []
    for table, table_refs in sorted(by_table.items()):
        checks = "\n".join(
            f"""  SELECT n.{_q(r.column)} INTO missing FROM new_rows n
    WHERE n.{_q(r.column)} IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM {_q(r.target_table)} t WHERE t.{_q(r.target_column)} = n.{_q(r.column)} OFFSET 0)
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s.%s = %s refers to no %s row', TG_TABLE_NAME, {_literal(r.column)}, missing,
                       {_literal(r.target_table)});
  END IF;"""
            for r in table_refs
        )
        function = f"{PREFIX}_{table}_written"
        sql.append(
            f"CREATE FUNCTION {_q(function)}() RETURNS trigger LANGUAGE plpgsql {planner} AS $$\n"
            f"DECLARE missing bigint;\nBEGIN\n{checks}\n  RETURN NULL;\nEND\n$$"
        )
        for op in ("insert", "update"):
            sql.append(
                f"CREATE TRIGGER {_q(f'{PREFIX}_{table}_{op}')} AFTER {op.upper()} ON {_q(table)} "
                f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {_q(function)}()"
            )
    for target, target_refs in sorted(by_target.items()):
        checks = "\n".join(
            f"""  SELECT o.{_q(r.target_column)} INTO kept FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM {_q(r.table)} c WHERE c.{_q(r.column)} = o.{_q(r.target_column)} OFFSET 0)
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s row %s is still referenced from %s.%s', TG_TABLE_NAME, kept, {_literal(r.table)},
                       {_literal(r.column)});
  END IF;"""
            for r in target_refs
        )
        function = f"{PREFIX}_{target}_deleted"
        sql.append(
            f"CREATE FUNCTION {_q(function)}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"DECLARE kept bigint;\nBEGIN\n{checks}\n  RETURN NULL;\nEND\n$$"
        )
        sql.append(
            f"CREATE TRIGGER {_q(f'{PREFIX}_{target}_delete')} AFTER DELETE ON {_q(target)} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {_q(function)}()"
        )
        # Ids never change; refusing outright is simpler than re-checking every referrer.
        rekey = f"{PREFIX}_{target}_rekeyed"
        column = _q(target_refs[0].target_column)
        sql.append(
            f"CREATE FUNCTION {_q(rekey)}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            f"  RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',\n"
            f"    MESSAGE = format('%s ids are referenced and cannot change', TG_TABLE_NAME);\nEND\n$$"
        )
        sql.append(
            f"CREATE TRIGGER {_q(f'{PREFIX}_{target}_rekey')} BEFORE UPDATE OF {column} ON {_q(target)} "
            f"FOR EACH ROW WHEN (OLD.{column} IS DISTINCT FROM NEW.{column}) EXECUTE FUNCTION {_q(rekey)}()"
        )
    return sql


def _sqlite(refs: list[Reference]) -> list[str]:
    sql = []
    for r in refs:
        table, column, target, target_column = _q(r.table), _q(r.column), _q(r.target_table), _q(r.target_column)
        exists = f"EXISTS (SELECT 1 FROM {target} WHERE {target_column} = NEW.{column})"
        missing = f"NEW.{column} IS NOT NULL AND NOT {exists}"
        message = _literal(f"FOREIGN KEY constraint failed: {r.table}.{r.column} refers to no {r.target_table} row")
        for op, event in (("insert", "INSERT"), ("update", f"UPDATE OF {column}")):
            sql.append(
                f"CREATE TRIGGER {_q(f'{PREFIX}_{r.table}_{r.column}_{op}')} BEFORE {event} ON {table} "
                f"FOR EACH ROW WHEN {missing} BEGIN SELECT RAISE(ABORT, {message}); END"
            )
    return sql


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
