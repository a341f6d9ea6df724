"""Delivery tasks: queued on commit by notify(); a schedule picks up retries and stragglers."""

from __future__ import annotations

from governance.notify import services

SCHEDULES = [
    {
        "name": "deliver_due",
        "func": "governance.notify.tasks.deliver_due",
        "schedule_type": "minutes",
        "minutes": 1,
    },
]


def deliver_notifications(*, ids: list[int]) -> dict[str, int]:
    return services.deliver(ids=ids)


def deliver_due(*, limit: int = 500) -> dict[str, int]:
    return services.deliver(limit=limit)
