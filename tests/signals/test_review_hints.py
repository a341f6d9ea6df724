"""Service last accessed as the review decision hint, through the reviews' provider registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.reviews.models import ReviewItem
from governance.signals.models import FetchState, LastAccessedFetch, ServiceLastAccessed
from tests.reviews.conftest import campaign, review_inventory, template  # noqa: F401 - the reviews' fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def unused_role(persona_inventory):
    role = persona_inventory.manager_role
    now = timezone.now()
    LastAccessedFetch.objects.create(principal=role, state=FetchState.DONE, requested_at=now, completed_at=now)
    ServiceLastAccessed.objects.create(principal=role, namespace="ec2", service_name="Amazon EC2", fetched_at=now)
    ServiceLastAccessed.objects.create(
        principal=role, namespace="s3", service_name="Amazon S3", fetched_at=now,
        last_authenticated=now - timedelta(days=200),
    )  # fmt: skip
    return role


def test_a_launched_campaign_carries_the_hint_and_queues_its_principals(
    unused_role,
    review_inventory,  # noqa: F811 - the reviews' fixture, imported above
    campaign,  # noqa: F811
):
    items = ReviewItem.objects.filter(campaign=campaign)
    mine = [i for i in items if i.principal_id == unused_role.pk]
    assert mine
    for item in mine:
        assert item.context["last_accessed"]["text"] == "Never used EC2 in 400 days; not used S3 in 90 days."
    others = [i for i in items if i.principal_id not in (None, unused_role.pk)]
    assert others and all("last_accessed" not in i.context for i in others)
    queued = set(LastAccessedFetch.objects.filter(wanted_at__isnull=False).values_list("principal_id", flat=True))
    assert {i.principal_id for i in others if i.principal_kind.startswith("iam_")} <= queued
