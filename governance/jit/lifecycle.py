"""What a grant does in AWS: create the assignment at its start, delete it at its end.

Both run as tasks that take a grant id and may be delivered more than once, so each step first
asks where the grant stands (in the database and in AWS) and does only what is missing:

- provisioning: an assignment AWS already holds before the grant started is someone's standing
  access: the grant is marked `standing` and left in place at its end. Otherwise the grant is
  marked provisioning, CreateAccountAssignment runs through the writer gate (the grantor's own AWS
  permissions are evaluated; CloudTrail names them), and the task waits for AWS's creation status.
- revoking: DeleteAccountAssignment through the gate (unless AWS no longer holds it), waiting for
  the deletion status.

A task first claims one of `MAX_OUTSTANDING_OPERATIONS` `AssignmentSlot` rows with one conditional
UPDATE, so no more than ten operations are ever in progress in AWS; a grant that holds a fresh slot
is being worked on by another task. The slot records the operation AWS accepted and is held until AWS
reports it SUCCEEDED or FAILED, not merely until the task stops waiting: a wait that passes
`STATUS_WAIT_SECONDS` leaves the slot parked and the grant retrying, and the retry follows the same
request id first; the minute tick frees a parked slot (or one whose task died) only once AWS reports
its operation final. (A task that dies between AWS accepting an operation and the slot recording its
request id, a few milliseconds, leaves a slot that comes free when its lease runs out.)

Failures back off (`next_attempt_at`) and the minute tick retries them; provisioning gives up after
`MAX_PROVISION_ATTEMPTS` (the request shows why and the administrators are told; an operation still
in progress is no failure); a revocation never gives up.

Expiry: each active grant has a one-off django-q schedule at its `ends_at` (precise to the
scheduler's pass, about every 30 s) and the minute tick revokes whatever is overdue, so a cluster that was
down at expiry revokes at its first pass after it is back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit.services import record
from governance.authz.aws_writes import WriteRefusedError, perform_write
from governance.authz.selectors import governance_account_id
from governance.aws import identity_center_writes as ic
from governance.aws.errors import AwsError
from governance.jit import notices, people, review_context
from governance.jit.models import (
    MAX_OUTSTANDING_OPERATIONS,
    AccessRequest,
    AssignmentSlot,
    EndReason,
    Grant,
    GrantStatus,
    RequestStatus,
    SlotOperation,
)

logger = logging.getLogger(__name__)

SLOT_LEASE = timedelta(minutes=5)
SLOT_WAIT_SECONDS = 20.0
STATUS_WAIT_SECONDS = 60.0
MAX_PROVISION_ATTEMPTS = 5
ALERT_REVOKE_AFTER_ATTEMPTS = 3
EXPIRY_SCHEDULE = "jit:grant:{}:expire"


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 300))


def _queue(func: str, grant_id: int) -> None:
    from django_q.tasks import async_task

    async_task(f"governance.jit.tasks.{func}", grant_id=grant_id, task_name=f"jit.{func}.{grant_id}")


def queue_start(grant: Grant, *, now: datetime) -> None:
    """After the commit, provision a grant whose start has come (the tick starts later ones)."""
    if grant.starts_at <= now:
        grant_id = grant.pk
        transaction.on_commit(lambda: _queue("provision_grant", grant_id))


def queue_revoke(grant: Grant) -> None:
    grant_id = grant.pk
    transaction.on_commit(lambda: _queue("revoke_grant", grant_id))


def schedule_expiry(grant: Grant) -> None:
    """A one-off django-q schedule at the grant's end (replaced when the grant is extended)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=EXPIRY_SCHEDULE.format(grant.pk),
        defaults={
            "func": "governance.jit.tasks.revoke_grant",
            "kwargs": repr({"grant_id": grant.pk}),
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": grant.ends_at,
        },
    )


def _drop_expiry(grant_id: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=EXPIRY_SCHEDULE.format(grant_id)).delete()


def target_for(grant: Grant) -> ic.AssignmentTarget:
    return ic.AssignmentTarget(
        instance_arn=grant.permission_set.instance_arn,
        account_id=grant.account.account_id,
        permission_set_arn=grant.permission_set.arn,
        principal_id=grant.principal.identity_store_principal_id or grant.principal.aws_id,
    )


def instance_account(grant: Grant) -> str:
    """The account that holds the Identity Center instance, where sso-admin writes are made."""
    holder = grant.principal.account
    return holder.account_id if holder is not None else governance_account_id()


# Slots --------------------------------------------------------------------------------------------


def _ensure_slots() -> None:
    if AssignmentSlot.objects.count() < MAX_OUTSTANDING_OPERATIONS:
        AssignmentSlot.objects.bulk_create(
            [AssignmentSlot(number=n) for n in range(MAX_OUTSTANDING_OPERATIONS)], ignore_conflicts=True
        )


def claim_slot(grant_id: int, *, wait: float | None = None) -> int | None:
    """One operation slot for the grant, waiting up to `wait` seconds; None when none came free
    or another task holds a fresh slot for this grant (it is being worked on).

    A grant whose slot is parked (its operation still in AWS's hands) or whose task's lease ran out
    takes that same slot back. A slot that records an operation is never free for another grant,
    however old: `recover_slots` frees it once AWS reports the operation final.
    """
    _ensure_slots()
    deadline = time.monotonic() + (SLOT_WAIT_SECONDS if wait is None else wait)
    pause = 0.05
    while True:
        now = timezone.now()
        free = Q(request_id="") & (Q(grant__isnull=True) | Q(claimed_at__lt=now - SLOT_LEASE))
        held = AssignmentSlot.objects.filter(grant_id=grant_id).first()
        if held is not None:
            if held.claimed_at and held.claimed_at >= now - SLOT_LEASE:
                return None
            # Conditional on what was read, so of two deliveries only one takes it back.
            taken = AssignmentSlot.objects.filter(pk=held.pk, grant_id=grant_id, claimed_at=held.claimed_at).update(
                claimed_at=now
            )
            return held.number if taken else None
        for number in AssignmentSlot.objects.filter(free).values_list("number", flat=True)[:3]:
            try:
                if AssignmentSlot.objects.filter(free, number=number).update(
                    grant_id=grant_id, claimed_at=now, operation="", request_id="", instance_arn=""
                ):
                    return number
            except IntegrityError:
                return None  # another task claimed a slot for this grant just now
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def release_slot(grant_id: int) -> None:
    """The task is done with the grant's slot: free it, unless it records an operation AWS may still
    hold (a timed-out wait, a status that could not be read); that slot stays, parked."""
    AssignmentSlot.objects.filter(grant_id=grant_id, request_id="").update(grant=None, claimed_at=None, operation="")
    AssignmentSlot.objects.filter(grant_id=grant_id).exclude(request_id="").update(claimed_at=None)


def _hold(grant: Grant, operation: str, instance_arn: str, status: ic.OperationStatus) -> None:
    """AWS accepted an operation for the grant: its slot records it until the status is final."""
    if status.request_id and not status.done:
        AssignmentSlot.objects.filter(grant_id=grant.pk).update(
            operation=operation, request_id=status.request_id, instance_arn=instance_arn
        )


def _ended(grant: Grant) -> None:
    """AWS reported the grant's operation SUCCEEDED or FAILED: its slot no longer counts it."""
    AssignmentSlot.objects.filter(grant_id=grant.pk).update(operation="", request_id="", instance_arn="")


def _status_of(operation: str, *, instance_arn: str, request_id: str) -> ic.OperationStatus:
    ask = ic.creation_status if operation == SlotOperation.CREATE else ic.deletion_status
    return ask(instance_arn=instance_arn, request_id=request_id)


def _wait(grant: Grant, operation: str, instance_arn: str, first: ic.OperationStatus) -> ic.OperationStatus:
    """Follow an operation to its final status; the slot records it meanwhile and lets go at the end
    (FAILED included). A wait that times out (`OperationTimedOut`) leaves it recorded."""
    _hold(grant, operation, instance_arn, first)
    try:
        status = ic.wait_for(
            lambda: _status_of(operation, instance_arn=instance_arn, request_id=first.request_id),
            first,
            timeout=STATUS_WAIT_SECONDS,
        )
    except ic.OperationFailed:
        _ended(grant)
        raise
    _ended(grant)
    return status


def _settle(grant: Grant) -> None:
    """Before a task does anything else for a grant, the operation its slot still records (an earlier
    wait timed out, or its task died) must be over: follow it to SUCCEEDED or FAILED (either way the
    task then asks AWS what it holds); still in progress, `OperationTimedOut` and the task retries."""
    slot = AssignmentSlot.objects.filter(grant_id=grant.pk).exclude(request_id="").first()
    if slot is None:
        return
    first = _status_of(slot.operation, instance_arn=slot.instance_arn, request_id=slot.request_id)
    with contextlib.suppress(ic.OperationFailed):
        _wait(grant, slot.operation, slot.instance_arn, first)


def recover_slots() -> int:
    """Free the slots whose recorded operation AWS now reports final and that no task is on (parked
    after a timed-out wait, or left by a task that died: its lease ran out); how many were freed.

    Each is decided by asking AWS its status (the portal's own credentials, like the task's polls):
    still in progress, or the status cannot be read, and the slot stays held.
    """
    stale = timezone.now() - SLOT_LEASE
    freed = 0
    idle = Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale)
    for slot in AssignmentSlot.objects.exclude(request_id="").filter(idle):
        try:
            status = _status_of(slot.operation, instance_arn=slot.instance_arn, request_id=slot.request_id)
        except AwsError as exc:
            logger.warning("jit: slot %s: the status of %s is unknown: %s", slot.number, slot.request_id, exc)
            continue
        if not status.done:
            continue
        # Conditional on what was read: a task that took the slot back meanwhile keeps it.
        freed += AssignmentSlot.objects.filter(
            pk=slot.pk, request_id=slot.request_id, claimed_at=slot.claimed_at
        ).update(grant=None, claimed_at=None, operation="", request_id="", instance_arn="")
    return freed


def outstanding() -> int:
    """Slots in use: a task on them, or an operation AWS may still hold."""
    fresh = Q(grant__isnull=False, claimed_at__gte=timezone.now() - SLOT_LEASE)
    return AssignmentSlot.objects.filter(fresh | ~Q(request_id="")).count()


# Provisioning -------------------------------------------------------------------------------------


def _load(grant_id: int) -> Grant | None:
    return (
        Grant.objects.select_related(
            "account", "permission_set", "principal__account", "grantor", "revoke_as", "request"
        )
        .filter(pk=grant_id)
        .first()
    )


def _update(grant: Grant, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(grant, name, value)
    grant.save(update_fields=list(fields))


def provision(grant_id: int, *, now: datetime | None = None) -> str:
    """Create the grant's assignment in AWS if its time has come (`now`: tests control time); what
    happened, in a word."""
    grant = _load(grant_id)
    now = now or timezone.now()
    if grant is None or grant.status not in (GrantStatus.SCHEDULED, GrantStatus.PROVISIONING):
        return "nothing to do"
    if grant.starts_at > now:
        return "not yet"
    if grant.ends_at <= now or grant.revoke_due_at is not None:
        if grant.status == GrantStatus.SCHEDULED:
            with transaction.atomic():
                _update(
                    grant,
                    status=GrantStatus.ENDED,
                    end_reason=grant.end_reason or EndReason.NEVER_GRANTED,
                    revoked_at=now,
                )
                record(actor=None, action="jit.grant.never_started", obj=grant, after={"ends_at": grant.ends_at})
            return "ended before it started"
        return revoke(grant_id, now=now)
    if claim_slot(grant.pk) is None:
        _update(grant, next_attempt_at=now + timedelta(seconds=30))
        return "busy"
    try:
        return _provision(grant)
    finally:
        release_slot(grant.pk)


def _provision(grant: Grant) -> str:
    target = target_for(grant)
    try:
        if grant.status == GrantStatus.SCHEDULED:
            if ic.assignment_exists(target):
                with transaction.atomic():
                    now = timezone.now()
                    _update(grant, status=GrantStatus.ACTIVE, standing=True, provisioned_at=now, last_error="")
                    record(
                        actor=None,
                        action="jit.grant.standing",
                        obj=grant,
                        after={"note": "AWS already held this assignment; it is left in place at the end"},
                    )
                schedule_expiry(grant)
                return "standing"
            with transaction.atomic():
                _update(grant, status=GrantStatus.PROVISIONING, attempts=grant.attempts + 1)
                record(actor=None, action="jit.grant.provisioning", obj=grant, after={"attempt": grant.attempts})
        else:
            _update(grant, attempts=grant.attempts + 1)
            _settle(grant)
        if grant.creation_request_id:
            status = ic.creation_status(instance_arn=target.instance_arn, request_id=grant.creation_request_id)
            # Still in progress: follow it (a second create would be a second operation).
            if status.status == ic.FAILED or (status.done and not ic.assignment_exists(target)):
                status = _create(grant, target)
        elif ic.assignment_exists(target):
            # An earlier delivery created it and died before it could say so.
            status = ic.OperationStatus(request_id="", status=ic.SUCCEEDED)
        else:
            status = _create(grant, target)
        _wait(grant, SlotOperation.CREATE, target.instance_arn, status)
    except WriteRefusedError as exc:
        return _provision_failed(grant, f"the writer gate refused: {exc.reason}", final=True)
    except ic.OperationTimedOut as exc:
        # Not a failure: AWS is still at it. The slot stays held; the retry follows the request id.
        return _provision_failed(grant, str(exc), final=False)
    except AwsError as exc:
        return _provision_failed(grant, str(exc), final=grant.attempts >= MAX_PROVISION_ATTEMPTS)
    with transaction.atomic():
        now = timezone.now()
        _update(grant, status=GrantStatus.ACTIVE, provisioned_at=now, last_error="", next_attempt_at=None)
        record(
            actor=None,
            action="jit.grant.active",
            obj=grant,
            after={"seconds_from_approval": (now - grant.approved_at).total_seconds(), "ends_at": grant.ends_at},
        )
        schedule_expiry(grant)
        if grant.ends_at <= now or grant.revoke_due_at is not None:
            queue_revoke(grant)
        else:
            review_context.queue_break_glass_sync(grant)
    return "granted"


def _create(grant: Grant, target: ic.AssignmentTarget) -> ic.OperationStatus:
    response = perform_write(
        actor=grant.grantor,
        action="sso:CreateAccountAssignment",
        resource=target.permission_set_arn,
        account_id=instance_account(grant),
        call=lambda clients: ic.create_assignment(clients, target),
        after={"jit_grant": grant.pk, "account_id": target.account_id, "principal_id": target.principal_id},
    )
    status = ic.creation_of(response)
    _update(grant, creation_request_id=status.request_id)
    return status


def _provision_failed(grant: Grant, error: str, *, final: bool) -> str:
    now = timezone.now()
    with transaction.atomic():
        if final:
            _update(
                grant,
                status=GrantStatus.FAILED,
                last_error=error[:2000],
                next_attempt_at=None,
                end_reason=EndReason.NEVER_GRANTED,
                revoked_at=now,
            )
            record(actor=None, action="jit.grant.failed", obj=grant, after={"error": error, "attempts": grant.attempts})
            notices.admins_alerted(grant, list(people.jit_admins()), f"could not be granted: {error}", key="failed")
            notices.requester_told(grant.request, f"could not be granted: {error}")
        else:
            _update(grant, last_error=error[:2000], next_attempt_at=now + _backoff(grant.attempts))
            record(
                actor=None, action="jit.grant.retrying", obj=grant, after={"error": error, "attempts": grant.attempts}
            )
    if final and grant.creation_request_id:
        # AWS may have created it after all: make sure nothing is left behind.
        transaction.on_commit(lambda: _queue("revoke_grant", grant.pk))
    return "failed" if final else "retrying"


# Revocation ---------------------------------------------------------------------------------------


def _revocable(grant: Grant, now: datetime) -> bool:
    if grant.status == GrantStatus.REVOKING:
        return True
    if grant.status == GrantStatus.FAILED:
        return bool(grant.creation_request_id) and grant.deletion_request_id == ""
    return grant.status in (GrantStatus.ACTIVE, GrantStatus.PROVISIONING) and (
        grant.ends_at <= now or grant.revoke_due_at is not None
    )


def revoke(grant_id: int, *, now: datetime | None = None) -> str:
    """Delete the grant's assignment in AWS once its time is up (or it was ended); idempotent."""
    grant = _load(grant_id)
    now = now or timezone.now()
    if grant is None:
        return "nothing to do"
    if grant.status == GrantStatus.SCHEDULED:
        return provision(grant_id, now=now)  # due before it ever started: ends it without AWS
    if not _revocable(grant, now):
        return "not due" if grant.is_live else "nothing to do"
    if claim_slot(grant.pk) is None:
        _update(grant, next_attempt_at=now + timedelta(seconds=15))
        return "busy"
    try:
        return _revoke(grant, now)
    finally:
        release_slot(grant.pk)


def _revoke(grant: Grant, now: datetime) -> str:
    target = target_for(grant)
    failed_grant = grant.status == GrantStatus.FAILED
    due = grant.revoke_due_at or min(grant.ends_at, now)
    if not failed_grant:
        with transaction.atomic():
            first = grant.status != GrantStatus.REVOKING
            _update(grant, status=GrantStatus.REVOKING, revoke_due_at=due, attempts=grant.attempts + 1)
            if first:
                record(actor=None, action="jit.grant.revoking", obj=grant, after={"due": due})
    if grant.standing:
        return _revoked(grant, due, note="standing assignment left in place")
    try:
        _settle(grant)
        if grant.deletion_request_id:
            status = ic.deletion_status(instance_arn=target.instance_arn, request_id=grant.deletion_request_id)
            if status.status == ic.FAILED and ic.assignment_exists(target):
                status = _delete(grant, target)
        elif ic.assignment_exists(target):
            status = _delete(grant, target)
        else:
            status = ic.OperationStatus(request_id="", status=ic.SUCCEEDED)
        _wait(grant, SlotOperation.DELETE, target.instance_arn, status)
    except (WriteRefusedError, AwsError) as exc:
        error = f"the writer gate refused: {exc.reason}" if isinstance(exc, WriteRefusedError) else str(exc)
        with transaction.atomic():
            _update(grant, last_error=error[:2000], next_attempt_at=timezone.now() + _backoff(grant.attempts))
            record(
                actor=None,
                action="jit.grant.revoke_retrying",
                obj=grant,
                after={"error": error, "attempts": grant.attempts},
            )
            if grant.attempts == ALERT_REVOKE_AFTER_ATTEMPTS:
                notices.admins_alerted(
                    grant, list(people.jit_admins()), f"could not be revoked yet: {error}", key="revoke"
                )
        return "retrying"
    if failed_grant:
        with transaction.atomic():
            _update(grant, deletion_request_id=grant.deletion_request_id or "none")
            record(actor=None, action="jit.grant.cleaned_up", obj=grant)
        return "cleaned up"
    return _revoked(grant, due)


def _delete(grant: Grant, target: ic.AssignmentTarget) -> ic.OperationStatus:
    response = perform_write(
        actor=grant.revoke_as or grant.grantor,
        action="sso:DeleteAccountAssignment",
        resource=target.permission_set_arn,
        account_id=instance_account(grant),
        call=lambda clients: ic.delete_assignment(clients, target),
        after={"jit_grant": grant.pk, "account_id": target.account_id, "principal_id": target.principal_id},
    )
    status = ic.deletion_of(response)
    _update(grant, deletion_request_id=status.request_id or "unknown")
    return status


def _revoked(grant: Grant, due: datetime, *, note: str = "") -> str:
    with transaction.atomic():
        now = timezone.now()
        _update(
            grant,
            status=GrantStatus.ENDED,
            revoked_at=now,
            end_reason=grant.end_reason or EndReason.EXPIRED,
            last_error="",
            next_attempt_at=None,
        )
        record(
            actor=None,
            action="jit.grant.revoked",
            obj=grant,
            after={"seconds_after_due": (now - due).total_seconds(), "end_reason": grant.end_reason, "note": note},
        )
        _drop_expiry(grant.pk)
        notices.requester_told(grant.request, "ended: the access is gone")
    return "revoked"


# The minute tick ----------------------------------------------------------------------------------


def tick(*, now: datetime | None = None) -> dict[str, int]:
    """Start grants whose time has come, revoke the overdue, retry what backed off, lapse stale requests.

    Work is queued as tasks (one per grant); they are idempotent, so a grant already in hand is
    left alone by the second task.
    """
    now = now or timezone.now()
    freed = recover_slots()
    retry_ok = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    starting = list(
        Grant.objects.filter(
            retry_ok,
            status__in=[GrantStatus.SCHEDULED, GrantStatus.PROVISIONING],
            starts_at__lte=now,
            ends_at__gt=now,
            revoke_due_at__isnull=True,
        ).values_list("pk", flat=True)
    )
    ending = list(
        Grant.objects.filter(retry_ok)
        .filter(
            Q(status__in=[GrantStatus.ACTIVE, GrantStatus.PROVISIONING, GrantStatus.SCHEDULED], ends_at__lte=now)
            | Q(status__in=[GrantStatus.ACTIVE, GrantStatus.PROVISIONING], revoke_due_at__isnull=False)
            | Q(status=GrantStatus.REVOKING)
        )
        .values_list("pk", flat=True)
    )
    for grant_id in starting:
        _queue("provision_grant", grant_id)
    for grant_id in ending:
        _queue("revoke_grant", grant_id)
    return {
        "started": len(starting),
        "revoking": len(ending),
        "lapsed": lapse_requests(now=now),
        "slots_freed": freed,
    }


def lapse_requests(*, now: datetime) -> int:
    """Pending requests whose whole window passed undecided lapse (the requester asks again)."""
    stale = [
        r
        for r in AccessRequest.objects.pending().only("pk", "starts_at", "duration_minutes")
        if r.starts_at + r.duration <= now
    ]
    if not stale:
        return 0
    with transaction.atomic():
        AccessRequest.objects.filter(pk__in=[r.pk for r in stale], status=RequestStatus.PENDING).update(
            status=RequestStatus.LAPSED, decided_at=now
        )
        for r in stale:
            record(
                actor=None,
                action="jit.request.lapsed",
                object_type="jit.accessrequest",
                object_id=r.pk,
                object_repr=f"request #{r.pk}",
            )
    return len(stale)
