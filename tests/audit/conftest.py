from __future__ import annotations

import pytest
from django.db import connection


def tamper(sql: str, params: list | None = None) -> None:
    """Run raw SQL against the audit table as an attacker with database access would.

    On PostgreSQL triggers (the append-only one among them) are off for the statement, because the point of
    these tests is what verify finds after the guards have been bypassed.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params or [])
        if connection.vendor == "postgresql":
            cursor.execute("RESET session_replication_role")


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create(username="alice@example.com", email="alice@example.com")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create(username="bob@example.com", email="bob@example.com")
