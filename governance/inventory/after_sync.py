"""Work that follows a sync: feature apps register steps; inventory runs them and never imports them.

    # governance/findings/apps.py
    def ready(self):
        from governance.inventory import after_sync
        after_sync.register("findings.evaluate", "governance.findings.tasks.evaluate_after_sync")

A step is a dotted path to a function taking `run_id` (keyword). When a run ends (succeeded or
partial; a failed run changed nothing worth judging), the scheduled and portal syncs queue one task,
`governance.inventory.tasks.after_sync`, and `manage.py sync_aws` runs the steps inline, so a
command-line sync leaves findings and triggered reviews as current as a scheduled one.

Steps run in registration order (the order of INSTALLED_APPS), each on its own: a step that raises
is logged and the others still run, then the task fails naming it, so the failure stays visible in
the task admin. Delivery is at least once, so every step must be idempotent. `changes(run)` says
which accounts the run changed and whether anything organization-wide did (OUs, SCPs, Identity
Center), so a step can limit itself to what changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import Sum
from django.utils.module_loading import import_string

from governance.inventory.models import SyncAccountRun, SyncRun, SyncStatus

logger = logging.getLogger(__name__)

_STEPS: dict[str, str] = {}
RUN_STATUSES = (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL)


class AfterSyncFailed(RuntimeError):
    """One or more steps raised; the message names them."""


def register(name: str, func_path: str) -> None:
    """Add a step (idempotent: registering the same name again replaces its function)."""
    _STEPS[name] = func_path


def steps() -> dict[str, str]:
    return dict(_STEPS)


@dataclass(frozen=True)
class RunChanges:
    """What one sync run changed: member accounts by AWS id, and whether anything above them did."""

    account_ids: frozenset[str]
    organization: bool

    @property
    def anything(self) -> bool:
        return bool(self.account_ids) or self.organization


def changes(run: SyncRun) -> RunChanges:
    """The accounts whose inventory this run changed, and whether organization-wide rows changed.

    An account counts when its own rows changed (`SyncAccountRun.changes`); everything else the
    run changed (organization, OUs, SCPs, AWS managed policies, Identity Center) is organization-wide.
    """
    changed = SyncAccountRun.objects.filter(run=run, changes__gt=0)
    account_ids = frozenset(changed.values_list("aws_account_id", flat=True))
    in_accounts = changed.aggregate(total=Sum("changes"))["total"] or 0
    return RunChanges(account_ids=account_ids, organization=run.changes > in_accounts)


def should_run(run: SyncRun) -> bool:
    return run.status in RUN_STATUSES


def run_steps(run_id: int) -> list[str]:
    """Run every registered step for the run; returns the names that ran. Raises if any failed."""
    failed: list[str] = []
    ran: list[str] = []
    for name, func_path in steps().items():
        try:
            import_string(func_path)(run_id=run_id)
        except Exception:
            logger.exception("after sync: step %s failed for run %s", name, run_id)
            failed.append(name)
        else:
            ran.append(name)
    if failed:
        raise AfterSyncFailed(f"After sync {run_id}: these steps failed: {', '.join(failed)}.")
    return ran
