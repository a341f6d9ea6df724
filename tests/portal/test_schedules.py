from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db.models import TextChoices
from django.utils import timezone
from django_q.models import Schedule

from governance.audit import tasks as audit_tasks
from portal.schedules import MANAGED_PREFIX, declared_schedules

pytestmark = pytest.mark.django_db

VERIFY = "code:audit.verify_audit_log"


def _run(capsys) -> str:
    call_command("setup_schedules")
    return capsys.readouterr().out


def _rows() -> list[tuple]:
    return list(
        Schedule.objects.order_by("name").values_list(
            "id", "name", "func", "schedule_type", "cron", "minutes", "kwargs", "repeats", "next_run"
        )
    )


def test_it_collects_schedules_from_every_apps_tasks_module():
    names = [declared.name for declared in declared_schedules()]
    assert VERIFY in names
    assert all(name.startswith(MANAGED_PREFIX) for name in names)


def test_it_creates_the_declared_schedules(capsys):
    out = _run(capsys)

    row = Schedule.objects.get(name=VERIFY)
    assert (row.func, row.schedule_type, row.cron, row.repeats) == (
        "governance.audit.tasks.verify_audit_log_task",
        Schedule.CRON,
        "40 2 * * *",
        -1,
    )
    assert row.next_run > timezone.now()
    assert (row.next_run.hour, row.next_run.minute) == (2, 40)
    assert f"created {VERIFY}" in out


def test_a_second_run_changes_nothing_and_says_so(capsys):
    _run(capsys)
    before = _rows()

    out = _run(capsys)

    assert _rows() == before
    assert out.strip().startswith("No changes:")
    assert "created" not in out and "updated" not in out


def test_a_changed_declaration_updates_the_row_in_place(capsys, monkeypatch):
    _run(capsys)
    original = Schedule.objects.get(name=VERIFY)
    monkeypatch.setattr(
        audit_tasks,
        "SCHEDULES",
        [
            {
                "name": "verify_audit_log",
                "func": "governance.audit.tasks.verify_audit_log_task",
                "schedule_type": "minutes",
                "minutes": 30,
                "kwargs": {"unused": 1},
            }
        ],
    )

    out = _run(capsys)

    row = Schedule.objects.get(name=VERIFY)
    assert row.pk == original.pk
    assert (row.schedule_type, row.minutes, row.cron, row.kwargs) == (Schedule.MINUTES, 30, None, "{'unused': 1}")
    assert row.next_run <= timezone.now()
    assert f"updated {VERIFY} (kwargs, schedule_type, minutes, cron)" in out
    assert "No changes" in _run(capsys)


def test_it_removes_schedules_it_created_that_are_no_longer_declared(capsys):
    Schedule.objects.create(name="code:audit.retired_task", func="governance.audit.tasks.verify_audit_log_task")
    Schedule.objects.create(name=VERIFY, func="governance.audit.tasks.verify_audit_log_task")
    Schedule.objects.create(name=VERIFY, func="governance.audit.tasks.verify_audit_log_task")

    out = _run(capsys)

    assert not Schedule.objects.filter(name="code:audit.retired_task").exists()
    assert Schedule.objects.filter(name=VERIFY).count() == 1
    assert "removed code:audit.retired_task" in out
    assert out.count(f"removed {VERIFY}") == 1


def test_it_accepts_django_q_codes_qualified_names_and_choices_in_kwargs(capsys, monkeypatch):
    class Mode(TextChoices):
        FULL = "full", "Full"

    monkeypatch.setattr(
        audit_tasks,
        "SCHEDULES",
        [
            {
                "name": "audit.verify_audit_log",
                "func": "governance.audit.tasks.verify_audit_log_task",
                "schedule_type": "H",
                "kwargs": {"mode": Mode.FULL, "limits": (1, 2)},
            }
        ],
    )

    _run(capsys)

    row = Schedule.objects.get(name=VERIFY)
    assert (row.schedule_type, row.kwargs) == (Schedule.HOURLY, "{'limits': (1, 2), 'mode': 'full'}")
    assert "No changes" in _run(capsys)


def test_it_leaves_an_operators_own_schedules_alone(capsys):
    own = [
        Schedule.objects.create(name="nightly report", func="reports.tasks.nightly", schedule_type=Schedule.DAILY),
        Schedule.objects.create(name="verify_audit_log", func="governance.audit.tasks.verify_audit_log_task"),
        Schedule.objects.create(name=None, func="reports.tasks.unnamed"),
    ]
    before = [(row.pk, row.name, row.func, row.schedule_type, row.next_run) for row in own]

    _run(capsys)
    _run(capsys)

    after = [
        (row.pk, row.name, row.func, row.schedule_type, row.next_run)
        for row in Schedule.objects.filter(pk__in=[row.pk for row in own]).order_by("pk")
    ]
    assert after == before


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "func": "governance.audit.tasks.no_such_task", "schedule_type": "daily"}, "cannot be imported"),
        ({"name": "x", "func": "governance.audit.tasks.verify_audit_log_task", "schedule_type": "often"}, "one of"),
        (
            {"name": "x", "func": "governance.audit.tasks.verify_audit_log_task", "schedule_type": "cron", "cron": "x"},
            "not a valid cron",
        ),
        ({"name": "x", "func": "governance.audit.tasks.verify_audit_log_task", "schedule_type": "minutes"}, "minutes"),
        (
            {"name": "x", "func": "governance.audit.tasks.verify_audit_log_task", "schedule_type": "daily", "at": 1},
            "unknown keys at",
        ),
        (
            {
                "name": "x",
                "func": "governance.audit.tasks.verify_audit_log_task",
                "schedule_type": "daily",
                "kwargs": {"when": object()},
            },
            "only literals",
        ),
        ({"func": "governance.audit.tasks.verify_audit_log_task", "schedule_type": "daily"}, "no name"),
    ],
)
def test_a_bad_declaration_stops_the_command_and_writes_nothing(capsys, monkeypatch, entry, message):
    _run(capsys)
    before = _rows()
    monkeypatch.setattr(audit_tasks, "SCHEDULES", [*audit_tasks.SCHEDULES, entry])

    with pytest.raises(CommandError, match=message):
        call_command("setup_schedules")

    assert _rows() == before


def test_a_name_declared_twice_is_refused(monkeypatch):
    monkeypatch.setattr(audit_tasks, "SCHEDULES", [audit_tasks.SCHEDULES[0], audit_tasks.SCHEDULES[0]])
    with pytest.raises(CommandError, match="twice"):
        call_command("setup_schedules")
    assert not Schedule.objects.exists()
