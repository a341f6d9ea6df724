"""Just-in-time access in access reviews: live grants, "could be just-in-time", the period's grants, break-glass."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fixtures.personas import _synced

FALLBACK = "sam.security@example.com"


def _assign(permission_set, account, principal, kind="USER"):
    from governance.inventory.models import AccountAssignment

    return AccountAssignment.objects.create(
        permission_set=permission_set,
        account=account,
        aws_account_id=account.account_id,
        principal=principal,
        principal_type=kind,
        principal_aws_id=principal.aws_id,
        **_synced(f"assign:{permission_set.name}:{account.account_id}:{principal.arn}"),
    )


def _grant(jit, user, principal, *, permission_set, account, started, ended=None, break_glass=False, status=None):
    """A grant as the life cycle leaves it (provisioned; ended when `ended` is given), with its approval."""
    from governance.jit.models import AccessRequest, Grant, GrantStatus, RequestStatus

    request = AccessRequest.objects.create(
        policy=jit.policy,
        requester=user,
        requester_name=user.get_username(),
        principal=principal,
        account=account,
        permission_set=permission_set,
        starts_at=started,
        duration_minutes=60,
        justification="restore the payments database after INC-42",
        ticket="INC-42",
        approvals_required=1,
        break_glass=break_glass,
        status=RequestStatus.APPROVED,
        created_at=started,
    )
    return request, Grant.objects.create(
        request=request,
        policy=jit.policy,
        requester=user,
        principal=principal,
        account=account,
        permission_set=permission_set,
        grantor=jit.policy.grantor,
        status=status or (GrantStatus.ENDED if ended else GrantStatus.ACTIVE),
        starts_at=started,
        ends_at=ended or started + timedelta(hours=1),
        approved_at=started,
        provisioned_at=started,
        revoked_at=ended,
        created_at=started,
    )


@pytest.fixture
def scene(jit, personas):
    """On payments-dev: rick (a requester) holds ReadOnly standing, maria (no requester) holds Admin
    standing, anna holds Admin through a live grant; rick had Admin just in time an hour ago."""
    from governance.inventory.models import GroupMembership, Principal, PrincipalKind
    from governance.jit.models import Approval
    from governance.reviews.models import CampaignTemplate

    inv = jit.inv
    now = timezone.now()
    rick, maria, anna = inv.sso_users["requester"], inv.sso_users["manager"], inv.sso_users["approver"]
    oncall = Principal.objects.create(
        kind=PrincipalKind.SSO_GROUP,
        account=inv.governance_account,
        arn="arn:aws:identitystore:::group/g-oncall",
        name="oncall",
        aws_id="g-oncall",
        **_synced("group:oncall"),
    )
    GroupMembership.objects.create(group=oncall, member=rick, account=inv.governance_account, **_synced("m:oncall"))
    security_audit = inv.permission_sets.get("GovernanceAuditor")
    items = {
        "rick_read": _assign(jit.read_only, jit.dev, rick),
        "maria_admin": _assign(jit.admin, jit.dev, maria),
        "anna_admin": _assign(jit.admin, jit.dev, anna),
        "oncall_audit": _assign(security_audit, jit.dev, oncall, kind="GROUP"),
    }
    anna_request, anna_grant = _grant(
        jit, personas["approver"], anna, permission_set=jit.admin, account=jit.dev, started=now - timedelta(minutes=5)
    )
    Approval.objects.create(
        request=anna_request, approver=personas["campaign_admin"], approver_name="carla.campaign",
        decision="approve", created_at=now,
    )  # fmt: skip
    start = max(now - timedelta(hours=2), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    _, rick_grant = _grant(
        jit,
        personas["requester"],
        rick,
        permission_set=jit.admin,
        account=jit.dev,
        started=start,
        ended=start + timedelta(minutes=30),
    )
    template = CampaignTemplate.objects.create(name="quarterly-jit", fallback_reviewer=FALLBACK)
    return {"items": items, "anna_grant": anna_grant, "rick_grant": rick_grant, "template": template, "now": now}


def _launch(template, actor, now, period=None):
    from governance.reviews.launch import current_period, launch

    return launch(template=template, actor=actor, period=period or current_period(now), now=now).campaign


def _item(campaign, assignment):
    from governance.reviews.models import ReviewItem

    return ReviewItem.objects.get(campaign=campaign, kind="sso_assignment", source_id=assignment.pk)


def test_it_registers_one_reviews_provider():
    from governance.reviews import providers

    assert providers.registered()["jit.review_context"] == "governance.jit.review_context.review_context"


def test_it_opens_break_glass_reviews_after_every_sync():
    from governance.inventory import after_sync

    steps = after_sync.steps()
    assert steps["jit.break_glass_reviews"] == "governance.jit.tasks.break_glass_reviews_after_sync"
    # After reconcile, which ends grants whose assignment the sync no longer found.
    assert list(steps).index("jit.reconcile") < list(steps).index("jit.break_glass_reviews")


def test_it_flags_standing_assignments_a_policy_covers_and_says_so_in_the_recommendation(scene, personas):
    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])

    rick = _item(campaign, scene["items"]["rick_read"])
    assert rick.recommendation == "revoke"
    assert rick.recommendation_reason.startswith("revoke: could be just-in-time: payments")
    assert "could be just-in-time" in rick.context["could_be_jit"]
    maria = _item(campaign, scene["items"]["maria_admin"])
    assert maria.recommendation == "review"
    assert maria.recommendation_reason == (
        "review: could be just-in-time under payments, once the holder is in jit-requesters"
    )
    # No policy covers GovernanceAuditor: nothing said.
    oncall = _item(campaign, scene["items"]["oncall_audit"])
    assert "could_be_jit" not in oncall.context


def test_it_marks_a_live_grant_as_just_in_time_not_standing(scene, personas):
    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])

    anna = _item(campaign, scene["items"]["anna_admin"])
    grant = scene["anna_grant"]
    assert anna.recommendation == "keep"
    assert anna.recommendation_reason.startswith("keep: a just-in-time grant that ends by itself at ")
    assert f"Just-in-time grant #{grant.pk}" in anna.context["jit_grant"]
    assert "approved by carla.campaign" in anna.context["jit_grant"]
    assert "could_be_jit" not in anna.context


def test_grants_during_the_period_appear_on_the_grantee_and_the_grantees_groups_items(scene, personas):
    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])

    grant = scene["rick_grant"]
    for key in ("rick_read", "oncall_audit"):
        text = _item(campaign, scene["items"][key]).context["jit_grants"]
        assert text.startswith("Just-in-time grants in the period: ")
        assert f"#{grant.pk} rick.requester: AdministratorAccess" in text
        assert "ticket INC-42" in text
    assert "jit_grants" not in _item(campaign, scene["items"]["maria_admin"]).context


def test_grants_before_the_period_are_left_out(scene, personas):
    from governance.jit.models import Grant

    last_year = scene["now"] - timedelta(days=400)
    Grant.objects.filter(pk=scene["rick_grant"].pk).update(
        starts_at=last_year, ends_at=last_year + timedelta(hours=1), revoked_at=last_year + timedelta(hours=1),
        provisioned_at=last_year,
    )  # fmt: skip
    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])

    assert "jit_grants" not in _item(campaign, scene["items"]["rick_read"]).context


def test_a_break_glass_grant_is_reviewed_after_the_fact_at_high_risk(scene, personas):
    from governance.jit.models import AccessRequest

    AccessRequest.objects.filter(pk=scene["anna_grant"].request_id).update(break_glass=True)
    AccessRequest.objects.filter(pk=scene["rick_grant"].request_id).update(break_glass=True)
    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])

    anna = _item(campaign, scene["items"]["anna_admin"])
    assert (anna.recommendation, anna.risk) == ("review", "high")
    assert anna.recommendation_reason.startswith("review: break-glass use by anna.approver (self-approved)")
    assert "Break-glass grant" in anna.context["jit_grant"]
    rick = _item(campaign, scene["items"]["rick_read"])
    assert "break-glass, self-approved" in rick.context["jit_grants"]
    assert rick.risk == "high"


def test_the_provider_query_count_does_not_grow_with_items(scene, personas, django_assert_max_num_queries):
    from governance.jit.review_context import review_context
    from governance.reviews.models import ReviewItem

    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])
    items = ReviewItem.objects.filter(campaign=campaign)
    many = [ReviewItem(**{f: getattr(i, f) for f in ("kind", "source_id", "aws_account_id", "principal_arn",
                         "principal_name", "principal_kind", "target_name", "target_arn", "reviewer_email",
                         "routed_by")}, campaign=campaign) for i in items for _ in range(20)]  # fmt: skip
    ReviewItem.objects.bulk_create(many)
    with django_assert_max_num_queries(30):
        review_context(campaign=campaign, items=items)


def test_period_window_is_the_quarter_else_ninety_days(scene):
    from types import SimpleNamespace

    from governance.jit.review_context import period_window

    launched = scene["now"].replace(year=2026, month=11, day=20)
    start, end = period_window(SimpleNamespace(period="2026-Q4", launched_at=launched))
    assert (start.month, start.day, end) == (10, 1, launched)
    start, _ = period_window(SimpleNamespace(period="sync-12", launched_at=launched))
    assert start == launched - timedelta(days=90)


def test_an_active_break_glass_grant_queues_a_sync_for_the_triggered_reviews(scene, django_capture_on_commit_callbacks):
    from unittest import mock

    from governance.jit.models import AccessRequest
    from governance.jit.review_context import queue_break_glass_sync

    grant = scene["anna_grant"]
    with mock.patch("django_q.tasks.async_task") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            queue_break_glass_sync(grant)
        assert queued.call_count == 0  # not break-glass: no sync
        AccessRequest.objects.filter(pk=grant.request_id).update(break_glass=True)
        grant.request.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            queue_break_glass_sync(grant)
    assert queued.call_count == 1
    assert queued.call_args.args == ("governance.inventory.tasks.sync_org",)


def _finished_run(started):
    from governance.inventory.models import SyncRun, SyncStatus

    return SyncRun.objects.create(status=SyncStatus.SUCCEEDED, started_at=started, finished_at=started)


def test_a_break_glass_use_gets_its_own_triggered_review_without_any_event_template(scene, personas):
    from governance.inventory.models import AccountAssignment
    from governance.jit.models import AccessRequest
    from governance.jit.review_context import open_break_glass_reviews
    from governance.reviews.models import Campaign, CampaignTemplate, ReviewItem, TriggerKind
    from governance.reviews.triggers import after_sync

    assert not CampaignTemplate.objects.filter(trigger=TriggerKind.EVENT).exists()
    grant = scene["anna_grant"]
    AccessRequest.objects.filter(pk=grant.request_id).update(break_glass=True)
    # Everything else on the account was there long before the break-glass use.
    AccountAssignment.objects.exclude(pk=scene["items"]["anna_admin"].pk).update(
        first_seen=scene["now"] - timedelta(days=30)
    )
    _finished_run(scene["now"] - timedelta(hours=1))
    run = _finished_run(scene["now"])

    assert open_break_glass_reviews(run_id=run.pk)["opened"] == [Campaign.objects.get().pk]
    campaign = Campaign.objects.get()
    assert campaign.period == f"break-glass-{grant.pk}"
    [item] = ReviewItem.objects.filter(campaign=campaign)
    assert item.source_id == scene["items"]["anna_admin"].pk
    assert (item.recommendation, item.risk) == ("review", "high")
    assert item.recommendation_reason.startswith("review: break-glass use by anna.approver (self-approved)")
    assert item.reviewer_email == "maria.manager@example.com"  # the account's owner, not the requester

    assert open_break_glass_reviews(run_id=run.pk) == {"opened": []}  # once per grant
    assert after_sync(run_id=run.pk) == {"triggered": []}  # its template never launches by itself
    assert Campaign.objects.count() == 1


def test_a_short_break_glass_use_that_ended_while_the_sync_ran_is_reviewed_too(scene):
    from governance.inventory.models import AccountAssignment
    from governance.jit.models import AccessRequest, Grant, GrantStatus
    from governance.jit.review_context import open_break_glass_reviews
    from governance.reviews.models import Campaign, ReviewItem

    grant = scene["anna_grant"]
    AccessRequest.objects.filter(pk=grant.request_id).update(break_glass=True)
    AccountAssignment.objects.exclude(pk=scene["items"]["anna_admin"].pk).update(
        first_seen=scene["now"] - timedelta(days=30)
    )
    run = _finished_run(scene["now"])
    # One that had ended before the run began is not this run's to review.
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ENDED, revoked_at=scene["now"] - timedelta(seconds=30))
    assert open_break_glass_reviews(run_id=run.pk) == {"opened": []}
    # Revoked while the sync read (and it found the assignment), before the after-sync step.
    Grant.objects.filter(pk=grant.pk).update(revoked_at=scene["now"] + timedelta(seconds=30))
    [opened] = open_break_glass_reviews(run_id=run.pk)["opened"]
    campaign = Campaign.objects.get(pk=opened)
    assert campaign.period == f"break-glass-{grant.pk}"
    [item] = ReviewItem.objects.filter(campaign=campaign)
    assert item.source_id == scene["items"]["anna_admin"].pk and item.risk == "high"


def test_no_break_glass_review_for_a_grant_the_sync_did_not_see_or_an_ordinary_grant(scene):
    from governance.jit.models import AccessRequest
    from governance.jit.review_context import open_break_glass_reviews
    from governance.reviews.models import Campaign

    run = _finished_run(scene["now"])
    assert open_break_glass_reviews(run_id=run.pk) == {"opened": []}  # anna's grant is not break-glass
    grant = scene["anna_grant"]
    AccessRequest.objects.filter(pk=grant.request_id).update(break_glass=True)
    scene["items"]["anna_admin"].__class__.objects.filter(pk=scene["items"]["anna_admin"].pk).update(
        removed_at=scene["now"]
    )
    assert open_break_glass_reviews(run_id=run.pk) == {"opened": []}
    assert not Campaign.objects.exists()


def test_a_period_grant_on_an_account_without_the_grantees_items_shows_on_their_other_items(jit, scene, personas):
    from governance.jit.models import AccessRequest

    rick = jit.inv.sso_users["requester"]
    start = scene["now"] - timedelta(minutes=50)
    request, grant = _grant(
        jit,
        personas["requester"],
        rick,
        permission_set=jit.admin,
        account=jit.prod,
        started=start,
        ended=start + timedelta(minutes=20),
    )
    AccessRequest.objects.filter(pk=request.pk).update(break_glass=True)
    campaign = _launch(scene["template"], personas["campaign_admin"], scene["now"])

    rick_read = _item(campaign, scene["items"]["rick_read"])
    assert f"#{grant.pk} rick.requester: AdministratorAccess" in rick_read.context["jit_grants_elsewhere"]
    assert f"on {jit.prod.account_id}" in rick_read.context["jit_grants_elsewhere"]
    assert rick_read.risk == "high"
    maria = _item(campaign, scene["items"]["maria_admin"])
    assert "jit_grants_elsewhere" not in maria.context
