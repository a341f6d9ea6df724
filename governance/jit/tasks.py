"""Background tasks: take ids, call the life cycle. Schedules are collected by `setup_schedules`."""

from __future__ import annotations

from governance.jit import lifecycle

SCHEDULES = [
    # Starts scheduled grants and revokes overdue ones; each grant also has a one-off schedule at its end.
    {"name": "tick", "func": "governance.jit.tasks.tick", "schedule_type": "minutes", "minutes": 1},
]


def provision_grant(*, grant_id: int) -> str:
    return lifecycle.provision(grant_id)


def revoke_grant(*, grant_id: int) -> str:
    return lifecycle.revoke(grant_id)


def tick() -> dict:
    return lifecycle.tick()


def reconcile_after_sync(*, run_id: int) -> dict:
    """The after-sync step: compare the grants with what the sync found in Identity Center."""
    from governance.jit.reconcile import reconcile

    return reconcile(run_id=run_id)


def break_glass_reviews_after_sync(*, run_id: int) -> dict:
    """The after-sync step: each active break-glass grant the sync saw gets its triggered review."""
    from governance.jit.review_context import open_break_glass_reviews

    return open_break_glass_reviews(run_id=run_id)
