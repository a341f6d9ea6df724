"""The governance admin's reviews pages: templates edited, campaigns launched, closed and their
remediation approved by actions that call the services; only for campaign administrators."""

from __future__ import annotations

import pytest

from governance.audit.models import AuditEvent
from governance.reviews.models import (
    Campaign,
    CampaignCoverage,
    CampaignStatus,
    Decision,
    RemediationStatus,
    ReviewItem,
)

pytestmark = pytest.mark.django_db

TEMPLATES = "/admin/reviews/campaigntemplate/"
CAMPAIGNS = "/admin/reviews/campaign/"
ITEMS = "/admin/reviews/reviewitem/"
COVERAGE = "/admin/reviews/campaigncoverage/"


def _act(client, url, action, pks, **extra) -> list[str]:
    response = client.post(url, {"action": action, "index": 0, "_selected_action": list(pks), **extra}, follow=True)
    assert response.redirect_chain and response.status_code == 200, response.content[:300]
    return [str(m) for m in response.context["messages"]]


def test_only_campaign_administrators_see_the_reviews_admin(persona_client, template):
    for url in (TEMPLATES, CAMPAIGNS, ITEMS, COVERAGE):
        assert persona_client("campaign_admin").get(url).status_code == 200
        # An administrator of other things (admin.access, no reviews.admin) is refused.
        assert persona_client("policy_admin").get(url).status_code == 403
    page = persona_client("campaign_admin").get(f"{TEMPLATES}{template.pk}/change/").content.decode()
    assert "Change campaign template" in page and 'name="_save"' in page


def test_a_campaign_administrator_edits_a_template(persona_client, template):
    page = persona_client("campaign_admin").get(f"{TEMPLATES}{template.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    for name in ("scope_ou_ids", "scope_account_ids", "kinds", "reviewer_rules"):
        data[name] = form[name].value()
    data.update(due_days=21, recurrence_cron="0 6 1 2,5,8,11 *", active="on")
    response = persona_client("campaign_admin").post(f"{TEMPLATES}{template.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    template.refresh_from_db()
    assert (template.due_days, template.recurrence_cron) == (21, "0 6 1 2,5,8,11 *")


def test_the_admin_actions_launch_close_and_approve_through_the_services(
    persona_client, personas, template, review_inventory
):
    carla = persona_client("campaign_admin")
    messages = _act(carla, TEMPLATES, "launch_now", [template.pk])
    campaign = Campaign.objects.get(template=template)
    assert messages == [f"Launched {campaign.name} ({campaign.item_count} items, 2 reviewers)."]
    assert campaign.launched_by == personas["campaign_admin"]
    assert _act(carla, TEMPLATES, "launch_now", [template.pk])[0].startswith("Already launched:")
    assert Campaign.objects.filter(template=template).count() == 1

    item = ReviewItem.objects.filter(campaign=campaign, reviewer_email=personas["manager"].email).first()
    ReviewItem.objects.filter(pk=item.pk).update(decision=Decision.REVOKE, justification="unused")
    messages = _act(carla, CAMPAIGNS, "approve_remediation", [campaign.pk])
    assert messages == [f"{campaign}: Close the campaign before approving its remediation."]

    messages = _act(carla, CAMPAIGNS, "close", [campaign.pk])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED and messages[0].startswith(f"{campaign}: ")
    item.refresh_from_db()
    assert item.remediation_status == RemediationStatus.AWAITING_APPROVAL
    # What the close counted per account is listed, and only listed.
    coverage = CampaignCoverage.objects.filter(campaign=campaign).first()
    page = carla.get(COVERAGE).content.decode()
    assert coverage.aws_account_id in page and "Add campaign coverage" not in page
    assert carla.get(f"{COVERAGE}{coverage.pk}/change/").context["has_change_permission"] is False
    assert carla.get(f"{COVERAGE}{coverage.pk}/delete/").status_code == 403

    approved = _act(carla, CAMPAIGNS, "approve_remediation", [campaign.pk])
    assert approved == [f"{campaign}: 1 revokes approved and queued."]
    item.refresh_from_db()
    campaign.refresh_from_db()
    assert item.remediation_status == RemediationStatus.PENDING
    assert campaign.remediation_approved_by == personas["campaign_admin"]
    assert AuditEvent.objects.filter(action="reviews.remediation_approved", actor=personas["campaign_admin"]).exists()


def test_the_actions_want_a_recent_mfa_login(persona_client, template):
    response = persona_client("campaign_admin", mfa=False).post(
        TEMPLATES, {"action": "launch_now", "index": 0, "_selected_action": [template.pk]}
    )
    assert response.status_code == 302 and "/accounts/" in response["Location"]
    assert not Campaign.objects.exists()
