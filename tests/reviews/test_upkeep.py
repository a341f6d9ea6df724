"""What runs on schedules: recurring launches by each template's cron, reminders, escalation, close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from governance.audit.models import AuditEvent
from governance.notify.models import Notification
from governance.reviews import launch, services, tasks, triggers
from governance.reviews.models import Campaign, CampaignStatus, Decision, ReviewItem, TriggerKind
from tests.reviews.conftest import FALLBACK

pytestmark = pytest.mark.django_db

MARIA = "maria.manager@example.com"


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_template_launches_once_its_cron_has_fired_this_quarter_and_only_once(review_inventory, template):
    template.recurrence_cron = "0 6 15 1,4,7,10 *"  # the 15th of each quarter's first month
    template.save()
    event = type(template).objects.create(name="event-only", fallback_reviewer=FALLBACK, trigger=TriggerKind.EVENT)

    assert triggers.launch_scheduled(now=_at(2026, 10, 10)) == {"launched": []}, "not yet fired this quarter"
    assert not Campaign.objects.exists()

    launched = triggers.launch_scheduled(now=_at(2026, 10, 15, 7))
    (campaign,) = Campaign.objects.filter(pk__in=launched["launched"])
    assert (campaign.template, campaign.period) == (template, "2026-Q4")
    assert campaign.item_count == ReviewItem.objects.filter(campaign=campaign).count() > 0
    # The daily schedule comes round again: nothing twice; an event-driven template never launches here.
    assert triggers.launch_scheduled(now=_at(2026, 10, 16, 7)) == {"launched": []}
    assert not Campaign.objects.filter(template=event).exists()
    # The next quarter's fire launches the next period.
    assert len(triggers.launch_scheduled(now=_at(2027, 1, 15, 6, 30))["launched"]) == 1
    assert set(Campaign.objects.values_list("period", flat=True)) == {"2026-Q4", "2027-Q1"}


def test_the_default_cron_is_quarterly_and_an_inactive_template_never_launches(review_inventory, template):
    assert template.recurrence_cron == "0 6 1 1,4,7,10 *"
    assert triggers.launch_scheduled(now=_at(2026, 10, 1, 5)) == {"launched": []}  # before 06:00 on the 1st
    template.active = False
    template.save()
    assert triggers.launch_scheduled(now=_at(2026, 10, 1, 7)) == {"launched": []}
    template.active = True
    template.save()
    assert len(triggers.launch_scheduled(now=_at(2026, 10, 1, 7))["launched"]) == 1


def test_a_monthly_cron_launches_a_campaign_each_month_not_each_quarter(review_inventory, template):
    template.recurrence_cron = "0 6 1 * *"  # 06:00 on the 1st of every month
    template.save()
    assert len(triggers.launch_scheduled(now=_at(2026, 10, 1, 7))["launched"]) == 1
    assert triggers.launch_scheduled(now=_at(2026, 10, 20, 7)) == {"launched": []}, "once a month"
    assert len(triggers.launch_scheduled(now=_at(2026, 11, 1, 6, 30))["launched"]) == 1
    assert triggers.launch_scheduled(now=_at(2026, 11, 1, 5)) == {"launched": []}, "October's is there"
    assert sorted(Campaign.objects.values_list("period", flat=True)) == ["2026-10-01", "2026-11-01"]
    # A cron firing several times a day names its periods to the minute.
    template.recurrence_cron = "0 */6 * * *"
    template.save()
    assert launch.template_period(template, _at(2026, 11, 2, 13, 5)) == "2026-11-02T12:00"
    template.recurrence_cron = "0 6 1 1 *"  # yearly: not once a quarter
    assert launch.template_period(template, _at(2026, 11, 2)) == "2026-01-01"


def test_a_bad_cron_is_refused_by_the_form_and_never_stops_the_other_templates(review_inventory, template):
    broken = type(template).objects.create(name="broken-cron", fallback_reviewer=FALLBACK, recurrence_cron="every day")
    with pytest.raises(ValidationError, match="Not a cron expression"):
        broken.full_clean()
    result = triggers.launch_scheduled(now=_at(2026, 10, 1, 7))
    assert len(result["launched"]) == 1 and "bad cron expression" in result["failed"]["broken-cron"]
    assert not Campaign.objects.filter(template=broken).exists()
    with pytest.raises(launch.LaunchError, match="bad cron expression"):
        launch.launch(template=broken, actor=None)


def test_the_schedules_are_declared_for_setup_schedules():
    declared = {s["name"]: s for s in tasks.SCHEDULES}
    assert declared["launch_due"]["func"] == "governance.reviews.tasks.launch_due"
    assert declared["launch_due"]["schedule_type"] == "hourly", "a cron's launch must not wait a day"
    assert declared["campaign_upkeep"]["func"] == "governance.reviews.tasks.campaign_upkeep"


def _reminders(campaign):
    return Notification.objects.filter(event="reviews.reminder", dedupe_key__startswith=f"reviews.remind:{campaign.pk}")


def test_reviewers_with_undecided_items_are_reminded_once_a_cycle(campaign, template, personas):
    launched = campaign.launched_at
    assert services.remind_and_escalate(now=launched + timedelta(days=1)) == {"reminded": 0, "escalated": 0}

    # Maria decides everything of hers: only the fallback, with undecided items left, is reminded.
    for item in ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA):
        services.decide_item(item_id=item.pk, decision="keep", justification="needed", actor=personas["manager"])
    result = services.remind_and_escalate(now=launched + timedelta(days=template.reminder_every_days))
    assert result == {"reminded": 1, "escalated": 0}
    assert list(_reminders(campaign).values_list("recipient", flat=True)) == [FALLBACK]
    # The same cycle again (the hourly task comes round): no second reminder; the next cycle: one more.
    assert (
        services.remind_and_escalate(now=launched + timedelta(days=template.reminder_every_days, hours=5))["reminded"]
        == 0
    )
    assert (
        services.remind_and_escalate(now=launched + timedelta(days=2 * template.reminder_every_days))["reminded"] == 1
    )
    assert _reminders(campaign).count() == 2


def test_undecided_items_escalate_to_the_fallback_once_audited_and_told(campaign, template, personas):
    mine = ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA).order_by("id")
    decided = mine.first()
    services.decide_item(item_id=decided.pk, decision="keep", justification="needed", actor=personas["manager"])
    undecided = list(mine.filter(decision=Decision.NONE).values_list("id", flat=True))
    assert undecided
    too_early = campaign.launched_at + timedelta(days=template.escalate_after_days - 1)
    assert services.remind_and_escalate(now=too_early)["escalated"] == 0

    when = campaign.launched_at + timedelta(days=template.escalate_after_days)
    assert services.remind_and_escalate(now=when)["escalated"] == len(undecided)
    moved = ReviewItem.objects.filter(pk__in=undecided)
    assert set(moved.values_list("reviewer_email", flat=True)) == {FALLBACK}
    assert set(moved.values_list("delegated_from", flat=True)) == {MARIA}
    assert all(r.startswith("Escalated") for r in moved.values_list("delegation_reason", flat=True))
    decided.refresh_from_db()
    assert decided.reviewer_email == MARIA, "a decided item stays with its reviewer"
    events = AuditEvent.objects.filter(action="reviews.item_escalated")
    assert sorted(int(e.object_id) for e in events) == sorted(undecided)
    assert all(e.before["reviewer"] == MARIA and e.after["reviewer"] == FALLBACK for e in events)
    assert list(Notification.objects.filter(event="reviews.items_escalated").values_list("recipient", flat=True)) == [
        FALLBACK
    ]
    # Coming round again escalates nothing twice.
    assert services.remind_and_escalate(now=when + timedelta(hours=1))["escalated"] == 0


def test_escalation_never_hands_the_fallback_their_own_access(campaign, template, personas):
    """An undecided item about the fallback reviewer stays where it is: the fallback may not review it."""
    item = ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA).order_by("id").first()
    ReviewItem.objects.filter(pk=item.pk).update(principal_email=FALLBACK)
    services.remind_and_escalate(now=campaign.launched_at + timedelta(days=template.escalate_after_days))
    item.refresh_from_db()
    assert item.reviewer_email == MARIA
    assert not AuditEvent.objects.filter(action="reviews.item_escalated", object_id=str(item.pk)).exists()


def test_the_hourly_upkeep_closes_a_campaign_past_its_due_date_and_tells_its_reviewers(campaign):
    assert tasks.campaign_upkeep()["closed"] == 0
    Campaign.objects.filter(pk=campaign.pk).update(due_at=campaign.launched_at - timedelta(seconds=1))
    assert tasks.campaign_upkeep()["closed"] == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    told = set(Notification.objects.filter(event="reviews.campaign_closed").values_list("recipient", flat=True))
    assert told == {MARIA, FALLBACK}
    assert tasks.campaign_upkeep()["closed"] == 0
