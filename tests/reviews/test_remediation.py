"""Remediation against the emulator: revokes carried out through the writer gate as the approving
administrator, verified by the next sync; a refused or failed call leaves the item failed and retriable."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSResponse
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.authz.services import link_all_users
from governance.aws import calls, emulator, session
from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization
from governance.reviews import remediation, services, tasks
from governance.reviews.launch import launch
from governance.reviews.models import Decision, ItemKind, RemediationStatus, ReviewItem
from governance.reviews.templates_demo import ensure_demo_template
from tests.fixtures.personas import make_persona_user

pytestmark = pytest.mark.django_db


def _sync():
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    link_all_users()
    return run


def _closed_with_revokes(carla):
    """The demo's quarterly campaign, launched by carla, with bob.data's inline policy, group
    membership and access key and one Identity Center user assignment decided revoke, then closed."""
    campaign = launch(template=ensure_demo_template(), actor=carla, period="2026-Q4").campaign
    items = ReviewItem.objects.filter(campaign=campaign)
    bob = items.filter(principal_arn__endswith=":user/bob.data")
    chosen = [
        bob.filter(kind=ItemKind.USER_POLICY, target_arn__contains="#inline/").get(),
        bob.filter(kind=ItemKind.GROUP_MEMBERSHIP).get(),
        bob.filter(kind=ItemKind.ACCESS_KEY).get(),
        items.filter(kind=ItemKind.SSO_ASSIGNMENT, principal_arn__contains=":user/").order_by("id").first(),
    ]
    ReviewItem.objects.filter(pk__in=[i.pk for i in chosen]).update(decision=Decision.REVOKE, justification="unused")
    services.close_campaign(campaign=campaign, actor=carla)
    return campaign, ReviewItem.objects.filter(pk__in=[i.pk for i in chosen]).order_by("id")


def _bob_in_aws(demo):
    account_id = ReviewItem.objects.filter(principal_arn__endswith=":user/bob.data").values_list(
        "aws_account_id", flat=True
    )[0]
    iam = session.client_for("iam", session.member_credentials(account_id))
    return {
        "inline": iam.list_user_policies(UserName="bob.data")["PolicyNames"],
        "groups": [g["GroupName"] for g in iam.list_groups_for_user(UserName="bob.data")["Groups"]],
        "keys": {k["Status"] for k in iam.list_access_keys(UserName="bob.data")["AccessKeyMetadata"]},
    }


def test_approved_revokes_run_in_aws_as_the_approver_and_the_next_sync_verifies_them(fresh_demo_org):
    _sync()
    carla = make_persona_user("campaign_admin")
    campaign, rows = _closed_with_revokes(carla)
    assert {r.remediation_status for r in rows.all()} == {RemediationStatus.AWAITING_APPROVAL}
    before = _bob_in_aws(fresh_demo_org)
    assert before["inline"] and before["groups"] and before["keys"] == {"Active"}
    assert tasks.remediate_campaign(campaign_id=campaign.pk)["items"] == 0, "nothing runs before approval"

    assert remediation.approve(campaign=campaign, actor=carla) == 4
    result = tasks.remediate_campaign(campaign_id=campaign.pk)
    assert result == {"items": 4, "done": 4, "failed": 0}, list(rows.values_list("kind", "remediation_error"))
    assert all(r.remediation_request_id and r.remediation_attempts == 1 for r in rows.all())
    after = _bob_in_aws(fresh_demo_org)
    assert (after["inline"], after["keys"]) == ([], {"Inactive"})
    assert set(after["groups"]) == set(before["groups"]) - {rows[1].target_arn.rsplit("/", 1)[-1]}
    assert AuditEvent.objects.filter(action="reviews.remediation_done").count() == 4
    # Running again does nothing twice: only pending or failed items run.
    assert tasks.remediate_campaign(campaign_id=campaign.pk)["items"] == 0

    run = _sync()
    assert tasks.after_sync(run_id=run.pk)["verified"] == 4
    assert {r.remediation_status for r in rows.all()} == {RemediationStatus.VERIFIED}
    assert all(r.verified_at for r in rows.all())


def _policy_items(campaign):
    """One item of each policy revoke the first test does not make: a managed policy attached to a user,
    one attached to a role, a role's inline policy (never on a role the portal or the demo's
    administration relies on)."""
    from django.conf import settings

    items = ReviewItem.objects.filter(campaign=campaign).order_by("id")
    protected = {settings.AWS_MEMBER_ROLE_NAME, settings.AWS_WRITER_ROLE_NAME, "OrganizationAccountAccessRole"}
    roles = items.filter(kind=ItemKind.ROLE_POLICY).exclude(principal_name__in=protected)
    roles = roles.exclude(principal_name__startswith="AWSReservedSSO").exclude(principal_name__startswith="Governance")
    chosen = {
        "iam:DetachUserPolicy": items.filter(kind=ItemKind.USER_POLICY, via="direct").first(),
        "iam:DetachRolePolicy": roles.filter(via="direct").first(),
        "iam:DeleteRolePolicy": roles.filter(via="inline").first(),
    }
    missing = [action for action, item in chosen.items() if item is None]
    assert not missing, f"the demo campaign has no item for {missing}"
    return chosen


def _held_in_aws(item) -> bool:
    iam = session.client_for("iam", session.member_credentials(item.aws_account_id))
    name = item.principal_arn.rsplit("/", 1)[-1]
    if item.kind == ItemKind.USER_POLICY:
        attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        return item.target_arn in {p["PolicyArn"] for p in attached}
    if item.via == "inline":
        return item.target_name in iam.list_role_policies(RoleName=name)["PolicyNames"]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    return item.target_arn in {p["PolicyArn"] for p in attached}


def test_detached_and_deleted_policies_of_users_and_roles_are_revoked_in_aws_and_verified(fresh_demo_org):
    """The other three policy revokes (DetachUserPolicy, DetachRolePolicy, DeleteRolePolicy), each carried
    out against the emulator through the writer gate, so the recorded-calls check of deploy/ sees them."""
    from tests.fixtures.aws_calls import Recorder

    _sync()
    carla = make_persona_user("campaign_admin")
    campaign = launch(template=ensure_demo_template(), actor=carla, period="2026-Q4").campaign
    chosen = _policy_items(campaign)
    assert all(_held_in_aws(item) for item in chosen.values())
    ReviewItem.objects.filter(pk__in=[i.pk for i in chosen.values()]).update(
        decision=Decision.REVOKE, justification="unused"
    )
    services.close_campaign(campaign=campaign, actor=carla)
    assert remediation.approve(campaign=campaign, actor=carla) == 3
    recorder = Recorder()
    stop = calls.observe(recorder)
    try:
        result = tasks.remediate_campaign(campaign_id=campaign.pk)
    finally:
        stop()
    assert result == {"items": 3, "done": 3, "failed": 0}
    written = {(principal, action) for principal, action, *_ in recorder.records if principal == "writer"}
    assert written == {("writer", action) for action in chosen}
    for action, item in chosen.items():
        item.refresh_from_db()
        assert item.remediation_status == RemediationStatus.DONE, (action, item.remediation_error)
        assert not _held_in_aws(item), action
        assert remediation.action_for(kind=item.kind, via=item.via, decision=item.decision) == action
        write = AuditEvent.objects.get(action="aws.write", after__aws_action=action)
        assert write.actor_name == "carla.campaign" and write.after["source_identity"] == "carla.campaign"

    run = _sync()
    assert tasks.after_sync(run_id=run.pk)["verified"] == 3
    assert {i.remediation_status for i in ReviewItem.objects.filter(pk__in=[i.pk for i in chosen.values()])} == {
        RemediationStatus.VERIFIED
    }


def _hook(event: str, handler):
    sts = session.management_client("sts")
    sts.meta.events.register(event, handler, unique_id="test-remediation")
    return lambda: sts.meta.events.unregister(event, unique_id="test-remediation")


def test_a_refused_assume_role_leaves_the_item_failed_and_retriable_and_nothing_changed(fresh_demo_org):
    _sync()
    carla = make_persona_user("campaign_admin")
    campaign, rows = _closed_with_revokes(carla)
    remediation.approve(campaign=campaign, actor=carla)
    before = _bob_in_aws(fresh_demo_org)

    def deny(params, **kwargs):
        return AWSResponse("https://sts.amazonaws.com", 403, {}, None), {
            "Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}
        }

    undo = _hook("before-call.sts.AssumeRole", deny)
    try:
        result = tasks.remediate_campaign(campaign_id=campaign.pk)
    finally:
        undo()
    assert result == {"items": 4, "done": 0, "failed": 4}
    assert _bob_in_aws(fresh_demo_org) == before
    for row in rows.all():
        assert row.remediation_status == RemediationStatus.FAILED and row.remediation_attempts == 1
        assert "sts:AssumeRole" in row.remediation_error and row.remediation_next_at > timezone.now()
        assert row.remediated_at is None
    assert AuditEvent.objects.filter(action="reviews.remediation_failed").count() == 4
    # Not due again until its back-off passes; then it runs and succeeds.
    assert remediation.due_items(campaign_id=campaign.pk) == []
    ReviewItem.objects.filter(pk__in=[r.pk for r in rows]).update(remediation_next_at=timezone.now())
    assert tasks.remediate_campaign(campaign_id=campaign.pk) == {"items": 4, "done": 4, "failed": 0}
    assert all(r.remediation_attempts == 2 and r.remediation_error == "" for r in rows.all())


def test_a_throttled_revoke_fails_retriably_and_gives_up_after_the_last_attempt(fresh_demo_org, aws_emulator):
    _sync()
    carla = make_persona_user("campaign_admin")
    campaign, rows = _closed_with_revokes(carla)
    remediation.approve(campaign=campaign, actor=carla)
    key = rows[2]
    emulator.throttle(aws_emulator.url, every=1)
    try:
        assert remediation.remediate_item(item_id=key.pk) == RemediationStatus.FAILED
    finally:
        emulator.throttle(aws_emulator.url, every=0)
    key.refresh_from_db()
    assert "throttl" in key.remediation_error.lower() and key.remediation_attempts == 1
    assert _bob_in_aws(fresh_demo_org)["keys"] == {"Active"}
    ReviewItem.objects.filter(pk=key.pk).update(remediation_attempts=remediation.MAX_ATTEMPTS)
    ReviewItem.objects.filter(pk=key.pk).update(remediation_next_at=timezone.now())
    assert key.pk not in remediation.due_items(campaign_id=campaign.pk), "given up: shown, retried by hand"
    assert remediation.retry_failed(campaign=campaign, actor=carla) == 1
    assert AuditEvent.objects.filter(action="reviews.remediation_retried").count() == 1
    assert remediation.remediate_item(item_id=key.pk) == RemediationStatus.DONE
    assert _bob_in_aws(fresh_demo_org)["keys"] == {"Inactive"}


def test_the_gate_refuses_someone_without_a_permission_set_on_the_account(fresh_demo_org):
    _sync()
    carla = make_persona_user("campaign_admin")
    campaign, rows = _closed_with_revokes(carla)
    maria = make_persona_user("manager")
    remediation.approve(campaign=campaign, actor=maria)
    result = tasks.remediate_campaign(campaign_id=campaign.pk)
    assert result["done"] == 0 and result["failed"] == 4
    assert all("permission set" in r.remediation_error or "allow" in r.remediation_error for r in rows.all())
    assert _bob_in_aws(fresh_demo_org)["keys"] == {"Active"}


def test_a_manual_campaigns_revokes_take_a_ticket_in_the_admin_and_the_next_sync_verifies_them(fresh_demo_org):
    """Manual mode: nothing is called in AWS; the administrator records the ticket the work was
    done under (all the chosen items or none), and the next sync marks what is gone verified."""
    from django.test import Client

    from tests.fixtures.personas import fresh_mfa_session

    _sync()
    carla = make_persona_user("campaign_admin")
    template = ensure_demo_template()
    template.remediation_mode = "manual"
    template.save(update_fields=["remediation_mode"])
    campaign, rows = _closed_with_revokes(carla)
    assert {r.remediation_status for r in rows.all()} == {RemediationStatus.MANUAL}
    assert tasks.remediate_campaign(campaign_id=campaign.pk)["items"] == 0, "manual: nothing runs in AWS"
    kept = ReviewItem.objects.filter(campaign=campaign, decision=Decision.KEEP).first()
    if kept is None:
        kept = ReviewItem.objects.filter(campaign=campaign).exclude(pk__in=[r.pk for r in rows]).first()

    admin = Client()
    admin.force_login(carla, backend="allauth.account.auth_backends.AuthenticationBackend")
    fresh_mfa_session(admin, subject="campaign_admin")
    url = "/admin/reviews/reviewitem/"

    def act(ticket: str, items) -> list[str]:
        data = {"action": "record_ticket", "ticket": ticket, "index": 0, "_selected_action": [i.pk for i in items]}
        response = admin.post(url, data, follow=True)
        assert response.redirect_chain and response.status_code == 200, response.content[:500]
        return [str(m) for m in response.context["messages"]]

    assert act("  ", rows) == ["Give the ticket reference."]
    assert "nothing was recorded" in act("OPS-7", [*rows, kept])[0]
    assert not ReviewItem.objects.filter(campaign=campaign).exclude(remediation_ticket="").exists()
    assert not AuditEvent.objects.filter(action="reviews.remediation_ticket").exists()

    assert act("OPS-7", rows) == ["Ticket OPS-7 recorded on 4 item(s)."]
    assert set(rows.values_list("remediation_ticket", "remediation_status")) == {("OPS-7", RemediationStatus.MANUAL)}
    assert all(r.remediated_at for r in rows.all())
    events = AuditEvent.objects.filter(action="reviews.remediation_ticket")
    assert sorted(int(e.object_id) for e in events) == sorted(r.pk for r in rows)
    assert {e.actor_id for e in events} == {carla.pk}

    # Done by hand in AWS: the inline policy and the key; the next sync verifies those two only.
    (inline, _, key, _) = list(rows)
    account_iam = session.client_for("iam", session.member_credentials(inline.aws_account_id))
    account_iam.delete_user_policy(UserName="bob.data", PolicyName=inline.target_name)
    account_iam.update_access_key(UserName="bob.data", AccessKeyId=key.target_arn, Status="Inactive")
    run = _sync()
    assert tasks.after_sync(run_id=run.pk)["verified"] == 2
    verified = set(rows.filter(remediation_status=RemediationStatus.VERIFIED).values_list("pk", flat=True))
    assert verified == {inline.pk, key.pk}


def test_a_trust_revoke_waits_for_its_ticket_in_every_mode_and_a_scheduled_automatic_one_for_approval(
    fresh_demo_org,
):
    """A role's trust is changed by hand: in an approval (or automatic) campaign its revoke asks for
    the ticket at once instead of failing at every attempt; approving runs the others only. An
    automatic campaign the schedule launched (no administrator) waits for an approval to act as."""
    _sync()
    carla = make_persona_user("campaign_admin")
    template = ensure_demo_template()
    campaign = launch(template=template, actor=carla, period="2026-Q4").campaign
    items = ReviewItem.objects.filter(campaign=campaign)
    trust = items.filter(kind=ItemKind.ROLE_TRUST).order_by("id").first()
    key = items.filter(kind=ItemKind.ACCESS_KEY, principal_arn__endswith=":user/bob.data").get()
    items.filter(pk__in=[trust.pk, key.pk]).update(decision=Decision.REVOKE, justification="not needed")
    services.close_campaign(campaign=campaign, actor=carla)
    trust.refresh_from_db()
    assert trust.remediation_status == RemediationStatus.MANUAL
    assert remediation.approve(campaign=campaign, actor=carla) == 1, "the key only"
    tasks.remediate_campaign(campaign_id=campaign.pk)
    trust.refresh_from_db()
    key.refresh_from_db()
    assert (trust.remediation_status, trust.remediation_attempts, trust.remediation_error) == (
        RemediationStatus.MANUAL,
        0,
        "",
    )
    assert key.remediation_status == RemediationStatus.DONE
    assert remediation.record_ticket(items=items.filter(pk=trust.pk), ticket="SEC-12", actor=carla) == 1

    template.remediation_mode = "automatic"
    template.save(update_fields=["remediation_mode"])
    scheduled = launch(template=template, actor=None, period="2027-Q1").campaign
    assert scheduled.launched_by is None
    bob_key = ReviewItem.objects.filter(campaign=scheduled, kind=ItemKind.ACCESS_KEY).order_by("id").first()
    ReviewItem.objects.filter(pk=bob_key.pk).update(decision=Decision.REVOKE, justification="unused")
    services.close_campaign(campaign=scheduled, actor=None)
    bob_key.refresh_from_db()
    assert bob_key.remediation_status == RemediationStatus.AWAITING_APPROVAL
    assert remediation.approve(campaign=scheduled, actor=carla) == 1
