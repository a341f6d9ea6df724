"""The reviewer's pages: inbox, decisions over htmx, bulk, sign-off with MFA step-up, report."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.reviews.models import ItemKind, ReviewItem

pytestmark = pytest.mark.django_db

MARIA = "maria.manager@example.com"


def test_the_inbox_lists_my_campaigns_with_progress(campaign, persona_client):
    response = persona_client("manager").get(reverse("reviews:inbox"))
    assert response.status_code == 200 and campaign.name in response.content.decode()


def test_the_inbox_is_empty_for_someone_with_nothing_to_review(campaign, persona_client):
    response = persona_client("requester").get(reverse("reviews:inbox"))
    assert "Nothing to review" in response.content.decode()


def test_the_campaign_inbox_groups_my_items_with_recommendations(
    campaign, persona_client, django_assert_max_num_queries
):
    client = persona_client("manager")
    url = reverse("reviews:campaign_inbox", args=[campaign.pk])
    client.get(url)  # warm the capability cache, as a second page view would be
    with django_assert_max_num_queries(13):
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "revoke: key unused for 212 days" in body and "0 of 6 decided" in body
    assert "payments-prod (222222222222)" in body
    assert "Keyboard shortcuts" in body


def test_filters_narrow_the_items(campaign, persona_client):
    response = persona_client("manager").get(
        reverse("reviews:campaign_inbox", args=[campaign.pk]), {"kind": ItemKind.ACCESS_KEY}
    )
    assert response.content.decode().count('class="review-item risk') == 1


def test_a_campaign_i_have_nothing_in_is_not_found(campaign, persona_client):
    assert persona_client("requester").get(reverse("reviews:campaign_inbox", args=[campaign.pk])).status_code == 404


def test_deciding_over_htmx_returns_the_item_and_conflicts_answer_409(campaign, persona_client):
    client = persona_client("manager")
    item = ReviewItem.objects.get(campaign=campaign, kind=ItemKind.ACCESS_KEY)
    url = reverse("reviews:decide", args=[campaign.pk])
    data = {"item": item.pk, "version": 0, "decision": "revoke", "justification": "unused"}
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Decided: <strong>Revoke</strong>" in response.content.decode()
    stale = client.post(url, {**data, "decision": "keep", "justification": "mine"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409 and "Their decision stands" in stale.content.decode()
    assert 'value="mine"' in stale.content.decode()  # what they typed is kept
    missing = client.post(url, {**data, "version": 1, "justification": ""}, HTTP_HX_REQUEST="true")
    assert missing.status_code == 400 and "needs a justification" in missing.content.decode()


def test_someone_else_cannot_decide_my_item(campaign, persona_client):
    item = ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA).first()
    response = persona_client("auditor").post(
        reverse("reviews:decide", args=[campaign.pk]), {"item": item.pk, "decision": "keep"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code in (400, 404)
    item.refresh_from_db()
    assert item.decision == ""


def test_bulk_accepts_the_revoke_recommendations_of_an_account(campaign, persona_client):
    response = persona_client("manager").post(
        reverse("reviews:bulk", args=[campaign.pk]),
        {"recommendation": "revoke", "account": "222222222222", "decision": "revoke", "justification": "unused"},
    )
    assert response.status_code == 302
    decided = ReviewItem.objects.filter(campaign=campaign, decision="revoke")
    assert decided.count() == 2 and set(decided.values_list("aws_account_id", flat=True)) == {"222222222222"}


def test_a_bulk_decision_or_delegation_that_reaches_no_item_says_so_and_changes_nothing(campaign, persona_client):
    auditor = persona_client("auditor")  # sees the campaign, reviews none of it
    ids = list(ReviewItem.objects.filter(campaign=campaign).values_list("pk", flat=True))
    bulk = auditor.post(
        reverse("reviews:bulk", args=[campaign.pk]),
        {"decision": "revoke", "justification": "unused", "item": ids},
        follow=True,
    )
    assert "Nothing was marked revoke: none of these items is yours to decide now." in bulk.content.decode()
    assert "0 items" not in bulk.content.decode()
    delegated = auditor.post(
        reverse("reviews:delegate", args=[campaign.pk]),
        {"to": "carla.campaign@example.com", "reason": "on leave", "item": ids},
        follow=True,
    )
    assert "Nothing was delegated: none of these items is yours and still undecided." in delegated.content.decode()
    assert not ReviewItem.objects.filter(campaign=campaign).exclude(decision="").exists()
    assert not ReviewItem.objects.filter(campaign=campaign).exclude(delegated_from="").exists()


def test_sign_off_asks_for_a_fresh_mfa_login(campaign, persona_client):
    stale = persona_client("manager", mfa=False).get(reverse("reviews:sign_off", args=[campaign.pk]))
    assert stale.status_code == 302  # to the IdP's step-up login
    assert persona_client("manager").get(reverse("reviews:sign_off", args=[campaign.pk])).status_code == 200


def test_the_report_shows_progress_per_reviewer_and_account(campaign, persona_client):
    response = persona_client("auditor").get(reverse("reviews:report", args=[campaign.pk]))
    body = response.content.decode()
    assert response.status_code == 200 and MARIA in body and "review-progress-chart" in body
    assert persona_client("manager").get(reverse("reviews:report", args=[campaign.pk])).status_code == 403


def test_the_inbox_pages_by_keyset_through_every_item_once(campaign, personas, persona_client, monkeypatch):
    from governance.reviews import selectors

    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    maria = personas["manager"]
    # A principal name holding the cursor's separator pages like any other.
    ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA, kind=ItemKind.ACCESS_KEY).update(
        principal_name="de|ploy"
    )
    expected = list(
        ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA)
        .order_by("aws_account_id", "principal_name", "id")
        .values_list("id", flat=True)
    )
    seen, after = [], ""
    while True:
        page = selectors.inbox_page(campaign, maria, selectors.InboxFilters(), after=after)
        assert len(page.items) <= 2 and page.total == len(expected)
        seen += [item.pk for item in page.items]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert seen == expected and len(expected) == 6

    # The page's "more" link: the next rows as an htmx fragment, from the cursor.
    first = selectors.inbox_page(campaign, maria, selectors.InboxFilters())
    response = persona_client("manager").get(
        reverse("reviews:campaign_inbox", args=[campaign.pk]), {"after": first.next_cursor}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.count('class="review-item risk') == 2
