"""Steps that follow a sync: registered by feature apps, run in order, each on its own, told what changed."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django_q.models import OrmQ

from governance.aws import session
from governance.inventory import after_sync, tasks
from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization
from tests.inventory.test_sync import build_small_org

pytestmark = pytest.mark.django_db

calls_seen: list[tuple[str, int]] = []


def first_step(*, run_id: int) -> None:
    calls_seen.append(("first", run_id))


def failing_step(*, run_id: int) -> None:
    calls_seen.append(("failing", run_id))
    raise RuntimeError("boom")


def last_step(*, run_id: int) -> None:
    calls_seen.append(("last", run_id))


@pytest.fixture
def steps(monkeypatch):
    """Replace the registered steps with this module's (the registry is process-wide)."""
    monkeypatch.setattr(after_sync, "_STEPS", {})
    calls_seen.clear()
    yield after_sync.register
    calls_seen.clear()


def test_it_runs_the_steps_in_registration_order(steps, emulator):
    build_small_org(1)
    run = sync_organization()
    steps("a", f"{__name__}.first_step")
    steps("b", f"{__name__}.last_step")

    assert after_sync.run_steps(run.pk) == ["a", "b"]
    assert calls_seen == [("first", run.pk), ("last", run.pk)]


def test_a_failing_step_does_not_stop_the_others_and_the_task_fails_naming_it(steps, emulator):
    build_small_org(1)
    run = sync_organization()
    steps("a", f"{__name__}.failing_step")
    steps("b", f"{__name__}.last_step")

    with pytest.raises(after_sync.AfterSyncFailed, match="these steps failed: a"):
        tasks.after_sync(run_id=run.pk)
    assert [name for name, _ in calls_seen] == ["failing", "last"]


def test_registering_a_name_again_replaces_its_function(steps):
    steps("a", f"{__name__}.first_step")
    steps("a", f"{__name__}.last_step")
    assert after_sync.steps() == {"a": f"{__name__}.last_step"}


def test_the_scheduled_sync_queues_the_steps_once_it_ends(steps, emulator, django_capture_on_commit_callbacks):
    build_small_org(1)
    steps("a", f"{__name__}.first_step")
    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.sync_org()
    queued = [task for task in OrmQ.objects.all() if task.func() == "governance.inventory.tasks.after_sync"]
    assert len(queued) == 1
    assert queued[0].task["kwargs"] == {"run_id": summary["run"]}
    assert calls_seen == []  # queued, not run inline


def test_sync_aws_runs_the_steps_inline_unless_told_not_to(steps, emulator, capsys):
    build_small_org(1)
    steps("a", f"{__name__}.first_step")

    call_command("sync_aws")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert calls_seen == [("first", line["run"])]

    calls_seen.clear()
    call_command("sync_aws", "--no-after-sync")
    assert calls_seen == []


def test_changes_names_the_accounts_a_run_changed(emulator):
    small = build_small_org(2)
    first = sync_organization()
    assert first.status == SyncStatus.SUCCEEDED, first.errors
    changed = after_sync.changes(first)
    assert set(small.accounts.values()) <= changed.account_ids
    assert changed.organization

    second = sync_organization()
    assert after_sync.changes(second) == after_sync.RunChanges(account_ids=frozenset(), organization=False)
    assert not after_sync.changes(second).anything

    small.iam("member-1").create_user(UserName="carol")
    third = sync_organization()
    changed = after_sync.changes(third)
    assert changed.account_ids == {small.accounts["member-1"]}
    assert not changed.organization


def test_a_failed_run_runs_no_steps(steps, emulator, capsys):
    steps("a", f"{__name__}.first_step")
    # No organization in the emulator: the organization read fails and the run is failed.
    session.reset()
    with pytest.raises(SystemExit) as exited:
        call_command("sync_aws")
    assert exited.value.code == 1  # a failed run exits 1
    assert calls_seen == []
    assert tasks.after_sync(run_id=999_999) == {"skipped": "no such finished run"}
