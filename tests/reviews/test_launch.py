"""Launch: one snapshot of what is in scope, routed, recommended, reconciled, once per period."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from governance.audit.models import AuditEvent
from governance.notify.models import Notification
from governance.reviews.launch import LaunchError, launch
from governance.reviews.models import ItemKind, Recommendation, ReviewerRule, ReviewItem, Risk
from tests.reviews.conftest import FALLBACK

pytestmark = pytest.mark.django_db

MARIA = "maria.manager@example.com"


def _item(campaign, **lookup) -> ReviewItem:
    return ReviewItem.objects.get(campaign=campaign, **lookup)


def test_it_snapshots_every_entitlement_in_scope_with_a_manifest(campaign):
    items = ReviewItem.objects.filter(campaign=campaign)
    kinds = {kind: items.filter(kind=kind).count() for kind in ItemKind.values}
    # Role: 2 policies + its trust; deploy: 1 policy + 1 key; 2 assignments on the owned account
    # and the 4 governance permission sets of the personas.
    assert kinds == {
        ItemKind.USER_POLICY: 1,
        ItemKind.GROUP_MEMBERSHIP: 0,
        ItemKind.ROLE_POLICY: 2,
        ItemKind.ROLE_TRUST: 1,
        ItemKind.ACCESS_KEY: 1,
        ItemKind.SSO_ASSIGNMENT: 6,
    }
    manifest = campaign.manifest
    assert manifest["reconciled"] is True, (manifest["inventory_counts"], manifest["counts"]["by_kind"])
    assert manifest["counts"]["total"] == 11 == campaign.item_count
    assert manifest["counts"]["by_account"]["222222222222"] == {"user_policy": 1, "access_key": 1, "sso_assignment": 2}
    assert manifest["scope"]["kinds"] == list(ItemKind.values)
    event = AuditEvent.objects.get(action="reviews.campaign_launched")
    assert event.after["items"] == 11 and event.object_id == str(campaign.pk)


def test_reviewers_follow_the_rules_in_order_and_never_review_themselves(campaign, review_inventory):
    rick = _item(campaign, source_id=review_inventory.rick_assignment.pk, kind=ItemKind.SSO_ASSIGNMENT)
    assert (rick.reviewer_email, rick.routed_by) == (MARIA, ReviewerRule.MANAGER)
    own = _item(campaign, source_id=review_inventory.maria_assignment.pk, kind=ItemKind.SSO_ASSIGNMENT)
    # Maria owns the account, but the item is her own access: it goes to the fallback.
    assert (own.reviewer_email, own.routed_by, own.self_review_rerouted) == (FALLBACK, ReviewerRule.FALLBACK, True)
    key = _item(campaign, kind=ItemKind.ACCESS_KEY)
    assert (key.reviewer_email, key.routed_by) == (MARIA, ReviewerRule.ACCOUNT_OWNER)
    role = _item(campaign, kind=ItemKind.ROLE_TRUST)
    assert (role.reviewer_email, role.routed_by) == (MARIA, ReviewerRule.PRINCIPAL_OWNER)


def test_every_item_carries_a_recommendation_and_its_reason(campaign):
    key = _item(campaign, kind=ItemKind.ACCESS_KEY)
    assert (key.recommendation, key.recommendation_reason) == (Recommendation.REVOKE, "revoke: key unused for 212 days")
    assert key.risk == Risk.MEDIUM and key.key_created is not None
    admin = _item(campaign, kind=ItemKind.ROLE_POLICY, target_name="AdministratorAccess")
    assert (admin.recommendation, admin.recommendation_reason) == (
        Recommendation.REVIEW,
        "review: grants AdministratorAccess",
    )
    assert admin.risk == Risk.HIGH and admin.admin_access == "full"
    read = _item(campaign, kind=ItemKind.ROLE_POLICY, target_name="ReadOnlyAccess")
    assert (read.recommendation, read.recommendation_reason) == (Recommendation.KEEP, "keep: used yesterday")
    user_policy = _item(campaign, kind=ItemKind.USER_POLICY)
    assert user_policy.recommendation_reason == "revoke: user never signed in or used a key"
    assignment = _item(campaign, kind=ItemKind.SSO_ASSIGNMENT, reviewer_email=MARIA)
    assert assignment.admin_access == "full" and assignment.risk == Risk.HIGH


def test_launching_the_same_period_twice_creates_nothing_twice(campaign, template, personas):
    before = (ReviewItem.objects.count(), AuditEvent.objects.count(), Notification.objects.count())
    again = launch(template=template, actor=personas["campaign_admin"], period="2026-Q4")
    assert again.created is False and again.campaign == campaign
    assert (ReviewItem.objects.count(), AuditEvent.objects.count(), Notification.objects.count()) == before


def test_deleting_a_campaign_deletes_its_items_and_no_others(campaign, template):
    # Django cascades to the items before it deletes the campaign (on PostgreSQL the foreign key
    # would refuse otherwise, and each campaign's items are a partition of their own).
    other = launch(template=template, actor=None, period="other")
    assert other.items == campaign.item_count
    campaign.delete()
    assert not ReviewItem.objects.filter(campaign_id=campaign.pk).exists()
    assert ReviewItem.objects.filter(campaign=other.campaign).count() == other.items


def test_reviewers_are_told_once(campaign):
    assert set(Notification.objects.filter(event="reviews.campaign_launched").values_list("recipient", flat=True)) == {
        MARIA,
        FALLBACK,
    }


def test_a_scope_narrows_the_accounts(review_inventory, template, personas):
    template.scope_account_ids = ["444444444444"]
    template.save()
    result = launch(template=template, actor=None, period="narrow")
    assert result.items == 3 and result.accounts == 1


def test_a_template_that_cannot_launch_writes_nothing(review_inventory, template):
    template.kinds = ["nonsense"]
    template.save()
    with pytest.raises(LaunchError, match="unknown"):
        launch(template=template, actor=None, period="x")
    assert not ReviewItem.objects.exists()


def test_launch_campaign_prints_the_summary_last(review_inventory, capsys, settings):
    call_command("launch_campaign", "--template", "quarterly", "--period", "2026-Q4")
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(summary) == ["campaign", "items", "reviewers", "accounts", "seconds"]
    assert summary["items"] == 11 and summary["reviewers"] == 2 and summary["accounts"] == 3
