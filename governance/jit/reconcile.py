"""After each sync: does AWS hold what the grants say it should?

A grant that is active must find its assignment in the inventory; one that the portal revoked must
not. The sync's own start is the line: only grants provisioned (or revoked) before the run began
are judged, so an assignment created while the run was reading is not mistaken for drift.

- Active, assignment gone: someone removed it outside the portal. The grant ends (reason "removed
  outside the portal"), its expiry schedule goes, the requester and the administrators are told.
- Ended, assignment back (within `RECREATED_WINDOW` of the end, and no other grant or standing
  assignment explains it): someone re-created it outside the portal. The grant is marked, once,
  and the administrators are told: the access now is standing and nobody approved it.
- Otherwise the grant is confirmed (`sync_confirmed_at`): the demo's "gone, confirmed by the next sync".

A run that could not read Identity Center judges nothing (it cannot tell absent from unread).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from governance.audit.services import record
from governance.inventory.models import AccountAssignment, SyncRun
from governance.jit import notices, people
from governance.jit.models import EndReason, Grant, GrantStatus

RECREATED_WINDOW = timedelta(days=30)


def _assignment_present():
    return Exists(
        AccountAssignment.objects.present().filter(
            permission_set_id=OuterRef("permission_set_id"),
            aws_account_id=OuterRef("account__account_id"),
            principal_id=OuterRef("principal_id"),
        )
    )


def reconcile(*, run_id: int) -> dict[str, int]:
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or any((e or {}).get("scope") == "identity_center" for e in run.errors or []):
        return {"skipped": 1}
    since = run.started_at
    now = timezone.now()
    active = Grant.objects.filter(status=GrantStatus.ACTIVE, standing=False, provisioned_at__lt=since).annotate(
        present=_assignment_present()
    )
    ended = Grant.objects.filter(
        status=GrantStatus.ENDED,
        standing=False,
        provisioned_at__isnull=False,
        revoked_at__lt=since,
        revoked_at__gte=now - RECREATED_WINDOW,
        drift="",
    ).annotate(present=_assignment_present())
    removed = [g.pk for g in active if not g.present]
    confirmed = [g.pk for g in active if g.present] + [g.pk for g in ended if not g.present]
    recreated = [g.pk for g in ended if g.present and not _explained(g)]
    with transaction.atomic():
        Grant.objects.filter(pk__in=confirmed).update(sync_confirmed_at=now)
        for grant in Grant.objects.filter(pk__in=removed).select_related("account", "permission_set", "request"):
            _removed(grant, run, now)
        for grant in Grant.objects.filter(pk__in=recreated).select_related("account", "permission_set"):
            _recreated(grant, run, now)
    return {"confirmed": len(confirmed), "removed": len(removed), "recreated": len(recreated)}


def _explained(grant: Grant) -> bool:
    """Another live grant for the same access holds it now."""
    return (
        Grant.objects.live()
        .filter(principal_id=grant.principal_id, account_id=grant.account_id, permission_set_id=grant.permission_set_id)
        .exclude(pk=grant.pk)
        .exists()
    )


def _removed(grant: Grant, run: SyncRun, now) -> None:
    from governance.jit.lifecycle import EXPIRY_SCHEDULE

    grant.status = GrantStatus.ENDED
    grant.end_reason = EndReason.REMOVED_OUT_OF_BAND
    grant.revoked_at = now
    grant.drift = f"Removed outside the portal: sync #{run.pk} found no assignment."
    grant.drift_seen_at = now
    grant.save(update_fields=["status", "end_reason", "revoked_at", "drift", "drift_seen_at"])
    record(actor=None, action="jit.grant.removed_out_of_band", obj=grant, after={"sync_run": run.pk})
    from django_q.models import Schedule

    Schedule.objects.filter(name=EXPIRY_SCHEDULE.format(grant.pk)).delete()
    notices.admins_alerted(grant, list(people.jit_admins()), grant.drift, key="removed")
    notices.requester_told(grant.request, "removed outside the portal")


def _recreated(grant: Grant, run: SyncRun, now) -> None:
    grant.drift = (
        f"Re-created outside the portal after the grant ended: sync #{run.pk} found the assignment again, unapproved."
    )
    grant.drift_seen_at = now
    grant.save(update_fields=["drift", "drift_seen_at"])
    record(actor=None, action="jit.grant.recreated_out_of_band", obj=grant, after={"sync_run": run.pk})
    notices.admins_alerted(grant, list(people.jit_admins()), grant.drift, key="recreated")
