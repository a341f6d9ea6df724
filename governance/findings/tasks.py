"""Background tasks: take ids, call a service. Schedules are collected by `setup_schedules`."""

from __future__ import annotations

from governance.findings import services
from governance.findings.models import EvaluationTrigger
from governance.inventory import after_sync
from governance.inventory.models import SyncRun

SCHEDULES = [
    # Ages move on without any sync: keys pass 90 days, roles fall out of use.
    {
        "name": "evaluate_all",
        "func": "governance.findings.tasks.evaluate_all",
        "schedule_type": "cron",
        "cron": "20 3 * * *",
    },
    {
        "name": "expire_suppressions",
        "func": "governance.findings.tasks.expire_suppressions",
        "schedule_type": "minutes",
        "minutes": 15,
    },
]


def evaluate_after_sync(*, run_id: int) -> dict:
    """The after-sync step: re-run the rules for what the sync changed (idempotent)."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or not after_sync.should_run(run):
        return {"skipped": "no such finished sync"}
    changes = after_sync.changes(run)
    if not changes.anything:
        return {"skipped": "the sync changed nothing"}
    evaluation = services.evaluate(
        trigger=EvaluationTrigger.AFTER_SYNC,
        account_ids=changes.account_ids,
        organization=changes.organization,
        sync_run=run,
    )
    return services.Summary(evaluation).as_dict()


def evaluate_all() -> dict:
    return services.Summary(services.evaluate(trigger=EvaluationTrigger.SCHEDULE)).as_dict()


def evaluate_rules(*, rule_ids: list[str]) -> dict:
    """Re-run some rules everywhere (after their settings changed)."""
    run = services.evaluate(trigger=EvaluationTrigger.SETTINGS, rule_ids=rule_ids)
    return services.Summary(run).as_dict()


def expire_suppressions() -> dict:
    return {"expired": services.expire_suppressions()}
