"""The production role set-up (README, "The audit trail's database roles") holds against the portal's own role.

deploy/postgresql/portal-role.sql is run as written (for a role of this test's own), then, as that
role, the test tries what someone holding the portal's database credentials would try.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from governance.audit.services import record

pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "postgresql" / "portal-role.sql"


@pytest.fixture
def as_portal_role(django_user_model):
    if connection.vendor != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("creating a role needs a superuser test connection")
        role = f"portal_app_{uuid.uuid4().hex[:12]}"
        # Roles are cluster-wide; the test transaction's rollback removes this one again.
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
        cursor.execute(SCRIPT.read_text().replace("portal_app", f'"{role}"'))
        cursor.execute(f'SET ROLE "{role}"')
    yield role
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


def _refused(sql: str, params: list | None = None) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
    return str(excinfo.value)


def test_the_portal_role_appends_and_reads(as_portal_role):
    event = record(actor=None, action="test.as_portal_role")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, count(*) FROM audit_event")
        user, count = cursor.fetchone()
    assert (user, count) == (as_portal_role, 1)
    assert event.sequence == 1


def test_the_portal_role_cannot_rewrite_or_remove_events(as_portal_role):
    record(actor=None, action="test.one")
    assert "permission denied" in _refused("UPDATE audit_event SET action = 'test.forged'")
    assert "permission denied" in _refused("UPDATE audit_event SET hash = repeat('0', 64)")
    assert "permission denied" in _refused("DELETE FROM audit_event")
    assert "permission denied" in _refused("TRUNCATE audit_event")
    assert "permission denied" in _refused("DELETE FROM audit_checkpoint")
    assert "permission denied" in _refused("UPDATE audit_checkpoint SET signature = ''")
    assert "permission denied" in _refused("TRUNCATE audit_checkpoint")


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_event_no_truncate ON audit_event",
        "ALTER TABLE audit_checkpoint DISABLE TRIGGER audit_checkpoint_append_only",
        "ALTER TABLE audit_event OWNER TO CURRENT_USER",
        "DROP TABLE audit_checkpoint",
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END $$",
    ],
)
def test_the_portal_role_cannot_alter_the_table_or_its_triggers(as_portal_role, sql):
    message = _refused(sql)
    assert "must be owner" in message or "permission denied" in message, message


def test_the_portal_role_cannot_switch_triggers_off_for_its_session(as_portal_role):
    assert "permission denied" in _refused("SET session_replication_role = replica")


def test_the_portal_role_cannot_make_tables_of_its_own(as_portal_role):
    assert "permission denied" in _refused("CREATE TABLE audit_event_copy (id int)")


def test_the_triggers_refuse_even_a_role_granted_more(as_portal_role):
    """Defence in depth: were someone to grant TRUNCATE or DELETE, the triggers still refuse."""
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
        cursor.execute(f'GRANT TRUNCATE, DELETE, UPDATE ON audit_event TO "{as_portal_role}"')
        cursor.execute(f'SET ROLE "{as_portal_role}"')
    assert "append-only: TRUNCATE refused" in _refused("TRUNCATE audit_event")
    record(actor=None, action="test.one")  # after the TRUNCATE: its deferred FK check would block one
    assert "append-only" in _refused("DELETE FROM audit_event")
    assert "append-only" in _refused("UPDATE audit_event SET action = 'test.forged'")


def test_deleting_a_user_still_clears_their_actor_link(as_portal_role, django_user_model):
    user = django_user_model.objects.create(username="gone@example.com", email="gone@example.com")
    event = record(actor=user, action="test.by_user")
    user.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT actor_id, actor_pk FROM audit_event WHERE id = %s", [event.pk])
        assert cursor.fetchone() == (None, event.actor_pk)
