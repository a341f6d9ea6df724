"""The statement-level checks that stand in for foreign-key constraints on the bulk tables."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.inventory import ingest, references
from governance.inventory.models import (
    AccessKey,
    Account,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    Organization,
    PermissionSet,
    Policy,
    PolicyKind,
    PolicyVersion,
    Principal,
    PrincipalKind,
)

pytestmark = pytest.mark.django_db

REFERENCES = references.references(apps)
DANGLING = 987_654_321


def _synced(key: str, scope: str = "iam:222222222222") -> dict:
    now = timezone.now()
    return {"key": key, "scope": scope, "content_hash": "h", "first_seen": now, "last_seen": now}


@pytest.fixture
def rows() -> dict[str, int]:
    """One row of every checked table, each of its references set: table -> row id."""
    org = Organization.objects.create(org_id="o-ref", arn="arn:org", management_account_id="1", **_synced("o", "org"))
    account = Account.objects.create(
        organization=org, account_id="222222222222", arn="arn:acct", name="a", email="a@x", **_synced("a", "org")
    )
    permission_set = PermissionSet.objects.create(instance_arn="arn:i", arn="arn:ps", name="ps", **_synced("ps", "sso"))
    boundary = Policy.objects.create(
        kind=PolicyKind.CUSTOMER_MANAGED, arn="arn:boundary", name="b", account=account, **_synced("b")
    )
    group = Principal.objects.create(kind=PrincipalKind.IAM_GROUP, account=account, arn="arn:g", name="g",
                                     **_synced("g"))  # fmt: skip
    manager = Principal.objects.create(kind=PrincipalKind.SSO_USER, arn="arn:boss", name="boss",
                                       **_synced("boss", "sso"))  # fmt: skip
    user = Principal.objects.create(
        kind=PrincipalKind.IAM_USER, account=account, arn="arn:u", name="u", permissions_boundary=boundary,
        manager=manager, **_synced("u"),
    )  # fmt: skip
    policy = Policy.objects.create(
        kind=PolicyKind.INLINE, arn="arn:inline", name="i", account=account, organization=org, principal=user,
        permission_set=permission_set, **_synced("i"),
    )  # fmt: skip
    made = [
        PolicyVersion.objects.create(policy=policy, version=1, first_seen=timezone.now()),
        GroupMembership.objects.create(group=group, member=user, account=account, **_synced("m")),
        Entitlement.objects.create(
            principal=user,
            policy=policy,
            via=EntitlementVia.GROUP,
            account=account,
            via_group=group,
            permission_set=permission_set,
            **_synced("e"),
        ),
        AccessKey.objects.create(principal=user, account=account, slot=1, status="Active", **_synced("k")),
        CredentialReportRow.objects.create(account=account, principal=user, user_name="u", arn="arn:u", **_synced("c")),
    ]
    found = {obj._meta.db_table: obj.pk for obj in made}
    found.update({Principal._meta.db_table: user.pk, Policy._meta.db_table: policy.pk})
    return found


def _copy_sql(ref: references.Reference, row_id: int, value: int) -> str:
    """INSERT .. SELECT a copy of `row_id` with `ref.column` set to `value` (unique columns altered)."""
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, ref.table)]
    altered = {"key": "'copy'", "arn": "arn || '-copy'", "version": "version + 100", ref.column: str(value)}
    names = [c for c in columns if c != "id"]
    select = ", ".join(altered.get(c, connection.ops.quote_name(c)) for c in names)
    table = connection.ops.quote_name(ref.table)
    quoted = ", ".join(connection.ops.quote_name(c) for c in names)
    return f"INSERT INTO {table} ({quoted}) SELECT {select} FROM {table} WHERE id = {row_id}"  # noqa: S608


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        return cursor.fetchone()[0]


def _referenced_id(ref: references.Reference, row_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{ref.column}" FROM "{ref.table}" WHERE id = %s', [row_id])  # noqa: S608
        return cursor.fetchone()[0]


def test_it_covers_every_bulk_table_reference():
    tables = {r.table for r in REFERENCES}
    assert tables == {
        "inventory_access_key",
        "inventory_credential_report_row",
        "inventory_entitlement",
        "inventory_group_membership",
        "inventory_policy",
        "inventory_policy_version",
        "inventory_principal",
    }
    assert ("inventory_entitlement", "principal_id", "inventory_principal") in {
        (r.table, r.column, r.target_table) for r in REFERENCES
    }


def test_the_installed_checks_are_exactly_the_expected_ones():
    assert references.installed_names(connection) == references.expected_names(apps, connection.vendor)


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: f"{r.table}.{r.column}")
def test_it_refuses_a_row_that_refers_to_nothing(rows, ref):
    before = _count(ref.table)
    match = ref.column if connection.vendor == "postgresql" else "FOREIGN KEY"
    with pytest.raises(IntegrityError, match=match), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_copy_sql(ref, rows[ref.table], DANGLING))
    assert _count(ref.table) == before


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: f"{r.table}.{r.column}")
def test_it_accepts_a_row_that_refers_to_an_existing_one(rows, ref):
    with connection.cursor() as cursor:
        cursor.execute(_copy_sql(ref, rows[ref.table], _referenced_id(ref, rows[ref.table])))
        assert cursor.rowcount == 1


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: f"{r.table}.{r.column}")
def test_it_refuses_to_point_an_existing_row_at_nothing(rows, ref):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{ref.table}" SET "{ref.column}" = %s WHERE id = %s',  # noqa: S608
            [DANGLING, rows[ref.table]],
        )
    assert _referenced_id(ref, rows[ref.table]) != DANGLING


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's checks cannot wait for commit (flush)")
@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: f"{r.table}.{r.column}")
def test_it_refuses_to_delete_or_renumber_a_referenced_row(rows, ref):
    target = _referenced_id(ref, rows[ref.table])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{ref.target_table}" WHERE id = %s', [target])  # noqa: S608
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{ref.target_table}" SET id = %s WHERE id = %s', [DANGLING, target])  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{ref.target_table}" WHERE id = %s', [target])  # noqa: S608
        assert cursor.fetchone()[0] == 1


def test_an_unreferenced_row_can_still_be_deleted(rows):
    org = Organization.objects.get()
    spare = Account.objects.create(
        organization=org, account_id="333333333333", arn="arn:spare", name="s", email="s@x", **_synced("s", "org")
    )
    spare.delete()
    assert not Account.objects.filter(account_id="333333333333").exists()


def test_a_bulk_copy_is_checked_too(rows):
    """The ingest writes with COPY on PostgreSQL; the check covers it like any INSERT."""
    before = PolicyVersion.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        ingest.insert_plain(
            PolicyVersion,
            ("policy_id", "version", "first_seen"),
            [(rows[Policy._meta.db_table], 7, timezone.now()), (DANGLING, 1, timezone.now())],
        )
    assert PolicyVersion.objects.count() == before
