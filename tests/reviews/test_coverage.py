"""What a campaign's close counts per AWS account (CampaignCoverage), which the compliance pages read
instead of the items: written once, in the close's transaction, and true for good."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.models import Count, Q

from governance.reviews import remediation, services
from governance.reviews.models import CampaignCoverage, CampaignStatus, Decision, ReviewItem

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the database's own guard")


def _counted(campaign) -> dict[str, tuple[int, int]]:
    rows = CampaignCoverage.objects.filter(campaign=campaign).values_list("aws_account_id", "items", "undecided")
    return {aws_id: (items, undecided) for aws_id, items, undecided in rows}


def _recounted(campaign) -> dict[str, tuple[int, int]]:
    """The same counts read from the items now."""
    rows = (
        ReviewItem.objects.filter(campaign=campaign)
        .order_by()
        .values_list("aws_account_id")
        .annotate(n=Count("id"), undecided=Count("id", filter=Q(decision=Decision.NONE)))
    )
    return {aws_id: (n, undecided) for aws_id, n, undecided in rows}


def test_it_counts_each_accounts_items_when_the_campaign_closes(campaign, personas):
    at_launch = _recounted(campaign)
    assert len(at_launch) >= 2 and all(undecided == items for items, undecided in at_launch.values())
    assert _counted(campaign) == {}  # nothing while the campaign is open
    maria = personas["manager"]
    item = ReviewItem.objects.filter(campaign=campaign, reviewer_email=maria.email).first()
    services.decide_item(item_id=item.pk, decision="revoke", justification="not needed", actor=maria)
    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    # The defaults are in: every item of every account counts as decided.
    assert _counted(campaign) == {aws_id: (items, 0) for aws_id, (items, _) in at_launch.items()}
    # Closing again changes nothing, the coverage included.
    assert services.close_campaign(campaign=campaign, actor=None) == {"defaulted": 0, "revokes": 0}
    assert CampaignCoverage.objects.filter(campaign=campaign).count() == len(at_launch)


def test_the_last_signature_counts_the_coverage_with_its_close(campaign, personas, django_user_model):
    sam = django_user_model.objects.create(username="sam.security", email="sam.security@example.com")
    for user in (personas["manager"], sam):
        for item in ReviewItem.objects.filter(campaign=campaign, reviewer_email=user.email):
            services.decide_item(item_id=item.pk, decision="keep", justification="needed", actor=user)
        services.sign_off(campaign=campaign, actor=user, mfa_methods=["mfa"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    assert _counted(campaign) == _recounted(campaign) and _counted(campaign)


def test_remediation_after_the_close_leaves_the_counts_true(campaign, personas):
    carla = personas["campaign_admin"]
    for item in ReviewItem.objects.filter(campaign=campaign, reviewer_email=personas["manager"].email):
        services.decide_item(item_id=item.pk, decision="revoke", justification="unused", actor=personas["manager"])
    services.close_campaign(campaign=campaign, actor=carla)
    counted = _counted(campaign)
    assert remediation.approve(campaign=campaign, actor=carla) > 0
    assert ReviewItem.objects.filter(campaign=campaign, remediation_status="pending").exists()
    # Remediation moves only remediation fields; no decision changes after the close.
    assert _recounted(campaign) == counted == _counted(campaign)


def test_it_refuses_to_count_an_open_campaign(campaign):
    with pytest.raises(services.ReviewError, match="Only a closed campaign"):
        services.record_coverage(campaign=campaign)
    assert not CampaignCoverage.objects.exists()


@on_postgresql
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE reviews_coverage SET undecided = undecided + 1 WHERE campaign_id = %s",
        "UPDATE reviews_coverage SET aws_account_id = '000000000000' WHERE campaign_id = %s",
        "DELETE FROM reviews_coverage WHERE campaign_id = %s",
    ],
)
def test_the_database_keeps_the_counts_as_the_close_wrote_them(campaign, personas, sql):
    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    before = _counted(campaign)
    refused = pytest.raises((IntegrityError, InternalError), match="counted at its close")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [campaign.pk])
    assert _counted(campaign) == before


@on_postgresql
def test_the_database_refuses_coverage_for_an_open_campaign(campaign):
    refused = pytest.raises((IntegrityError, InternalError), match="is not closed")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviews_coverage (campaign_id, aws_account_id, items, undecided) VALUES (%s, %s, 1, 0)",
            [campaign.pk, "111111111111"],
        )
    assert not CampaignCoverage.objects.exists()
