"""merge_context: a value into the context of exactly the items asked for, by one UPDATE of their own filter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.reviews import providers
from governance.reviews.launch import launch
from governance.reviews.models import ReviewItem

pytestmark = pytest.mark.django_db


def test_it_sets_the_key_on_the_chosen_items_of_one_campaign_and_keeps_the_rest(campaign, template):
    other = launch(template=template, actor=None, period="other").campaign
    items = ReviewItem.objects.filter(campaign=campaign)
    principal = items.values_list("principal_id", flat=True).exclude(principal_id=None).first()
    chosen = items.filter(principal_id=principal)
    providers.merge_context(chosen, "first", {"a": 1})
    value = {"text": 'it\'s "quoted", ünïcode', "days": [1, 2], "none": None}
    key = "last_accessed"
    with CaptureQueriesContext(connection) as captured:
        updated = providers.merge_context(chosen, key, value)
    assert updated == chosen.count() > 0
    (update,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    # The campaign is in the UPDATE's own WHERE (PostgreSQL reads that partition only), no subquery.
    assert f'"campaign_id" = {campaign.pk}' in update and "SELECT" not in update
    for item in chosen:
        assert item.context["first"] == {"a": 1} and item.context[key] == value
    untouched = list(items.exclude(principal_id=principal)) + list(ReviewItem.objects.filter(campaign=other))
    assert untouched and all(key not in item.context and "first" not in item.context for item in untouched)


@pytest.mark.parametrize("key", ['odd "key"', "a.b", "", "1st", "x\ny"])
def test_a_key_that_is_not_a_plain_name_is_refused_and_nothing_changes(campaign, key):
    items = ReviewItem.objects.filter(campaign=campaign)
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        providers.merge_context(items, key, 1)
    assert all(key not in item.context for item in items)
