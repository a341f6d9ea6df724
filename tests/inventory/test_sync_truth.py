"""Syncs tell the truth: the exit status, a dead worker noticed from its heartbeat, one running run."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from governance.inventory.models import SyncRun, SyncStatus
from governance.inventory.models.sync import DEAD_ERROR
from governance.inventory.sync import SyncAlreadyRunning, heartbeat, start_run
from tests.inventory.test_sync import build_small_org

pytestmark = pytest.mark.django_db


def _exit_code(capsys, *args) -> tuple[int, dict]:
    with pytest.raises(SystemExit) as exited:
        call_command("sync_aws", "--no-after-sync", *args)
    return exited.value.code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_sync_aws_exits_1_when_the_run_failed(emulator, capsys):
    # An emulator without an organization: the organization read fails, so the whole run does.
    code, line = _exit_code(capsys)
    assert code == 1
    assert line["errors"] >= 1
    assert SyncRun.objects.get().status == SyncStatus.FAILED


def test_sync_aws_exits_2_when_the_run_was_partial(emulator, capsys):
    build_small_org(n_accounts=1)
    code, line = _exit_code(capsys, "--account", "999999999999")
    assert code == 2
    assert line["errors"] == 1
    assert SyncRun.objects.get().status == SyncStatus.PARTIAL


def test_sync_aws_exits_0_when_the_run_succeeded(emulator, capsys):
    build_small_org(n_accounts=1)
    call_command("sync_aws", "--no-after-sync")
    assert SyncRun.objects.get().status == SyncStatus.SUCCEEDED


def _running(*, started_ago: timedelta, beat_ago: timedelta | None) -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        started_at=now - started_ago, heartbeat_at=None if beat_ago is None else now - beat_ago
    )


def test_a_run_whose_worker_stopped_beating_is_dead_within_minutes(db):
    dead = _running(started_ago=timedelta(minutes=10), beat_ago=timedelta(minutes=4))

    new = start_run()

    dead.refresh_from_db()
    assert dead.status == SyncStatus.FAILED
    assert dead.errors == [{"scope": "run", "error": DEAD_ERROR}]
    assert new.status == SyncStatus.RUNNING


def test_a_long_run_that_still_beats_keeps_running(db):
    alive = _running(started_ago=timedelta(hours=3), beat_ago=timedelta(seconds=20))

    with pytest.raises(SyncAlreadyRunning):
        start_run()

    alive.refresh_from_db()
    assert alive.status == SyncStatus.RUNNING


def test_a_portal_request_is_not_blocked_by_a_dead_run(persona_client):
    from django.urls import reverse

    _running(started_ago=timedelta(minutes=30), beat_ago=None)
    response = persona_client("campaign_admin").post(reverse("inventory:sync_now"))
    assert "?since=" in response["Location"], "queued, not 'already running'"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_stamps_the_run():
    run = start_run()
    first = run.heartbeat_at
    with heartbeat(run.pk, every=0.05):
        time.sleep(0.4)
    run.refresh_from_db()
    assert run.heartbeat_at > first


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-running-run guarantee is tested on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_start_runs_at_once_create_one_running_run():
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def start() -> None:
        try:
            barrier.wait(5)
            start_run()
            outcomes.append("started")
        except SyncAlreadyRunning:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert sorted(outcomes) == ["refused", "refused", "refused", "started"]
    assert SyncRun.objects.filter(status=SyncStatus.RUNNING).count() == 1
