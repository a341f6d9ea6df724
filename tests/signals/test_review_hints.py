"""Service last accessed as the review decision hint, through the reviews' provider registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.aws.demo import personas as demo
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
    template,  # noqa: F811
    personas,
    django_capture_on_commit_callbacks,
):
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from governance.reviews.launch import launch
    from governance.signals import tasks

    with django_capture_on_commit_callbacks(execute=True):
        campaign = launch(template=template, actor=personas["campaign_admin"], period="2026-Q4").campaign
    items = ReviewItem.objects.filter(campaign=campaign)
    mine = [i for i in items if i.principal_id == unused_role.pk]
    assert mine
    for item in mine:
        assert item.context["last_accessed"]["text"] == "Never used EC2 in 400 days; not used S3 in 90 days."
    others = [i for i in items if i.principal_id not in (None, unused_role.pk)]
    assert others and all("last_accessed" not in i.context for i in others)
    # The fetches are put first by a task the launch's commit queued, not inside the launch.
    assert not LastAccessedFetch.objects.filter(wanted_at__isnull=False).exists()
    queued_tasks = [SignedPackage.loads(q.payload) for q in OrmQ.objects.all()]
    prioritize = [t for t in queued_tasks if t["func"] == "governance.signals.tasks.prioritize_campaign"]
    assert [t["kwargs"] for t in prioritize] == [{"campaign_id": campaign.pk}]
    result = tasks.prioritize_campaign(**prioritize[0]["kwargs"])
    queued = set(LastAccessedFetch.objects.filter(wanted_at__isnull=False).values_list("principal_id", flat=True))
    iam = {i.principal_id for i in others if i.principal_kind.startswith("iam_")}
    assert iam <= queued and result["prioritized"] == len(queued)


def test_the_campaign_page_shows_the_hint_the_last_use_and_the_revoke_recommendation(
    unused_role,
    review_inventory,  # noqa: F811
    campaign,  # noqa: F811
    persona_client,
):
    item = ReviewItem.objects.filter(campaign=campaign, principal=unused_role).first()
    assert item.recommendation == "revoke"
    hint = item.context["last_accessed"]
    assert hint["revoke_recommended"] is True and hint["last_service"] == "Amazon S3"
    persona = {p.email.lower(): p.key for p in demo.PERSONAS}[item.reviewer_email.lower()]
    body = persona_client(persona).get(reverse("reviews:campaign_inbox", args=[campaign.pk])).content.decode()
    row = body.split(f'id="item-{item.pk}"', 1)[1].split("</article>", 1)[0]
    assert "Never used EC2 in 400 days; not used S3 in 90 days." in row
    assert f"Last used: Amazon S3, {hint['last_used']}." in row
    assert "<strong>Revoke recommended</strong> (no allowed service used in 90 days)." in row
    assert f"(AWS service last accessed, {timezone.now().date().isoformat()})" in row
    assert "last_accessed:" not in row  # the value is rendered, not dumped
