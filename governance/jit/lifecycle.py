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
is being worked on by another task. Failures back off (`next_attempt_at`) and the minute tick
retries them; provisioning gives up after `MAX_PROVISION_ATTEMPTS` (the request shows why and the
administrators are told); a revocation never gives up.

Expiry: each active grant has a one-off django-q schedule at its `ends_at` (precise to the
scheduler's pass, about every 30 s) and the minute tick revokes whatever is overdue, so a cluster that was
down at expiry revokes at its first pass after it is back.
"""

from __future__ import annotations

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


def claim_slot(grant_id: int, *, wait: float = SLOT_WAIT_SECONDS) -> int | None:
    """One free operation slot for the grant, waiting up to `wait` seconds; None when none came free
    or another task holds a fresh slot for this grant (it is being worked on)."""
    _ensure_slots()
    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        now = timezone.now()
        free = Q(grant__isnull=True) | Q(claimed_at__lt=now - SLOT_LEASE)
        held = AssignmentSlot.objects.filter(grant_id=grant_id).first()
        if held is not None:
            if held.claimed_at and held.claimed_at >= now - SLOT_LEASE:
                return None
            AssignmentSlot.objects.filter(pk=held.pk).update(claimed_at=now)
            return held.number
        for number in AssignmentSlot.objects.filter(free).values_list("number", flat=True)[:3]:
            try:
                if AssignmentSlot.objects.filter(free, number=number).update(grant_id=grant_id, claimed_at=now):
                    return number
            except IntegrityError:
                return None  # another task claimed a slot for this grant just now
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def release_slot(grant_id: int) -> None:
    AssignmentSlot.objects.filter(grant_id=grant_id).update(grant=None, claimed_at=None)


def outstanding() -> int:
    return AssignmentSlot.objects.filter(grant__isnull=False, claimed_at__gte=timezone.now() - SLOT_LEASE).count()


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
        if grant.creation_request_id:
            status = ic.creation_status(instance_arn=target.instance_arn, request_id=grant.creation_request_id)
            if status.status == ic.FAILED or not ic.assignment_exists(target):
                status = _create(grant, target)
        elif ic.assignment_exists(target):
            # An earlier delivery created it and died before it could say so.
            status = ic.OperationStatus(request_id="", status=ic.SUCCEEDED)
        else:
            status = _create(grant, target)
        ic.wait_for(
            lambda: ic.creation_status(instance_arn=target.instance_arn, request_id=status.request_id),
            status,
            timeout=STATUS_WAIT_SECONDS,
        )
    except WriteRefusedError as exc:
        return _provision_failed(grant, f"the writer gate refused: {exc.reason}", final=True)
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
        if grant.deletion_request_id:
            status = ic.deletion_status(instance_arn=target.instance_arn, request_id=grant.deletion_request_id)
            if status.status == ic.FAILED and ic.assignment_exists(target):
                status = _delete(grant, target)
        elif ic.assignment_exists(target):
            status = _delete(grant, target)
        else:
            status = ic.OperationStatus(request_id="", status=ic.SUCCEEDED)
        ic.wait_for(
            lambda: ic.deletion_status(instance_arn=target.instance_arn, request_id=status.request_id),
            status,
            timeout=STATUS_WAIT_SECONDS,
        )
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
    return {"started": len(starting), "revoking": len(ending), "lapsed": lapse_requests(now=now)}


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
