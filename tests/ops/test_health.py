"""/health/: the database decides the status code; the queue and the sync's age are warnings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.models import OrmQ

from governance.inventory.models import SyncRun, SyncStatus

pytestmark = pytest.mark.django_db


def _finished_sync(hours_ago: float, status: str = SyncStatus.SUCCEEDED) -> SyncRun:
    finished = timezone.now() - timedelta(hours=hours_ago)
    return SyncRun.objects.create(
        status=status, started_at=finished - timedelta(minutes=2), finished_at=finished, seconds=120.0
    )


def test_it_is_ok_with_a_recent_sync_and_an_empty_queue(client, django_assert_max_num_queries):
    _finished_sync(hours_ago=1)
    with django_assert_max_num_queries(3):
        response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["task_queue"] | {"detail": ""} == {
        "status": "ok",
        "detail": "",
        "waiting": 0,
        "running": 0,
        "oldest_waiting_seconds": 0,
    }
    assert body["checks"]["last_sync"]["status"] == "ok"
    assert 3500 < body["checks"]["last_sync"]["age_seconds"] < 3700
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_warns_but_serves_before_the_first_sync(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["last_sync"] == {
        "status": "warn",
        "detail": "No sync has finished yet: run `manage.py sync_aws`.",
        "age_seconds": None,
    }


def test_it_warns_when_the_last_sync_is_older_than_the_limit(client, settings):
    settings.HEALTH_SYNC_MAX_AGE_HOURS = 2
    _finished_sync(hours_ago=3, status=SyncStatus.PARTIAL)
    _finished_sync(hours_ago=0.5, status=SyncStatus.FAILED)  # a failed run does not make it fresh
    check = client.get("/health/").json()["checks"]["last_sync"]
    assert check["status"] == "warn"
    assert check["status"] == "warn" and "3.0 hours ago (limit 2)" in check["detail"]


def test_it_warns_when_a_task_waits_longer_than_the_limit(client, settings):
    settings.HEALTH_QUEUE_MAX_WAIT_MINUTES = 10
    _finished_sync(hours_ago=1)
    now = timezone.now()
    OrmQ.objects.create(key="governance", payload="x", lock=now - timedelta(minutes=25))
    OrmQ.objects.create(key="governance", payload="y", lock=now + timedelta(minutes=30))  # taken by a worker
    response = client.get("/health/")
    assert response.status_code == 200
    check = response.json()["checks"]["task_queue"]
    assert (check["status"], check["waiting"], check["running"]) == ("warn", 1, 1)
    assert "waited 25 minutes" in check["detail"]


def test_it_answers_503_naming_the_database_when_it_cannot_be_read(client, monkeypatch):
    from governance.ops import health

    class Broken:
        def __enter__(self):
            raise OperationalError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: Broken())
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "checks": {"database": {"status": "fail", "detail": "The database cannot be read: OperationalError."}},
    }


def test_it_refuses_anything_but_get(client):
    assert client.post("/health/").status_code == 405
