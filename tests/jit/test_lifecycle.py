"""Grants in AWS, against the emulator: the whole life cycle, expiry after a worker outage, retries,
standing access left alone, the writer gate, and never more than ten operations at once.

Each test builds the demo organization afresh (it creates and deletes assignments) and syncs it, so
the policy's grantor is carla.campaign with GovernanceAccessAdmin exactly as the demo defines it.
Time is controlled by handing `now` to the life cycle, or by moving a grant's times into the past
(as if the clock had run on) before one scheduler pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.aws import calls, session
from governance.jit import lifecycle, services
from governance.jit.models import MAX_OUTSTANDING_OPERATIONS, Grant, GrantStatus
from tests.jit.helpers import make_policy

pytestmark = pytest.mark.django_db


@dataclass
class Emulated:
    demo: object
    users: dict
    policy: object
    account: object
    read_only: object
    instance_arn: str


@pytest.fixture
def emulated(fresh_demo_org, db) -> Emulated:
    from governance.inventory.models import Account, PermissionSet, Principal, PrincipalKind
    from governance.inventory.sync import sync_organization
    from tests.fixtures.personas import ALL_PERSONAS, make_persona_user

    run = sync_organization()
    assert not run.errors, run.errors
    users = {key: make_persona_user(key) for key in ALL_PERSONAS}
    groups = {p.name: p for p in Principal.objects.present().filter(kind=PrincipalKind.SSO_GROUP)}
    account = Account.objects.get(name="payments-dev")
    read_only = PermissionSet.objects.present().get(name="ReadOnlyAccess")
    policy = make_policy(
        grantor=users["campaign_admin"],
        requester_group=groups["jit-requesters"],
        approver_group=groups["jit-approvers"],
        sets=[read_only],
        accounts=[account],
        max_duration_minutes=240,
    )
    return Emulated(fresh_demo_org, users, policy, account, read_only, read_only.instance_arn)


def _approved(e: Emulated, minutes: int = 60) -> Grant:
    access_request = services.submit_request(
        actor=e.users["requester"],
        policy=e.policy,
        account=e.account,
        permission_set=e.read_only,
        duration_minutes=minutes,
        justification="look at the payments logs",
    )
    services.decide_request(actor=e.users["approver"], access_request=access_request, decision="approve")
    return Grant.objects.get(request=access_request)


def _in_aws(e: Emulated, grant: Grant) -> int:
    sso = session.management_client("sso-admin")
    found = sso.list_account_assignments(
        InstanceArn=e.instance_arn, AccountId=e.account.account_id, PermissionSetArn=e.read_only.arn
    )["AccountAssignments"]
    return sum(1 for a in found if a["PrincipalId"] == grant.principal.identity_store_principal_id)


def test_the_whole_life_cycle(emulated):
    grant = _approved(emulated)
    with calls.counting() as log:
        assert lifecycle.provision(grant.pk) == "granted"
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ACTIVE and grant.creation_request_id
    assert _in_aws(emulated, grant) == 1
    assert log.count("sso-admin", "CreateAccountAssignment") == 1
    assert log.count("sts", "AssumeRole") == 1
    assert log.count("sso-admin", "DescribeAccountAssignmentCreationStatus") <= 2
    write = AuditEvent.objects.get(action="aws.write", after__aws_action="sso:CreateAccountAssignment")
    assert write.actor_name == "carla.campaign" and write.after["source_identity"] == "carla.campaign"
    assert write.after["permission_set"] == "GovernanceAccessAdmin"

    from django_q.models import Schedule

    expiry = Schedule.objects.get(name=lifecycle.EXPIRY_SCHEDULE.format(grant.pk))
    assert expiry.next_run == grant.ends_at and expiry.schedule_type == Schedule.ONCE

    assert lifecycle.revoke(grant.pk, now=grant.ends_at - timedelta(seconds=1)) == "not due"
    assert _in_aws(emulated, grant) == 1
    with calls.counting() as log:
        assert lifecycle.revoke(grant.pk, now=grant.ends_at + timedelta(seconds=1)) == "revoked"
    grant.refresh_from_db()
    assert (grant.status, grant.end_reason) == (GrantStatus.ENDED, "expired")
    assert _in_aws(emulated, grant) == 0
    assert log.count("sso-admin", "DeleteAccountAssignment") == 1
    assert not Schedule.objects.filter(name=lifecycle.EXPIRY_SCHEDULE.format(grant.pk)).exists()
    assert lifecycle.revoke(grant.pk) == "nothing to do"
    actions = list(
        AuditEvent.objects.filter(object_type="jit.grant", object_id=str(grant.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "jit.grant.scheduled",
        "jit.grant.provisioning",
        "jit.grant.active",
        "jit.grant.revoking",
        "jit.grant.revoked",
    ]


def test_a_worker_down_at_expiry_revokes_at_the_first_scheduler_pass_after(emulated, monkeypatch):
    from django_q.conf import Conf
    from django_q.scheduler import scheduler

    from portal.schedules import sync_schedules

    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    sync_schedules()
    # The cluster was down: the grant ended ten minutes ago and nothing ran.
    shift = timedelta(minutes=70)
    Grant.objects.filter(pk=grant.pk).update(
        starts_at=grant.starts_at - shift, ends_at=grant.ends_at - shift, approved_at=grant.approved_at - shift
    )
    from django_q.models import Schedule

    Schedule.objects.filter(name=lifecycle.EXPIRY_SCHEDULE.format(grant.pk)).update(next_run=grant.ends_at - shift)
    assert _in_aws(emulated, grant) == 1
    monkeypatch.setattr(Conf, "SYNC", True)  # the worker is back: tasks run as the scheduler queues them
    scheduler()
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ENDED
    assert _in_aws(emulated, grant) == 0
    revoked = AuditEvent.objects.get(action="jit.grant.revoked", object_id=str(grant.pk))
    assert revoked.after["seconds_after_due"] >= 600


def test_the_tick_revokes_whatever_is_overdue(emulated, monkeypatch):
    from django_q.conf import Conf

    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    monkeypatch.setattr(Conf, "SYNC", True)
    summary = lifecycle.tick(now=grant.ends_at + timedelta(minutes=1))
    assert summary["revoking"] == 1
    # The task ran with the real clock, before the end: nothing due yet, the assignment stays.
    assert _in_aws(emulated, grant) == 1
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(starts_at=now - timedelta(hours=1), ends_at=now - timedelta(seconds=5))
    lifecycle.tick()
    assert _in_aws(emulated, grant) == 0


def test_a_second_delivery_creates_nothing(emulated):
    grant = _approved(emulated)
    assert lifecycle.provision(grant.pk) == "granted"
    with calls.counting() as log:
        assert lifecycle.provision(grant.pk) == "nothing to do"
    assert log.total == 0
    # A delivery that died after AWS created the assignment, before it could say so:
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.PROVISIONING, creation_request_id="")
    with calls.counting() as log:
        assert lifecycle.provision(grant.pk) == "granted"
    assert log.count("sso-admin", "CreateAccountAssignment") == 0
    assert _in_aws(emulated, grant) == 1


def test_a_retry_asks_aws_for_the_operations_status_as_the_portal_and_its_role_allows_it(emulated):
    """Real AWS answers a create or delete IN_PROGRESS, so the status is polled: with the portal's own
    credentials (deploy/management-role.yaml), never the writer role, and that role must allow it."""
    from tests.deploy import roles
    from tests.fixtures.aws_calls import Recorder

    recorder = Recorder()
    stop = calls.observe(recorder)
    try:
        grant = _approved(emulated)
        assert lifecycle.provision(grant.pk) == "granted"
        # A delivery that died after AWS accepted the create: the next one follows that request id.
        Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.PROVISIONING)
        with calls.counting() as log:
            assert lifecycle.provision(grant.pk) == "granted"
        assert log.count("sso-admin", "DescribeAccountAssignmentCreationStatus") == 1
        assert log.count("sso-admin", "CreateAccountAssignment") == 0 and log.count("sts") == 0
        assert lifecycle.revoke(grant.pk, now=grant.ends_at + timedelta(seconds=1)) == "revoked"
        # Likewise a revocation whose delete AWS accepted.
        Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.REVOKING)
        with calls.counting() as log:
            assert lifecycle.revoke(grant.pk) == "revoked"
        assert log.count("sso-admin", "DescribeAccountAssignmentDeletionStatus") == 1
        assert log.count("sso-admin", "DeleteAccountAssignment") == 0 and log.count("sts") == 0
    finally:
        stop()
    assert _in_aws(emulated, grant) == 0
    polled = {(p, a) for p, a, *_ in recorder.records if "Status" in a}
    assert polled == {
        ("portal", "sso:DescribeAccountAssignmentCreationStatus"),
        ("portal", "sso:DescribeAccountAssignmentDeletionStatus"),
    }
    assert roles.check(recorder.records, whole_suite=False) == []


def test_a_task_leaves_a_grant_another_task_holds(emulated):
    grant = _approved(emulated)
    assert lifecycle.claim_slot(grant.pk, wait=0) is not None
    with calls.counting() as log:
        assert lifecycle.provision(grant.pk) == "busy"
    assert log.total == 0
    lifecycle.release_slot(grant.pk)
    assert lifecycle.provision(grant.pk) == "granted"


def test_standing_access_is_left_in_place(emulated):
    grant = _approved(emulated)
    sso = session.management_client("sso-admin")
    sso.create_account_assignment(
        InstanceArn=emulated.instance_arn,
        TargetId=emulated.account.account_id,
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=emulated.read_only.arn,
        PrincipalType="USER",
        PrincipalId=grant.principal.identity_store_principal_id,
    )
    assert lifecycle.provision(grant.pk) == "standing"
    with calls.counting() as log:
        assert lifecycle.revoke(grant.pk, now=grant.ends_at + timedelta(seconds=1)) == "revoked"
    assert log.count("sso-admin", "DeleteAccountAssignment") == 0
    assert _in_aws(emulated, grant) == 1


def test_the_writer_gate_refuses_a_grantor_without_the_right(emulated):
    grant = _approved(emulated)
    Grant.objects.filter(pk=grant.pk).update(grantor=emulated.users["approver"])
    with calls.counting() as log:
        assert lifecycle.provision(grant.pk) == "failed"
    grant.refresh_from_db()
    assert grant.status == GrantStatus.FAILED and "writer gate refused" in grant.last_error
    assert log.count("sso-admin", "CreateAccountAssignment") == 0 and log.count("sts") == 0
    assert AuditEvent.objects.filter(action="aws.write.refused").exists()
    assert AuditEvent.objects.filter(action="jit.grant.failed", object_id=str(grant.pk)).exists()


def test_an_unreachable_aws_backs_off_and_recovers(emulated, settings):
    grant = _approved(emulated)
    endpoint = settings.AWS_ENDPOINT_URL
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    session.reset()
    try:
        assert lifecycle.provision(grant.pk) == "retrying"
    finally:
        settings.AWS_ENDPOINT_URL = endpoint
        session.reset()
    grant.refresh_from_db()
    # It failed asking whether AWS already holds the assignment, so it is still only scheduled.
    assert grant.status == GrantStatus.SCHEDULED and grant.next_attempt_at > timezone.now()
    assert "unreachable" in grant.last_error.lower() or "connect" in grant.last_error.lower()
    assert lifecycle.tick(now=grant.next_attempt_at - timedelta(seconds=1))["started"] == 0
    assert lifecycle.provision(grant.pk) == "granted"
    assert _in_aws(emulated, grant) == 1


def test_a_failure_shows_on_the_request_and_a_final_one_reaches_the_admins(emulated, settings, client):
    from governance.notify.models import Notification

    grant = _approved(emulated)
    endpoint = settings.AWS_ENDPOINT_URL
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    session.reset()
    try:
        assert lifecycle.provision(grant.pk) == "retrying"
    finally:
        settings.AWS_ENDPOINT_URL = endpoint
        session.reset()
    client.force_login(emulated.users["requester"])
    page = client.get(f"/jit/requests/{grant.request_id}/").content.decode()
    assert "Problem" in page and "trying again at" in page
    assert not Notification.objects.filter(event="jit.grant.problem").exists()  # a retry is not news yet

    Grant.objects.filter(pk=grant.pk).update(grantor=emulated.users["approver"], next_attempt_at=None)
    assert lifecycle.provision(grant.pk) == "failed"
    page = client.get(f"/jit/requests/{grant.request_id}/").content.decode()
    assert "Failed" in page and "writer gate refused" in page and "trying again" not in page
    told = Notification.objects.filter(event="jit.grant.problem").values_list("recipient", flat=True)
    assert "carla.campaign@example.com" in told
    assert (
        "could not be granted" in Notification.objects.get(event="jit.request.update", body__contains="could not").body
    )


def test_a_scheduled_start_is_granted_when_its_time_comes(emulated, monkeypatch):
    from django_q.conf import Conf

    starts = timezone.now() + timedelta(hours=2)
    access_request = services.submit_request(
        actor=emulated.users["requester"],
        policy=emulated.policy,
        account=emulated.account,
        permission_set=emulated.read_only,
        duration_minutes=60,
        justification="the release window tonight",
        starts_at=starts,
    )
    services.decide_request(actor=emulated.users["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get(request=access_request)
    assert (grant.status, grant.starts_at, grant.ends_at) == (
        GrantStatus.SCHEDULED,
        starts,
        starts + timedelta(hours=1),
    )
    with calls.counting() as log:
        assert lifecycle.provision(grant.pk) == "not yet"
        assert lifecycle.tick(now=starts - timedelta(seconds=1))["started"] == 0
    assert log.total == 0 and _in_aws(emulated, grant) == 0
    # The clock reaches the start: the minute tick grants it.
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(starts_at=now - timedelta(seconds=1), ends_at=now + timedelta(hours=1))
    monkeypatch.setattr(Conf, "SYNC", True)
    assert lifecycle.tick()["started"] == 1
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ACTIVE and _in_aws(emulated, grant) == 1


def test_ending_early_deletes_the_assignment_now(emulated):
    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    services.end_grant(actor=emulated.users["requester"], grant=grant)
    assert lifecycle.revoke(grant.pk) == "revoked"
    grant.refresh_from_db()
    assert (grant.status, grant.end_reason, grant.ended_by_name) == (GrantStatus.ENDED, "ended_early", "rick.requester")
    assert _in_aws(emulated, grant) == 0


def test_an_approved_extension_moves_the_expiry(emulated):
    from django_q.models import Schedule

    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    extension = services.request_extension(
        actor=emulated.users["requester"], grant=grant, duration_minutes=30, justification="one more run"
    )
    services.decide_request(actor=emulated.users["approver"], access_request=extension, decision="approve")
    grant.refresh_from_db()
    expiry = Schedule.objects.get(name=lifecycle.EXPIRY_SCHEDULE.format(grant.pk))
    assert expiry.next_run == grant.ends_at
    assert lifecycle.revoke(grant.pk, now=grant.ends_at - timedelta(minutes=10)) == "not due"


def _copy(grant: Grant) -> Grant:
    """Another grant like this one (its own request), for tests that need many."""
    access_request = grant.request
    access_request.pk = None
    access_request._state.adding = True
    access_request.save()
    copy = Grant.objects.get(pk=grant.pk)
    copy.pk = None
    copy._state.adding = True
    copy.request = access_request
    copy.save()
    return copy


def test_never_more_than_ten_operations_at_once(emulated):
    from governance.jit.models import AssignmentSlot

    grant = _approved(emulated)
    held = [lifecycle.claim_slot(_copy(grant).pk, wait=0) for _ in range(MAX_OUTSTANDING_OPERATIONS)]
    assert sorted(held) == list(range(MAX_OUTSTANDING_OPERATIONS))
    assert lifecycle.claim_slot(grant.pk, wait=0.2) is None
    assert lifecycle.outstanding() == MAX_OUTSTANDING_OPERATIONS
    # A slot whose holder died is free once its lease runs out.
    AssignmentSlot.objects.filter(number=3).update(claimed_at=timezone.now() - lifecycle.SLOT_LEASE * 2)
    assert lifecycle.claim_slot(grant.pk, wait=0) == 3


def _sync_and_reconcile() -> dict:
    from governance.inventory.sync import sync_organization
    from governance.jit.tasks import reconcile_after_sync

    run = sync_organization()
    assert not run.errors, run.errors
    return reconcile_after_sync(run_id=run.pk)


def _assignment_params(e: Emulated, grant: Grant) -> dict:
    return {
        "InstanceArn": e.instance_arn,
        "TargetId": e.account.account_id,
        "TargetType": "AWS_ACCOUNT",
        "PermissionSetArn": e.read_only.arn,
        "PrincipalType": "USER",
        "PrincipalId": grant.principal.identity_store_principal_id,
    }


def test_the_next_sync_confirms_a_revocation(emulated):
    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    assert _sync_and_reconcile() == {"confirmed": 1, "removed": 0, "recreated": 0}
    lifecycle.revoke(grant.pk, now=grant.ends_at + timedelta(seconds=1))
    assert _sync_and_reconcile() == {"confirmed": 1, "removed": 0, "recreated": 0}
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ENDED and grant.sync_confirmed_at > grant.revoked_at and grant.drift == ""


def test_the_next_sync_notices_an_assignment_removed_outside_the_portal(emulated):
    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    session.management_client("sso-admin").delete_account_assignment(**_assignment_params(emulated, grant))
    assert _sync_and_reconcile()["removed"] == 1
    grant.refresh_from_db()
    assert (grant.status, grant.end_reason) == (GrantStatus.ENDED, "removed")
    assert "Removed outside the portal" in grant.drift
    assert AuditEvent.objects.filter(action="jit.grant.removed_out_of_band", object_id=str(grant.pk)).exists()
    # Its end comes and goes without a call to AWS.
    with calls.counting() as log:
        assert lifecycle.revoke(grant.pk, now=grant.ends_at + timedelta(seconds=1)) == "nothing to do"
    assert log.total == 0


def test_the_next_sync_notices_an_assignment_recreated_after_the_grant(emulated):
    grant = _approved(emulated)
    lifecycle.provision(grant.pk)
    lifecycle.revoke(grant.pk, now=grant.ends_at + timedelta(seconds=1))
    session.management_client("sso-admin").create_account_assignment(**_assignment_params(emulated, grant))
    assert _sync_and_reconcile()["recreated"] == 1
    grant.refresh_from_db()
    assert "Re-created outside the portal" in grant.drift
    assert _sync_and_reconcile()["recreated"] == 0  # told once


# Operations AWS takes its time over -----------------------------------------------------------------


class AwsStillAtIt:
    """AWS under load, on the emulator: the account assignment operations it accepts while `holding`
    stay IN_PROGRESS (in the create/delete answer and in every status poll) until `finish` says
    SUCCEEDED or FAILED. It rewrites AWS's answers as botocore hands them over (the project's call
    observer, `governance.aws.calls.observe`); the emulator does the work at once underneath, as
    AWS eventually does."""

    KEYS = {
        "CreateAccountAssignment": "AccountAssignmentCreationStatus",
        "DeleteAccountAssignment": "AccountAssignmentDeletionStatus",
        "DescribeAccountAssignmentCreationStatus": "AccountAssignmentCreationStatus",
        "DescribeAccountAssignmentDeletionStatus": "AccountAssignmentDeletionStatus",
    }

    def __init__(self) -> None:
        self.holding = True
        self.in_progress: set[str] = set()
        self.failed: set[str] = set()

    def __call__(self, event: str, **kwargs) -> None:
        model = kwargs.get("model")
        if event != "after-call" or model is None or model.service_model.service_name != "sso-admin":
            return
        status = (kwargs.get("parsed") or {}).get(self.KEYS.get(model.name, ""))
        if not status:
            return
        if model.name.endswith("AccountAssignment") and self.holding:
            self.in_progress.add(status["RequestId"])
        if status["RequestId"] in self.in_progress:
            status["Status"] = "IN_PROGRESS"
        elif status["RequestId"] in self.failed:
            status.update(Status="FAILED", FailureReason="Request failed: the emulated AWS said so")

    def finish(self, request_id: str, *, failed: bool = False) -> None:
        self.in_progress.discard(request_id)
        if failed:
            self.failed.add(request_id)


@pytest.fixture
def slow_aws(monkeypatch):
    still = AwsStillAtIt()
    monkeypatch.setattr(lifecycle, "STATUS_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(lifecycle, "SLOT_WAIT_SECONDS", 0.3)
    stop = calls.observe(still)
    yield still
    stop()


def _distinct(e: Emulated, n: int) -> list[Grant]:
    """`n` approved grants for the requester, each on an account and permission set AWS does not
    yet assign them (so each is an operation of its own)."""
    from governance.aws import identity_center_writes as ic
    from governance.inventory.models import Account, PermissionSet

    base = _approved(e)
    grants = []
    for permission_set in PermissionSet.objects.present().filter(instance_arn=e.instance_arn).order_by("name"):
        for account in Account.objects.order_by("account_id"):
            grant = _copy(base)
            Grant.objects.filter(pk=grant.pk).update(account=account, permission_set=permission_set)
            grant.refresh_from_db()
            if ic.assignment_exists(lifecycle.target_for(grant)):
                continue
            grants.append(grant)
            if len(grants) == n:
                return grants
    raise AssertionError(f"the demo organization offers fewer than {n} distinct assignments")


def _slot_of(grant: Grant):
    from governance.jit.models import AssignmentSlot

    return AssignmentSlot.objects.filter(grant=grant).first()


def test_an_operation_still_in_progress_keeps_its_slot_until_aws_reports_it_final(emulated, slow_aws):
    from governance.jit.models import AssignmentSlot

    grants = _distinct(emulated, MAX_OUTSTANDING_OPERATIONS + 2)
    ten, eleventh, twelfth = grants[:MAX_OUTSTANDING_OPERATIONS], grants[-2], grants[-1]
    for grant in ten:
        # The wait for AWS's creation status runs out: the grant retries, its slot stays.
        assert lifecycle.provision(grant.pk) == "retrying"
        grant.refresh_from_db()
        assert grant.status == GrantStatus.PROVISIONING and "IN_PROGRESS" in grant.last_error
        slot = _slot_of(grant)
        assert (slot.operation, slot.request_id, slot.claimed_at) == ("create", grant.creation_request_id, None)
    assert lifecycle.outstanding() == MAX_OUTSTANDING_OPERATIONS

    # With ten in progress in AWS the eleventh waits, and asks AWS nothing.
    with calls.counting() as log:
        assert lifecycle.provision(eleventh.pk) == "busy"
    assert log.total == 0
    eleventh.refresh_from_db()
    assert eleventh.status == GrantStatus.SCHEDULED and eleventh.next_attempt_at is not None

    # However long ago their tasks let go (or died, the lease long run out), the slots are not free
    # while AWS still reports the operations in progress.
    long_ago = timezone.now() - lifecycle.SLOT_LEASE * 3
    AssignmentSlot.objects.filter(grant__in=ten[5:]).update(claimed_at=long_ago)
    assert lifecycle.recover_slots() == 0
    assert lifecycle.provision(eleventh.pk) == "busy"
    assert lifecycle.outstanding() == MAX_OUTSTANDING_OPERATIONS

    # A grant's own retry takes its slot back and follows the same request id: no second create.
    with calls.counting() as log:
        assert lifecycle.provision(ten[6].pk) == "retrying"
    assert log.count("sso-admin", "CreateAccountAssignment") == 0
    assert log.count("sso-admin", "DescribeAccountAssignmentCreationStatus") >= 1
    assert _slot_of(ten[6]).request_id == ten[6].creation_request_id

    # AWS reports the first SUCCEEDED: the tick's sweep frees that slot, and only that one.
    slow_aws.finish(ten[0].creation_request_id)
    assert lifecycle.tick()["slots_freed"] == 1
    assert _slot_of(ten[0]) is None and lifecycle.outstanding() == MAX_OUTSTANDING_OPERATIONS - 1
    # The eleventh takes it (and AWS is slow with that one too): ten in progress again.
    assert lifecycle.provision(eleventh.pk) == "retrying"
    assert lifecycle.outstanding() == MAX_OUTSTANDING_OPERATIONS
    assert lifecycle.provision(twelfth.pk) == "busy"
    assert lifecycle.provision(ten[0].pk) == "busy"  # its own retry waits for a slot like anyone

    # FAILED is final too: a slot whose task died (lease run out) is freed once AWS says so.
    slow_aws.finish(ten[7].creation_request_id, failed=True)
    assert lifecycle.recover_slots() == 1 and _slot_of(ten[7]) is None
    # The first's retry finds its operation done, without creating it again, and lets the slot go.
    with calls.counting() as log:
        assert lifecycle.provision(ten[0].pk) == "granted"
    assert log.count("sso-admin", "CreateAccountAssignment") == 0
    slow_aws.holding = False
    assert lifecycle.provision(twelfth.pk) == "granted"
    assert _slot_of(twelfth) is None

    # A grant whose operation finished takes its parked slot back, sees SUCCEEDED and lets it go.
    slow_aws.finish(ten[1].creation_request_id)
    assert lifecycle.provision(ten[1].pk) == "granted"
    assert _slot_of(ten[1]) is None
    # Left in progress: ten[2:7], ten[8:] and the eleventh.
    assert lifecycle.outstanding() == MAX_OUTSTANDING_OPERATIONS - 2
    for grant in (ten[0], ten[1], twelfth):
        grant.refresh_from_db()
        assert grant.status == GrantStatus.ACTIVE and _in_aws_for(grant) == 1


def _in_aws_for(grant: Grant) -> int:
    sso = session.management_client("sso-admin")
    found = sso.list_account_assignments(
        InstanceArn=grant.permission_set.instance_arn,
        AccountId=grant.account.account_id,
        PermissionSetArn=grant.permission_set.arn,
    )["AccountAssignments"]
    return sum(1 for a in found if a["PrincipalId"] == grant.principal.identity_store_principal_id)


def test_a_revocation_waits_for_a_creation_still_in_progress_and_holds_its_slot_until_deleted(emulated, slow_aws):
    grant = _approved(emulated)
    assert lifecycle.provision(grant.pk) == "retrying"
    grant.refresh_from_db()
    creation = grant.creation_request_id
    # Ended early while AWS is still creating it: nothing is deleted before the creation is over.
    services.end_grant(actor=emulated.users["requester"], grant=grant)
    with calls.counting() as log:
        assert lifecycle.revoke(grant.pk) == "retrying"
    assert log.count("sso-admin", "DeleteAccountAssignment") == 0
    assert (_slot_of(grant).operation, _slot_of(grant).request_id) == ("create", creation)

    slow_aws.finish(creation)
    with calls.counting() as log:
        assert lifecycle.revoke(grant.pk) == "retrying"  # the deletion is in progress in its turn
    assert log.count("sso-admin", "DeleteAccountAssignment") == 1
    grant.refresh_from_db()
    slot = _slot_of(grant)
    assert (slot.operation, slot.request_id, slot.claimed_at) == ("delete", grant.deletion_request_id, None)
    assert grant.status == GrantStatus.REVOKING

    # The worker is killed while it waits (its lease runs out): the slot is still held, the sweep
    # asks AWS and keeps it while the deletion is in progress.
    from governance.jit.models import AssignmentSlot

    AssignmentSlot.objects.filter(pk=slot.pk).update(claimed_at=timezone.now() - lifecycle.SLOT_LEASE * 2)
    assert lifecycle.recover_slots() == 0 and lifecycle.outstanding() == 1
    slow_aws.finish(grant.deletion_request_id)
    with calls.counting() as log:
        assert lifecycle.revoke(grant.pk) == "revoked"
    assert log.count("sso-admin", "DeleteAccountAssignment") == 0
    assert _slot_of(grant) is None and lifecycle.outstanding() == 0
    assert _in_aws(emulated, grant) == 0
