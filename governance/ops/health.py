"""What `/health/` checks: the database, the task queue and the age of the last sync.

Each check says `ok`, `warn` or `fail` with a reason. Only the database decides the HTTP status
(503 when it cannot be read): a load balancer should take a web server out only for what the web
server cannot serve without. A queue nobody drains or a stale inventory are `warn`: restarting web
servers fixes neither, so they go to monitoring (the body's `status` is then `degraded`, and the
same figures are in `/metrics`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Min, Q
from django.utils import timezone

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    checks: list[Check]

    @property
    def status(self) -> str:
        states = {c.status for c in self.checks}
        if FAIL in states:
            return "down"
        return "degraded" if WARN in states else "ok"

    @property
    def serving(self) -> bool:
        return self.status != "down"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {c.name: {"status": c.status, "detail": c.detail, **c.figures} for c in self.checks},
        }


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Check("database", FAIL, f"The database cannot be read: {type(exc).__name__}.")
    took = round((time.perf_counter() - started) * 1000, 1)
    return Check("database", OK, f"{connection.vendor} answered in {took} ms.", {"milliseconds": took})


def check_task_queue() -> Check:
    from django_q.models import OrmQ

    now = timezone.now()
    try:
        queue = OrmQ.objects.aggregate(
            waiting=Count("id", filter=Q(lock__lte=now)),
            running=Count("id", filter=Q(lock__gt=now)),
            oldest=Min("lock", filter=Q(lock__lte=now)),
        )
    except DatabaseError as exc:
        return Check("task_queue", FAIL, f"The task queue cannot be read: {type(exc).__name__}.")
    waited = (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0.0
    figures = {"waiting": queue["waiting"], "running": queue["running"], "oldest_waiting_seconds": round(waited)}
    limit = settings.HEALTH_QUEUE_MAX_WAIT_MINUTES * 60
    if waited > limit:
        return Check(
            "task_queue",
            WARN,
            f"A task has waited {round(waited / 60)} minutes: no qcluster is taking tasks (limit "
            f"{settings.HEALTH_QUEUE_MAX_WAIT_MINUTES}).",
            figures,
        )
    return Check("task_queue", OK, f"{queue['waiting']} waiting, {queue['running']} running.", figures)


def check_last_sync() -> Check:
    from governance.inventory.models import SyncRun, SyncStatus

    try:
        last = (
            SyncRun.objects.filter(status__in=(SyncStatus.SUCCEEDED, SyncStatus.PARTIAL))
            .order_by("-finished_at")
            .values("finished_at", "status")
            .first()
        )
    except DatabaseError as exc:
        return Check("last_sync", FAIL, f"The sync runs cannot be read: {type(exc).__name__}.")
    if last is None or last["finished_at"] is None:
        return Check("last_sync", WARN, "No sync has finished yet: run `manage.py sync_aws`.", {"age_seconds": None})
    age = timezone.now() - last["finished_at"]
    figures = {"age_seconds": round(age.total_seconds()), "run_status": last["status"]}
    limit = timedelta(hours=settings.HEALTH_SYNC_MAX_AGE_HOURS)
    if age > limit:
        return Check(
            "last_sync",
            WARN,
            f"The last sync finished {round(age.total_seconds() / 3600, 1)} hours ago (limit "
            f"{settings.HEALTH_SYNC_MAX_AGE_HOURS}): the inventory is stale.",
            figures,
        )
    return Check("last_sync", OK, f"The last sync finished {round(age.total_seconds() / 60)} minutes ago.", figures)


def health() -> Health:
    database = check_database()
    if database.status == FAIL:
        # The other checks read the same database; one clear reason is better than three.
        return Health([database])
    return Health([database, check_task_queue(), check_last_sync()])
