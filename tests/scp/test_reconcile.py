"""A change request left APPLYING (the portal or its database died between the AWS write and its
record) is settled from what AWS holds, against the emulator: landed, not landed, or moved on."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.aws import session
from governance.inventory.models import Policy, PolicyKind
from governance.inventory.sync import sync_organization
from governance.scp import services, tasks
from governance.scp.models import ChangeKind, ChangeRequest, ChangeStatus, PolicyRevision

pytestmark = pytest.mark.django_db

DENY_DELETE = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "NoBucketDeletes", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}],
}
REASON = "Protect production buckets from deletion (ticket SEC-42)."


class DatabaseGone(Exception):
    """The database lost right after the AWS write: the outcome is never recorded."""


@pytest.fixture
def admins(fresh_demo_org):
    from tests.fixtures.personas import make_persona_user

    assert not sync_organization().errors
    return make_persona_user("policy_admin"), make_persona_user("policy_admin_2")


def _approved(admins, **proposal) -> ChangeRequest:
    paula, peter = admins
    change = services.propose_change(actor=paula, reason=REASON, **proposal)
    tasks.run_impact(change.pk)
    change.refresh_from_db()
    return services.approve_change(change=change, actor=peter)


def _crashed_after_the_write(change: ChangeRequest, actor, monkeypatch) -> ChangeRequest:
    """Apply, with the database gone once AWS has answered: the request stays APPLYING."""
    finish = services._finish

    def gone(*args, **kwargs):
        if kwargs.get("status") == ChangeStatus.APPLIED:
            raise DatabaseGone
        return finish(*args, **kwargs)

    monkeypatch.setattr(services, "_finish", gone)
    with pytest.raises(DatabaseGone):
        services.apply_change(change=change, actor=actor)
    monkeypatch.setattr(services, "_finish", finish)
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPLYING
    return change


def _crashed_before_the_write(change: ChangeRequest) -> ChangeRequest:
    """Marked APPLYING, then gone before AWS was called."""
    ChangeRequest.objects.filter(pk=change.pk).update(status=ChangeStatus.APPLYING)
    change.refresh_from_db()
    return change


def _long_ago(change: ChangeRequest) -> ChangeRequest:
    ChangeRequest.objects.filter(pk=change.pk).update(updated_at=timezone.now() - services.STUCK_AFTER - timedelta(1))
    change.refresh_from_db()
    return change


def _scp(name: str) -> Policy:
    return Policy.objects.present().get(kind=PolicyKind.SCP, name=name)


def _actions(change: ChangeRequest) -> list[str]:
    events = AuditEvent.objects.filter(object_type="scp.changerequest", object_id=str(change.pk)).order_by("id")
    return list(events.values_list("action", flat=True))


def test_an_update_that_landed_before_the_crash_is_recorded_as_applied(admins, monkeypatch):
    paula, peter = admins
    policy = _scp("DenyIamUserCreation")
    change = _approved(admins, kind=ChangeKind.UPDATE, policy=policy, document_text=json.dumps(DENY_DELETE))
    change = _crashed_after_the_write(change, peter, monkeypatch)
    org = session.management_client("organizations")
    assert json.loads(org.describe_policy(PolicyId=policy.aws_policy_id)["Policy"]["Content"]) == DENY_DELETE

    with pytest.raises(services.ChangeError, match="may still be running"):
        services.reconcile_applying(change=change, actor=paula)  # an apply may still be in flight
    assert ChangeRequest.objects.get(pk=change.pk).status == ChangeStatus.APPLYING

    settled = services.reconcile_applying(change=_long_ago(change), actor=paula)
    assert settled.status == ChangeStatus.APPLIED and settled.applied_by == paula and not settled.error
    assert PolicyRevision.objects.get(change=settled).document == DENY_DELETE
    assert _actions(settled)[-3:] == ["scp.change.apply_started", "scp.change.reconciled", "scp.change.applied"]
    reconciled = AuditEvent.objects.get(action="scp.change.reconciled", object_id=str(change.pk))
    assert reconciled.after["found_in_aws"] == ChangeStatus.APPLIED and reconciled.actor_name == paula.username

    with pytest.raises(services.ChangeError, match="this one is applied"):
        services.reconcile_applying(change=settled, actor=peter)  # settled once


def test_an_update_that_never_reached_aws_fails_and_can_be_applied_again(admins):
    paula, peter = admins
    policy = _scp("DenyIamUserCreation")
    change = _long_ago(_crashed_before_the_write(_approved(admins, kind=ChangeKind.UPDATE, policy=policy,
                                                            document_text=json.dumps(DENY_DELETE))))  # fmt: skip
    settled = services.reconcile_applying(change=change, actor=peter)
    assert settled.status == ChangeStatus.FAILED and "interrupted before AWS changed anything" in settled.error
    assert not PolicyRevision.objects.filter(change=settled).exists()
    applied = services.apply_change(change=settled, actor=paula)
    assert applied.status == ChangeStatus.APPLIED, applied.error


def test_an_update_whose_policy_moved_on_in_aws_goes_stale(admins):
    _, peter = admins
    policy = _scp("DenyIamUserCreation")
    change = _crashed_before_the_write(
        _approved(admins, kind=ChangeKind.UPDATE, policy=policy, document_text=json.dumps(DENY_DELETE))
    )
    other = {**DENY_DELETE, "Statement": [{**DENY_DELETE["Statement"][0], "Action": "s3:PutBucketPolicy"}]}
    session.management_client("organizations").update_policy(PolicyId=policy.aws_policy_id, Content=json.dumps(other))
    settled = services.reconcile_applying(change=_long_ago(change), actor=peter)
    assert settled.status == ChangeStatus.STALE and "rebase" in settled.error


def test_a_create_and_an_attach_that_landed_are_applied_and_ones_that_did_not_fail(admins, fresh_demo_org, monkeypatch):
    paula, peter = admins
    create = _approved(admins, kind=ChangeKind.CREATE, name="DenyBucketDeletes", document_text=json.dumps(DENY_DELETE))
    create = services.reconcile_applying(change=_long_ago(_crashed_after_the_write(create, peter, monkeypatch)),
                                         actor=paula)  # fmt: skip
    assert create.status == ChangeStatus.APPLIED and create.aws_policy_id  # found by its name
    org = session.management_client("organizations")
    assert org.describe_policy(PolicyId=create.aws_policy_id)["Policy"]["PolicySummary"]["Name"] == "DenyBucketDeletes"

    never = _approved(admins, kind=ChangeKind.CREATE, name="DenyNothingYet", document_text=json.dumps(DENY_DELETE))
    never = services.reconcile_applying(change=_long_ago(_crashed_before_the_write(never)), actor=paula)
    assert never.status == ChangeStatus.FAILED and not never.aws_policy_id

    assert not sync_organization().errors  # the new policy in the inventory, to attach
    target = Policy.objects.present().get(aws_policy_id=create.aws_policy_id)
    account = fresh_demo_org.accounts["sandbox-olga"]
    attach = _approved(admins, kind=ChangeKind.ATTACH, policy=target, target_id=account)
    attach = services.reconcile_applying(change=_long_ago(_crashed_after_the_write(attach, peter, monkeypatch)),
                                         actor=paula)  # fmt: skip
    assert attach.status == ChangeStatus.APPLIED
    assert not sync_organization().errors  # the attachment in the inventory, to detach
    detach = _approved(admins, kind=ChangeKind.DETACH, policy=target, target_id=account)
    detach = services.reconcile_applying(change=_long_ago(_crashed_before_the_write(detach)), actor=paula)
    assert detach.status == ChangeStatus.FAILED  # still attached in AWS: the detach never ran


def test_when_aws_cannot_be_read_nothing_is_settled(admins, monkeypatch):
    from governance.aws.errors import AwsError
    from governance.aws.readers import org_policies

    _, peter = admins
    change = _long_ago(_crashed_before_the_write(_approved(admins, kind=ChangeKind.UPDATE,
                                                            policy=_scp("DenyIamUserCreation"),
                                                            document_text=json.dumps(DENY_DELETE))))  # fmt: skip

    def unreadable(*args, **kwargs):
        raise AwsError("Throttling: Rate exceeded")

    monkeypatch.setattr(org_policies, "read_policy", unreadable)
    with pytest.raises(AwsError):
        services.reconcile_applying(change=change, actor=peter)
    assert ChangeRequest.objects.get(pk=change.pk).status == ChangeStatus.APPLYING
    assert "scp.change.reconciled" not in _actions(change)


def test_only_a_policy_admin_reconciles_from_the_request_page_after_a_fresh_mfa_login(fresh_demo_org, persona_client):
    from django.contrib.auth import get_user_model

    assert not sync_organization().errors
    page_client = persona_client("policy_admin")
    users = get_user_model().objects
    admins = (users.get(username="paula.policy"), users.get(username="peter.policy"))  # made with the client
    change = _long_ago(_crashed_before_the_write(_approved(admins, kind=ChangeKind.UPDATE,
                                                            policy=_scp("DenyIamUserCreation"),
                                                            document_text=json.dumps(DENY_DELETE))))  # fmt: skip
    with pytest.raises(services.ChangeError, match="Only policy admins"):
        services.reconcile_applying(change=change, actor=users.get(username="arthur.auditor"))
    page = page_client.get(reverse("scp:change", args=[change.pk]))
    assert b'id="reconcile"' in page.content and b"Being applied since" in page.content
    path = reverse("scp:change_reconcile", args=[change.pk])
    stale = persona_client("policy_admin", mfa=False).post(path)
    assert stale.status_code == 302 and ChangeRequest.objects.get(pk=change.pk).status == ChangeStatus.APPLYING
    done = page_client.post(path, follow=True)
    assert b"interrupted before AWS changed anything" in done.content
    assert ChangeRequest.objects.get(pk=change.pk).status == ChangeStatus.FAILED
