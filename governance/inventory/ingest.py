"""Set-based, idempotent reconciliation of synced rows: the machinery under inventory.services.

A sync hands over every row of one scope (say, one account's principals) as (key, values, hash).
`plan()` compares them with what is stored, in one SELECT of (key, id, hash, removed) for the
scope, and `apply()` writes only the difference:

- new keys: inserted in bulk with ids reserved beforehand (`reserve_ids`: one `nextval` over
  `generate_series` on PostgreSQL, the AUTOINCREMENT counter on SQLite), so a caller can build
  the rows that refer to them before anything is written. COPY on PostgreSQL, `bulk_create`
  elsewhere.
- changed hash, or a removed row that is back: one `UPDATE .. FROM (VALUES ..)` per batch (a
  CTE, so the same statement runs on SQLite). `bulk_update` builds a CASE per column per row and
  is not used on this hot path.
- stored, present, not in the input: `queryset.update(removed_at=now)`; nothing is deleted.

An unchanged scope costs one SELECT and writes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import blake2b as _blake2b
from typing import Any

from django.db import connection, models

INSERT_BATCH = 2000
UPDATE_BATCH = 500


def digest(*parts: Any) -> str:
    """A 32-hex-digit key or hash of `parts` (strings, numbers, JSON, datetimes)."""
    try:
        text = "\x1f".join(parts)  # the usual case: every part is already a string
    except TypeError:
        text = "\x1f".join([p if type(p) is str else _canon(p) for p in parts])
    return _blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def fingerprint(values: tuple) -> str:
    """The content hash of a row's values: a digest of their repr (C-speed, no JSON round trip).

    repr is exact for the types synced values take (str, int, bool, None, datetime, and dicts
    and lists of JSON). Two reads of unchanged data give the same repr; a value that is equal but
    spelled differently (dict keys in another order) at worst costs one needless update.
    """
    return _blake2b(repr(values).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def insert_plain(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[tuple],
    *,
    encoded: Sequence[dict[str, str]] | None = None,
) -> None:
    """Insert rows (tuples of `fields`) that need no ids back, such as history rows: COPY on
    PostgreSQL, bulk_create elsewhere. `encoded`, parallel to `rows`, may give JSON fields
    already encoded (attname -> JSON text)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_create([model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=500)
        return
    columns = _columns(model, fields)
    copy_format = _CopyFormat(columns)
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
    # The raw psycopg COPY bypasses Django's cursor: wrap it so a violation is an IntegrityError.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for n, row in enumerate(rows):
            copy.write_row(copy_format.values([*row], encoded[n] if encoded else None))


class _CopyFormat:
    """Turns a row's values into what COPY takes fastest: datetimes and JSON as text.

    psycopg formats a datetime several times slower than it copies a string, and a JSON value is
    encoded either way; a value the caller already encoded (`Row.encoded`) is not encoded again.
    """

    def __init__(self, columns: Sequence[models.Field]) -> None:
        self.times = [i for i, f in enumerate(columns) if isinstance(f, models.DateTimeField)]
        self.json = [(i, f.attname) for i, f in enumerate(columns) if isinstance(f, models.JSONField)]
        self.needed = bool(self.times or self.json)

    def values(self, values: list[Any], encoded: dict[str, str] | None) -> list[Any]:
        for i in self.times:
            value = values[i]
            if isinstance(value, datetime):
                values[i] = value.isoformat()
        for i, attname in self.json:
            value = values[i]
            if value is not None:
                values[i] = encoded[attname] if encoded and attname in encoded else _json(value)
        return values


def _json(value: Any) -> str:
    return json.dumps(value)


def _canon(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    return canonical_json(value)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: what `digest` hashes for a dict or list part, so
    `digest(canonical_json(doc)) == digest(doc)`, and what COPY can take for a JSON column."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(slots=True)
class Row:
    key: str
    values: tuple
    hash: str
    scope: str = ""
    # JSON fields already encoded by whoever built the row (attname -> JSON text), so a policy
    # document is encoded once for its hash, its row and its version rather than three times.
    encoded: dict[str, str] | None = None


@dataclass
class Plan:
    model: type[models.Model]
    scopes: tuple[str, ...]
    ids: dict[str, int]
    inserts: list[Row] = field(default_factory=list)
    updates: list[tuple[int, Row]] = field(default_factory=list)
    removals: list[tuple[int, str]] = field(default_factory=list)
    # Ids reserved for `inserts` (same order) by `reserve_ids`, before anything is written.
    new_ids: list[int] | None = None

    @property
    def changes(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.removals)

    def changes_by_scope(self) -> Counter[str]:
        counts: Counter[str] = Counter(r.scope for r in self.inserts)
        counts.update(r.scope for _, r in self.updates)
        counts.update(scope for _, scope in self.removals)
        return counts


@dataclass
class Outcome:
    inserted: int = 0
    updated: int = 0
    removed: int = 0

    @property
    def changes(self) -> int:
        return self.inserted + self.updated + self.removed

    def add(self, other: Outcome) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.removed += other.removed


Stored = dict[str, tuple[int, str, bool, str]]


def existing(model: type[models.Model], scopes: str | Sequence[str]) -> Stored:
    """key -> (id, content_hash, is_removed, scope) for every stored row of `scopes`."""
    scopes = [scopes] if isinstance(scopes, str) else list(scopes)
    if not scopes:
        return {}
    table = connection.ops.quote_name(model._meta.db_table)
    placeholders = ", ".join(["%s"] * len(scopes))
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "key", "id", "content_hash", "removed_at" IS NOT NULL, "scope" FROM {table} '  # noqa: S608
            f'WHERE "scope" IN ({placeholders})',
            scopes,
        )
        return {row[0]: (row[1], row[2], bool(row[3]), row[4]) for row in cursor.fetchall()}


def plan(
    model: type[models.Model],
    *,
    scopes: str | Sequence[str],
    rows: Iterable[Row],
    remove_missing: bool = True,
    stored: Stored | None = None,
) -> Plan:
    """Compare incoming rows with what `scopes` hold; with one scope, untagged rows get it."""
    scopes = (scopes,) if isinstance(scopes, str) else tuple(scopes)
    stored = existing(model, scopes) if stored is None else stored
    result = Plan(model=model, scopes=scopes, ids={})
    seen: set[str] = set()
    inserts, updates, ids = result.inserts, result.updates, result.ids
    only = scopes[0] if len(scopes) == 1 else ""
    for row in rows:
        if not row.scope:
            if not only:
                raise ValueError("Rows planned over several scopes must each carry their scope.")
            row.scope = only
        key = row.key
        if key in seen:
            continue
        seen.add(key)
        current = stored.get(key)
        if current is None:
            inserts.append(row)
            continue
        pk, content_hash, removed, _scope = current
        ids[key] = pk
        if removed or content_hash != row.hash:
            updates.append((pk, row))
    if remove_missing:
        result.removals = [
            (pk, scope) for key, (pk, _h, removed, scope) in stored.items() if not removed and key not in seen
        ]
    return result


def reserve_ids(result: Plan) -> dict[str, int]:
    """Reserve ids for a plan's new rows now, so rows that refer to them can be built before any
    of them is written; afterwards `result.ids` maps every incoming key to its row id."""
    if result.new_ids is None:
        result.new_ids = _reserve(result.model, len(result.inserts))
        result.ids.update(zip((r.key for r in result.inserts), result.new_ids, strict=True))
    return result.ids


def apply(result: Plan, *, fields: Sequence[str], now: datetime, ids: bool = True) -> Outcome:
    """Write a plan; afterwards `result.ids` maps every incoming key to its row id.

    `ids=False` is for rows nothing refers to (memberships, entitlements, keys): new rows then
    take their ids from the column default, and `result.ids` holds only the stored rows' ids.
    """
    model = result.model
    if result.inserts:
        if ids:
            reserve_ids(result)
        _insert(model, fields, result.inserts, now, result.new_ids)
    for start in range(0, len(result.updates), UPDATE_BATCH):
        _update(model, fields, result.updates[start : start + UPDATE_BATCH], now)
    removals = [pk for pk, _scope in result.removals]
    for start in range(0, len(removals), UPDATE_BATCH):
        model._base_manager.filter(pk__in=removals[start : start + UPDATE_BATCH]).update(removed_at=now, last_seen=now)
    return Outcome(inserted=len(result.inserts), updated=len(result.updates), removed=len(result.removals))


def reconcile(
    model: type[models.Model],
    *,
    scope: str | Sequence[str],
    fields: Sequence[str],
    rows: Iterable[Row],
    now: datetime,
    remove_missing: bool = True,
    ids: bool = True,
) -> tuple[Plan, Outcome]:
    result = plan(model, scopes=scope, rows=rows, remove_missing=remove_missing)
    return result, apply(result, fields=fields, now=now, ids=ids)


def _columns(model: type[models.Model], fields: Sequence[str]) -> list[models.Field]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return [by_attname[name] for name in fields]


def _reserve(model: type[models.Model], count: int) -> list[int]:
    """`count` fresh ids for `model`, taken from its sequence and never handed out again.

    PostgreSQL: `nextval` (outside any transaction's rollback). SQLite: the AUTOINCREMENT
    counter in `sqlite_sequence`, which explicit ids below it never move backwards.
    """
    if not count:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT %s, 0 WHERE NOT EXISTS "
            "(SELECT 1 FROM sqlite_sequence WHERE name = %s)",
            [table, table],
        )
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, table])
        last = cursor.fetchone()[0]
        return list(range(last - count + 1, last + 1))


def _insert(
    model: type[models.Model], fields: Sequence[str], rows: list[Row], now: datetime, ids: list[int] | None
) -> None:
    if connection.vendor == "postgresql":
        _copy_insert(model, fields, rows, now, ids)
        return
    objs = [
        model(
            key=r.key,
            scope=r.scope,
            content_hash=r.hash,
            first_seen=now,
            last_seen=now,
            **dict(zip(fields, r.values, strict=True)),
        )
        for r in rows
    ]
    if ids is not None:
        for obj, pk in zip(objs, ids, strict=True):
            obj.pk = pk
    model._base_manager.bulk_create(objs, batch_size=500)


def _copy_insert(
    model: type[models.Model], fields: Sequence[str], rows: list[Row], now: datetime, ids: list[int] | None
) -> None:
    table = model._meta.db_table
    columns = _columns(model, fields)
    # Django defaults are not database defaults: columns the caller does not set get theirs here.
    known = {"id", "key", "scope", "content_hash", "first_seen", "last_seen", "removed_at", *fields}
    extra = [f for f in model._meta.concrete_fields if f.attname not in known]
    copy_format = _CopyFormat(columns)
    defaults = _CopyFormat(extra).values([f.get_default() for f in extra], None)
    names = ", ".join(
        connection.ops.quote_name(c)
        for c in [
            *(["id"] if ids is not None else []),
            *("key", "scope", "content_hash", "first_seen", "last_seen"),
            *(f.column for f in (*columns, *extra)),
        ]
    )
    stamp = now.isoformat()
    sql = f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN"
    # The raw psycopg COPY bypasses Django's cursor: wrap it so a violation is an IntegrityError.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        write, values = copy.write_row, copy_format.values
        if ids is not None:
            for pk, row in zip(ids, rows, strict=True):
                write((pk, row.key, row.scope, row.hash, stamp, stamp, *values([*row.values], row.encoded), *defaults))
        elif copy_format.needed:
            for row in rows:
                write((row.key, row.scope, row.hash, stamp, stamp, *values([*row.values], row.encoded), *defaults))
        else:  # link rows (memberships, entitlements): ids and choices only, nothing to convert
            for row in rows:
                write((row.key, row.scope, row.hash, stamp, stamp, *row.values, *defaults))


def _update(model: type[models.Model], fields: Sequence[str], batch: list[tuple[int, Row]], now: datetime) -> None:
    columns = _columns(model, fields)
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    aliases = [f"c{i}" for i in range(len(columns))]
    all_aliases = ["pk", "h", "t", *aliases]
    if postgres:
        casts = ["bigint", "varchar(32)", "timestamp with time zone", *(_pg_type(f) for f in columns)]
        placeholder = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    else:
        placeholder = "(" + ", ".join(["%s"] * len(all_aliases)) + ")"
    params: list[Any] = []
    stamp = _prep_datetime(now)
    for pk, row in batch:
        params.extend([pk, row.hash, stamp])
        params.extend(f.get_db_prep_save(v, connection) for f, v in zip(columns, row.values, strict=True))
    assignments = ", ".join(
        [
            f"{qn('content_hash')} = v.h",
            f"{qn('last_seen')} = v.t",
            f"{qn('removed_at')} = NULL",
            *(f"{qn(f.column)} = v.{alias}" for f, alias in zip(columns, aliases, strict=True)),
        ]
    )
    table = qn(model._meta.db_table)
    sql = (
        f"WITH v ({', '.join(all_aliases)}) AS (VALUES {', '.join([placeholder] * len(batch))}) "  # noqa: S608
        f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{qn('id')} = v.pk"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _prep_datetime(value: datetime) -> Any:
    return models.DateTimeField().get_db_prep_save(value, connection)


def _pg_type(f: models.Field) -> str:
    if isinstance(f, models.ForeignKey):
        return "bigint"
    db_type = f.db_type(connection) or "text"
    return db_type.split(" CHECK", 1)[0]
