"""Requests and approvals: eligibility, the rules every request obeys, and who may decide."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from governance.audit.models import AuditEvent
from governance.jit import eligibility, services
from governance.jit.models import (
    AccessRequest,
    Approval,
    ApproverSource,
    Decision,
    Grant,
    GrantStatus,
    RequestKind,
    RequestStatus,
)
from governance.jit.services import JitError
from tests.jit.helpers import give_assignment_rights, make_policy, submit

pytestmark = pytest.mark.django_db


def _actions(obj) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_it_offers_the_requester_what_the_policy_covers(jit, personas):
    labels = [c.label for c in eligibility.choices_for(personas["requester"])]
    assert labels == [
        "AdministratorAccess on payments-dev (333333333333)",
        "ReadOnlyAccess on payments-dev (333333333333)",
        "AdministratorAccess on payments-prod (222222222222)",
        "ReadOnlyAccess on payments-prod (222222222222)",
    ]


def test_it_covers_every_account_under_a_named_ou(jit, personas):
    jit.policy.accounts.set([])
    jit.policy.units.set([jit.production_ou])
    accounts = {c.account.account_id for c in eligibility.choices_for(personas["requester"])}
    assert accounts == {jit.prod.account_id}


@pytest.mark.parametrize("key", ["approver", "manager", "outsider", "auditor"])
def test_it_offers_nothing_to_people_outside_the_requester_group(jit, personas, key):
    assert eligibility.choices_for(personas[key]) == []
    with pytest.raises(JitError, match=r"not eligible|not linked"):
        submit(jit, personas[key])
    assert not AccessRequest.objects.exists()


def test_it_offers_nothing_under_a_disabled_policy(jit, personas):
    jit.policy.enabled = False
    jit.policy.save()
    assert eligibility.choices_for(personas["requester"]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minutes": 121}, "at most 120 minutes"),
        ({"minutes": 2}, "at least 5 minutes"),
        ({"justification": "   "}, "justification is required"),
        ({"ticket": "OPS 12; drop table"}, "ticket reference"),
    ],
)
def test_it_refuses_a_bad_request_and_writes_nothing(jit, personas, kwargs, message):
    with pytest.raises(JitError, match=message):
        submit(jit, personas["requester"], **kwargs)
    assert not AccessRequest.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="jit.").exists()


def test_it_refuses_a_start_in_the_past(jit, personas):
    from datetime import timedelta

    from django.utils import timezone

    with pytest.raises(JitError, match="in the past"):
        submit(jit, personas["requester"], starts_at=timezone.now() - timedelta(hours=1))


def test_it_refuses_a_set_the_policy_does_not_cover(jit, personas):
    from tests.jit.helpers import permission_set

    other = permission_set("Billing")
    with pytest.raises(JitError, match="does not cover Billing"):
        submit(jit, personas["requester"], permission_set=other)


def test_it_refuses_what_the_requester_already_holds_through_a_group(jit, personas):
    from governance.inventory.models import AccountAssignment
    from tests.fixtures.personas import _synced

    group = jit.inv.sso_groups["jit-requesters"]
    AccountAssignment.objects.create(
        permission_set=jit.read_only,
        account=jit.dev,
        aws_account_id=jit.dev.account_id,
        principal=group,
        principal_type="GROUP",
        principal_aws_id=group.aws_id,
        **_synced("standing"),
    )
    with pytest.raises(JitError, match="already hold ReadOnlyAccess on 333333333333 through the group jit-requesters"):
        submit(jit, personas["requester"])


def test_it_refuses_a_second_request_for_the_same_access(jit, personas):
    submit(jit, personas["requester"])
    with pytest.raises(JitError, match="already have a pending request"):
        submit(jit, personas["requester"])


def test_it_asks_the_approvers_and_audits_the_request(jit, personas):
    access_request = submit(jit, personas["requester"], ticket="OPS-1234")
    assert access_request.status == RequestStatus.PENDING
    assert access_request.principal.user_name == "rick.requester"
    assert _actions(access_request) == ["jit.request.submitted"]
    from governance.jit import people

    assert [u.username for u in people.approvers_for(access_request)] == ["anna.approver"]


def test_it_never_lets_anyone_approve_their_own_request(jit, personas):
    from governance.inventory.models import GroupMembership
    from tests.fixtures.personas import _synced

    GroupMembership.objects.create(
        group=jit.inv.sso_groups["jit-approvers"],
        member=jit.inv.sso_users["requester"],
        account=jit.inv.governance_account,
        **_synced("rick-approves"),
    )
    from governance.authz.capabilities import forget

    forget(personas["requester"])
    access_request = submit(jit, personas["requester"])
    with pytest.raises(JitError, match="Nobody decides their own request"):
        services.decide_request(actor=personas["requester"], access_request=access_request, decision=Decision.APPROVE)
    assert not Approval.objects.exists()
    assert access_request.pk not in eligibility_inbox(personas["requester"])


def eligibility_inbox(user) -> list[int]:
    routed = eligibility.decidable_filter(user)
    return [] if routed is None else list(AccessRequest.objects.filter(routed).values_list("pk", flat=True))


@pytest.mark.parametrize("key", ["manager", "auditor", "outsider"])
def test_it_refuses_deciders_outside_the_approver_group(jit, personas, key):
    access_request = submit(jit, personas["requester"])
    with pytest.raises(JitError):
        services.decide_request(actor=personas[key], access_request=access_request, decision=Decision.APPROVE)
    assert not Approval.objects.exists()


def test_one_approval_grants_and_audits(jit, personas):
    access_request = submit(jit, personas["requester"])
    outcome = services.decide_request(
        actor=personas["approver"], access_request=access_request, decision=Decision.APPROVE, comment="ok"
    )
    assert (outcome.counted, outcome.status, outcome.approvals) == (True, RequestStatus.APPROVED, 1)
    grant = Grant.objects.get(request=access_request)
    assert grant.status == GrantStatus.SCHEDULED and grant.grantor == personas["campaign_admin"]
    assert grant.ends_at - grant.starts_at == access_request.duration
    assert _actions(access_request) == ["jit.request.submitted", "jit.request.approval", "jit.request.approved"]
    assert _actions(grant) == ["jit.grant.scheduled"]


def test_two_approvals_required_and_the_same_person_twice_counts_once(jit, personas, second_approver):
    jit.policy.approvals_required = 2
    jit.policy.save()
    access_request = submit(jit, personas["requester"])
    first = services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    again = services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    assert (first.counted, first.approvals, first.status) == (True, 1, RequestStatus.PENDING)
    assert (again.counted, again.approvals, again.status) == (False, 1, RequestStatus.PENDING)
    assert not Grant.objects.exists()
    last = services.decide_request(actor=second_approver, access_request=access_request, decision="approve")
    assert (last.counted, last.approvals, last.status) == (True, 2, RequestStatus.APPROVED)
    assert Grant.objects.filter(request=access_request).count() == 1
    assert Approval.objects.filter(request=access_request).count() == 2


def test_a_deny_needs_a_comment_and_ends_the_request(jit, personas):
    access_request = submit(jit, personas["requester"])
    with pytest.raises(JitError, match="comment is required"):
        services.decide_request(actor=personas["approver"], access_request=access_request, decision=Decision.DENY)
    services.decide_request(
        actor=personas["approver"], access_request=access_request, decision=Decision.DENY, comment="not on call"
    )
    access_request.refresh_from_db()
    assert access_request.status == RequestStatus.DENIED and not Grant.objects.exists()
    assert "jit.request.denied" in _actions(access_request)


def test_it_routes_to_the_account_owner_when_the_policy_says_so(jit, personas):
    jit.policy.approver_source = ApproverSource.ACCOUNT_OWNER
    jit.policy.approver_group = None
    jit.policy.save()
    access_request = submit(jit, personas["requester"])
    with pytest.raises(JitError, match="Only the owner"):
        services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    assert eligibility_inbox(personas["manager"]) == [access_request.pk]
    services.decide_request(actor=personas["manager"], access_request=access_request, decision="approve")
    assert Grant.objects.filter(request=access_request).exists()


def test_it_auto_approves_listed_sets_outside_the_excepted_ous(jit, personas):
    jit.policy.auto_approve_permission_sets.set([jit.read_only])
    jit.policy.auto_approve_except_units.set([jit.production_ou])
    on_dev = submit(jit, personas["requester"], account=jit.dev)
    on_prod = submit(jit, personas["requester"], account=jit.prod)
    admin_on_dev = submit(jit, personas["requester"], account=jit.dev, permission_set=jit.admin)
    assert (on_dev.status, on_dev.auto_approved) == (RequestStatus.APPROVED, True)
    assert Grant.objects.filter(request=on_dev).exists()
    assert on_prod.status == RequestStatus.PENDING and admin_on_dev.status == RequestStatus.PENDING


def test_break_glass_is_self_approved_with_a_real_justification(jit, personas):
    policy = make_policy(
        name="break-glass",
        grantor=personas["campaign_admin"],
        requester_group=jit.inv.sso_groups["jit-requesters"],
        sets=[jit.admin],
        accounts=[jit.prod],
        break_glass=True,
        max_duration_minutes=60,
    )
    with pytest.raises(JitError, match="at least 20 characters"):
        submit(
            jit,
            personas["requester"],
            policy=policy,
            account=jit.prod,
            permission_set=jit.admin,
            justification="outage",
        )
    access_request = submit(
        jit,
        personas["requester"],
        policy=policy,
        account=jit.prod,
        permission_set=jit.admin,
        justification="payments outage INC-42, on-call engineer needs admin now",
    )
    assert access_request.status == RequestStatus.APPROVED and access_request.break_glass
    approval = Approval.objects.get(request=access_request)
    assert approval.approver == personas["requester"] and approval.comment.startswith("break-glass")
    grant = Grant.objects.get(request=access_request)
    assert _actions(access_request) == ["jit.request.submitted", "jit.request.break_glass", "jit.request.approved"]
    assert _actions(grant) == ["jit.grant.scheduled"]
    used = AuditEvent.objects.get(action="jit.request.break_glass")
    assert used.actor_name == "rick.requester"
    assert used.after["self_approved_by"] == "rick.requester"
    assert used.after["justification"].startswith("payments outage INC-42")
    assert "carla.campaign" in used.after["notified"]  # a JIT administrator, told at once
    assert AuditEvent.objects.get(action="jit.request.approved", object_id=str(access_request.pk)).after["how"] == (
        "break_glass"
    )


def test_the_requester_cancels_a_pending_request_only(jit, personas):
    access_request = submit(jit, personas["requester"])
    with pytest.raises(JitError, match="Only the requester"):
        services.cancel_request(actor=personas["approver"], access_request=access_request)
    services.cancel_request(actor=personas["requester"], access_request=access_request)
    access_request.refresh_from_db()
    assert access_request.status == RequestStatus.CANCELLED
    with pytest.raises(JitError, match="already cancelled"):
        services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")


def _granted(jit, personas, minutes=60):
    access_request = submit(jit, personas["requester"], minutes=minutes)
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get(request=access_request)
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ACTIVE)
    grant.refresh_from_db()
    return grant


def test_an_extension_needs_approval_again(jit, personas):
    grant = _granted(jit, personas)
    ends = grant.ends_at
    extension = services.request_extension(
        actor=personas["requester"], grant=grant, duration_minutes=30, justification="still debugging"
    )
    assert (extension.kind, extension.status, extension.extends) == (
        RequestKind.EXTENSION,
        RequestStatus.PENDING,
        grant,
    )
    grant.refresh_from_db()
    assert grant.ends_at == ends
    services.decide_request(actor=personas["approver"], access_request=extension, decision="approve")
    grant.refresh_from_db()
    assert (grant.ends_at - ends).total_seconds() == 30 * 60
    assert Grant.objects.count() == 1
    assert "jit.grant.extended" in _actions(grant)


def test_an_extension_stays_within_the_maximum(jit, personas):
    grant = _granted(jit, personas, minutes=100)
    with pytest.raises(JitError, match="longer than payments's 120 minutes"):
        services.request_extension(actor=personas["requester"], grant=grant, duration_minutes=30, justification="x")


def test_only_the_holder_asks_for_an_extension(jit, personas):
    grant = _granted(jit, personas)
    with pytest.raises(JitError, match="Only the person holding"):
        services.request_extension(actor=personas["approver"], grant=grant, duration_minutes=10, justification="x")


@pytest.mark.parametrize("key", ["requester", "campaign_admin"])
def test_the_holder_or_an_admin_ends_a_grant_early(jit, personas, key, django_capture_on_commit_callbacks):
    grant = _granted(jit, personas)
    with django_capture_on_commit_callbacks() as callbacks:
        services.end_grant(actor=personas[key], grant=grant)
    grant.refresh_from_db()
    assert grant.revoke_due_at is not None and grant.end_reason == "ended_early"
    assert grant.ended_by_name == personas[key].username
    assert (grant.revoke_as == personas[key]) is (key == "campaign_admin")
    assert len(callbacks) == 1  # the revoke task
    assert "jit.grant.ended_early" in _actions(grant)


def test_nobody_else_ends_a_grant(jit, personas):
    grant = _granted(jit, personas)
    with pytest.raises(JitError, match="Only the person holding the grant or a JIT administrator"):
        services.end_grant(actor=personas["approver"], grant=grant)


@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_approval_grants_once(jit, personas):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    access_request = submit(jit, personas["requester"])
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def click():
        from django.db import connections

        try:
            barrier.wait()
            outcomes.append(
                services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
            )
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(o.counted for o in outcomes) == [False, True]
    assert Grant.objects.filter(request=access_request).count() == 1
    assert Approval.objects.filter(request=access_request).count() == 1


def test_every_state_change_of_a_request_and_its_grant_is_audited(jit, personas, django_capture_on_commit_callbacks):
    denied = submit(jit, personas["requester"], permission_set=jit.admin)
    services.decide_request(
        actor=personas["approver"], access_request=denied, decision="deny", comment="use read-only first"
    )
    assert _actions(denied) == ["jit.request.submitted", "jit.request.denial", "jit.request.denied"]
    cancelled = submit(jit, personas["requester"], permission_set=jit.admin)
    services.cancel_request(actor=personas["requester"], access_request=cancelled)
    assert _actions(cancelled) == ["jit.request.submitted", "jit.request.cancelled"]

    approved = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=approved, decision="approve")
    grant = Grant.objects.get(request=approved)
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ACTIVE, provisioned_at=grant.starts_at)
    extension = services.request_extension(
        actor=personas["requester"], grant=grant, duration_minutes=10, justification="still digging"
    )
    services.decide_request(actor=personas["approver"], access_request=extension, decision="approve")
    with django_capture_on_commit_callbacks():
        services.end_grant(actor=personas["requester"], grant=grant)
    assert _actions(approved) == ["jit.request.submitted", "jit.request.approval", "jit.request.approved"]
    assert _actions(extension) == ["jit.request.submitted", "jit.request.approval", "jit.request.approved"]
    assert _actions(grant) == ["jit.grant.scheduled", "jit.grant.extended", "jit.grant.ended_early"]
    events = {e.action: e for e in AuditEvent.objects.filter(action__startswith="jit.")}
    assert events["jit.request.approval"].actor_name == "anna.approver"
    assert events["jit.grant.ended_early"].actor_name == "rick.requester"
    assert events["jit.request.denied"].after["status"] == RequestStatus.DENIED


def test_an_admin_retry_is_audited_and_only_admins_retry(jit, personas):
    from datetime import timedelta

    from django.utils import timezone

    access_request = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get(request=access_request)
    later = timezone.now() + timedelta(minutes=5)
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.PROVISIONING, next_attempt_at=later, attempts=2)
    with pytest.raises(JitError, match="Only a JIT administrator"):
        services.retry_grants(actor=personas["requester"], grants=[grant])
    assert "jit.grant.retry_requested" not in _actions(grant)

    assert services.retry_grants(actor=personas["campaign_admin"], grants=[grant]) == 1
    grant.refresh_from_db()
    assert grant.next_attempt_at is None
    event = AuditEvent.objects.get(action="jit.grant.retry_requested", object_id=str(grant.pk))
    assert event.actor_name == "carla.campaign" and event.before["attempts"] == 2


def test_create_policy_keeps_the_admin_forms_rules_and_audits(jit, personas):
    give_assignment_rights(jit)
    common = {
        "name": "seeded",
        "requester_group": jit.inv.sso_groups["jit-requesters"],
        "approver_group": jit.inv.sso_groups["jit-approvers"],
        "permission_sets": [jit.read_only],
        "accounts": [jit.dev],
    }
    with pytest.raises(JitError, match="cannot back this policy's grants"):
        services.create_policy(actor=None, grantor=personas["requester"], **common)
    with pytest.raises(JitError, match="at least one account or OU"):
        services.create_policy(actor=None, grantor=personas["campaign_admin"], **{**common, "accounts": []})
    with pytest.raises(JitError, match="Auto-approve only sets"):
        services.create_policy(
            actor=None, grantor=personas["campaign_admin"], auto_approve_permission_sets=[jit.admin], **common
        )
    assert not AccessRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="jit.policy.created").exists()

    policy = services.create_policy(actor=None, grantor=personas["campaign_admin"], **common)
    assert list(policy.permission_sets.all()) == [jit.read_only] and list(policy.accounts.all()) == [jit.dev]
    created = AuditEvent.objects.get(action="jit.policy.created")
    assert created.object_id == str(policy.pk) and created.after["grantor"] == "carla.campaign"
