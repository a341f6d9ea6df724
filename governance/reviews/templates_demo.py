"""The demo organization's quarterly template (`quarterly`), created on first use outside production."""

from __future__ import annotations

from governance.reviews.models import CampaignTemplate, ReviewerRule

# The demo's security lead: the fallback for what no rule routes and for every self-review.
DEMO_FALLBACK = "sam.security@example.com"


def ensure_demo_template() -> CampaignTemplate:
    template, _ = CampaignTemplate.objects.get_or_create(
        name="quarterly",
        defaults={
            "description": "Quarterly certification of every entitlement in the demo organization.",
            "fallback_reviewer": DEMO_FALLBACK,
            "reviewer_rules": [ReviewerRule.MANAGER, ReviewerRule.ACCOUNT_OWNER, ReviewerRule.PRINCIPAL_OWNER],
        },
    )
    return template
