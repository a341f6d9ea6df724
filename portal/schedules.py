"""Schedules declared in code, written to django-q2 by `manage.py setup_schedules`.

Any installed app may have a `tasks.py` with a module-level `SCHEDULES` list of dicts:

    SCHEDULES = [
        {"name": "sync_org", "func": "governance.inventory.tasks.sync_org", "schedule_type": "hourly"},
        {"name": "verify_audit_log", "func": "...", "schedule_type": "cron", "cron": "40 2 * * *"},
        {"name": "expire_grants", "func": "...", "schedule_type": "minutes", "minutes": 5, "kwargs": {"limit": 500}},
    ]

Each becomes one django-q `Schedule` row named `code:<app label>.<name>`. That prefix is how
`setup_schedules` knows a row is ours: it inserts or updates those by name and deletes the ones
no longer declared, and never touches a schedule an operator created in the admin.
"""

from __future__ import annotations

import ast
import enum
import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from croniter import croniter
from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string, module_has_submodule
from django_q.models import Schedule

MANAGED_PREFIX = "code:"

# Readable names, or django-q's own codes ("H", "C", ...), which are accepted as well.
SCHEDULE_TYPES = {
    "minutes": Schedule.MINUTES,
    "hourly": Schedule.HOURLY,
    "daily": Schedule.DAILY,
    "weekly": Schedule.WEEKLY,
    "monthly": Schedule.MONTHLY,
    "quarterly": Schedule.QUARTERLY,
    "yearly": Schedule.YEARLY,
    "cron": Schedule.CRON,
}
_CODES = {code: code for code in SCHEDULE_TYPES.values()}
_KEYS = {"name", "func", "schedule_type", "cron", "minutes", "kwargs"}
_NAME_LIMIT = Schedule._meta.get_field("name").max_length
# The columns a declaration decides; everything else on the row (next_run, last task) is django-q's.
_MANAGED_FIELDS = ("func", "hook", "args", "kwargs", "schedule_type", "minutes", "cron", "repeats", "cluster")


class ScheduleDeclarationError(ValueError):
    """A SCHEDULES entry that cannot become a schedule; names the app and entry."""


@dataclass(frozen=True)
class DeclaredSchedule:
    name: str  # the Schedule row's name, MANAGED_PREFIX included
    func: str
    schedule_type: str
    minutes: int | None = None
    cron: str | None = None
    kwargs: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "func": self.func,
            "hook": None,
            "args": None,
            "kwargs": self.kwargs,
            "schedule_type": self.schedule_type,
            "minutes": self.minutes,
            "cron": self.cron,
            "repeats": -1,
            "cluster": None,
        }

    def first_run(self, now: datetime) -> datetime:
        if self.schedule_type == Schedule.CRON:
            return croniter(self.cron, now).get_next(datetime)
        return now


def _plain(value: Any) -> Any:
    """Choices members (`SyncTrigger.SCHEDULE`) as their plain values, so their repr is a literal."""
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, str):
        return str(value)
    return value


def _parse(app_label: str, entry: Any) -> DeclaredSchedule:
    where = f"{app_label}.tasks.SCHEDULES"
    if not isinstance(entry, dict):
        raise ScheduleDeclarationError(f"{where}: each entry must be a dict; got {entry!r}.")
    name = entry.get("name")
    if not name or not isinstance(name, str):
        raise ScheduleDeclarationError(f"{where}: an entry has no name.")
    where = f"{where} {name!r}"
    unknown = set(entry) - _KEYS
    if unknown:
        raise ScheduleDeclarationError(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
    qualified = name if name.startswith(f"{app_label}.") else f"{app_label}.{name}"
    full_name = f"{MANAGED_PREFIX}{qualified}"
    if len(full_name) > _NAME_LIMIT:
        raise ScheduleDeclarationError(f"{where}: the name is too long ({len(full_name)} > {_NAME_LIMIT}).")

    func = entry.get("func")
    try:
        target = import_string(func)
    except (ImportError, TypeError, ValueError) as exc:
        raise ScheduleDeclarationError(f"{where}: func {func!r} cannot be imported ({exc}).") from None
    if not callable(target):
        raise ScheduleDeclarationError(f"{where}: func {func!r} is not callable.")

    kind = entry.get("schedule_type")
    schedule_type = _CODES.get(kind) or SCHEDULE_TYPES.get(str(kind).lower())
    if schedule_type is None:
        raise ScheduleDeclarationError(f"{where}: schedule_type must be one of {', '.join(SCHEDULE_TYPES)}.")

    cron = entry.get("cron")
    if schedule_type == Schedule.CRON:
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise ScheduleDeclarationError(f"{where}: cron {cron!r} is not a valid cron expression.")
    elif cron is not None:
        raise ScheduleDeclarationError(f"{where}: cron is only for schedule_type 'cron'.")

    minutes = entry.get("minutes")
    if schedule_type == Schedule.MINUTES:
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 32767:
            raise ScheduleDeclarationError(f"{where}: minutes must be a whole number from 1 to 32767.")
    elif minutes is not None:
        raise ScheduleDeclarationError(f"{where}: minutes is only for schedule_type 'minutes'.")

    kwargs = entry.get("kwargs") or None
    if kwargs is not None:
        if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
            raise ScheduleDeclarationError(f"{where}: kwargs must be a dict with string keys.")
        # django-q reads kwargs back with ast.literal_eval; only literals survive that trip.
        kwargs = _plain(kwargs)
        text = repr(dict(sorted(kwargs.items())))
        try:
            if ast.literal_eval(text) != kwargs:
                raise ValueError
        except (ValueError, SyntaxError):
            raise ScheduleDeclarationError(f"{where}: kwargs must hold only literals (str, int, ...).") from None
        kwargs = text

    return DeclaredSchedule(
        name=full_name, func=func, schedule_type=schedule_type, minutes=minutes, cron=cron, kwargs=kwargs
    )


def declared_schedules() -> list[DeclaredSchedule]:
    """Every installed app's `tasks.SCHEDULES`, checked; raises ScheduleDeclarationError on a bad one."""
    found: dict[str, DeclaredSchedule] = {}
    for app_config in apps.get_app_configs():
        if not module_has_submodule(app_config.module, "tasks"):
            continue
        module = importlib.import_module(f"{app_config.name}.tasks")
        for entry in getattr(module, "SCHEDULES", None) or []:
            declared = _parse(app_config.label, entry)
            if declared.name in found:
                raise ScheduleDeclarationError(f"{app_config.label}.tasks.SCHEDULES declares {declared.name} twice.")
            found[declared.name] = declared
    return sorted(found.values(), key=lambda declared: declared.name)


@dataclass
class SyncResult:
    created: list[str]
    updated: list[tuple[str, list[str]]]
    removed: list[str]
    unchanged: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def sync_schedules(declared: list[DeclaredSchedule] | None = None) -> SyncResult:
    """Insert or update our schedules by name and delete the ones no longer declared.

    Idempotent: a second run with the same declarations writes nothing. Only rows named with
    MANAGED_PREFIX are ours; an operator's own schedules are left alone. A changed timing resets
    `next_run` so the new timing takes effect now rather than after the old interval.
    """
    declared = declared_schedules() if declared is None else declared
    wanted = {item.name: item for item in declared}
    result = SyncResult(created=[], updated=[], removed=[], unchanged=[])
    now = timezone.now()
    with transaction.atomic():
        existing: dict[str, Schedule] = {}
        for row in Schedule.objects.select_for_update().filter(name__startswith=MANAGED_PREFIX).order_by("pk"):
            if row.name in wanted and row.name not in existing:
                existing[row.name] = row
            else:
                row.delete()  # no longer declared, or a duplicate of one that is
                result.removed.append(row.name)
        for name, item in wanted.items():
            row = existing.get(name)
            if row is None:
                Schedule.objects.create(name=name, next_run=item.first_run(now), **item.fields())
                result.created.append(name)
                continue
            changes = [field for field, value in item.fields().items() if getattr(row, field) != value]
            if not changes:
                result.unchanged.append(name)
                continue
            for field in changes:
                setattr(row, field, item.fields()[field])
            update_fields = list(changes)
            if {"schedule_type", "minutes", "cron"} & set(changes):
                row.next_run = item.first_run(now)
                update_fields.append("next_run")
            row.save(update_fields=update_fields)
            result.updated.append((name, changes))
    return result
