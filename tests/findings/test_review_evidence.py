"""Controls whose mapping names `access_review` evidence: pass or fail per account on the campaigns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.findings import compliance
from tests.fixtures.personas import OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS

pytestmark = pytest.mark.django_db
OWNED = OWNED_ACCOUNT_IDS[0]


def _campaign(inventory, period: str, *, closed_days_ago: float | None, items: dict[str, list[str]]):
    """A campaign with, per 12-digit account id, one item per decision ("" undecided, keep, revoke).

    Closed as it stood, `closed_days_ago`, with its coverage counted as close_campaign counts it: the
    service closes now and defaults every undecided item, so a gap is only ever in a campaign closed
    otherwise (before the service defaulted, and counted by migration 0009)."""
    from governance.reviews.models import Campaign, CampaignStatus, CampaignTemplate, ReviewItem
    from governance.reviews.services import record_coverage

    template, _ = CampaignTemplate.objects.get_or_create(
        name="compliance-test", defaults={"fallback_reviewer": "sam.security@example.com"}
    )
    now = timezone.now()
    closed_at = None if closed_days_ago is None else now - timedelta(days=closed_days_ago)
    campaign = Campaign.objects.create(
        template=template, name=f"Quarterly {period}", period=period, launched_at=now - timedelta(days=120),
        due_at=now, attestation="x", close_action="keep_flag", remediation_mode="manual",
    )  # fmt: skip
    principal = inventory.manager_role
    for aws_id, decisions in items.items():
        account = inventory.accounts[aws_id]
        for n, decision in enumerate(decisions):
            ReviewItem.objects.create(
                campaign=campaign, kind="role_policy", source_id=principal.pk + n, account=account,
                aws_account_id=aws_id, account_name=account.name, principal_arn=principal.arn,
                principal_name=principal.name, principal_kind="iam_role", target_name=f"Policy{n}",
                reviewer_email="sam.security@example.com", routed_by="named", decision=decision,
            )  # fmt: skip
    if closed_at is not None:  # closed after its items: the database refuses items for a closed campaign
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CLOSED, closed_at=closed_at)
        campaign.refresh_from_db()
        record_coverage(campaign=campaign)
    return campaign


def _status(inventory, aws_id: str, control_id: str = "CC6.2") -> tuple[str, compliance.ReviewEvidence]:
    from governance.findings.models import Finding

    account = inventory.accounts[aws_id]
    soc2 = compliance.frameworks()["soc2"]
    rows = compliance.matrix(soc2, Finding.objects.all(), [account.pk], accounts={account.pk: aws_id})
    row = next(r for r in rows if r.control.id == control_id)
    return row.status_for(account.pk), row.reviews.get(account.pk)


def test_a_control_needing_reviews_fails_on_an_account_no_campaign_reviewed(persona_inventory):
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "fail"
    assert evidence.reason == "no closed access review of this account in the last 100 days"
    # An open campaign is no evidence yet, however complete.
    _campaign(persona_inventory, "2026-Q4", closed_days_ago=None, items={OWNED: ["keep"]})
    assert _status(persona_inventory, OWNED)[0] == "fail"


def test_a_recent_closed_campaign_covering_the_account_passes_it_and_only_it(persona_inventory):
    campaign = _campaign(persona_inventory, "2026-Q4", closed_days_ago=10, items={OWNED: ["keep", "revoke"]})
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "pass" and evidence.met and evidence.campaign_id == campaign.pk and evidence.period == "2026-Q4"
    # Per account: the campaign had no items for the other account, so it does not satisfy it.
    other_status, other = _status(persona_inventory, OTHER_ACCOUNT_ID)
    assert other_status == "fail" and other.reason.startswith("no closed access review")


def test_items_defaulted_when_the_campaign_closed_count_as_reviewed(persona_inventory, personas):
    from governance.reviews.services import close_campaign

    campaign = _campaign(persona_inventory, "2026-Q4", closed_days_ago=None, items={OWNED: ["", "keep"]})
    assert close_campaign(campaign=campaign, actor=personas["campaign_admin"])["defaulted"] == 1
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "pass" and evidence.campaign_id == campaign.pk


def test_a_campaign_older_than_the_window_no_longer_counts(persona_inventory, settings):
    _campaign(persona_inventory, "2026-Q2", closed_days_ago=101, items={OWNED: ["keep"]})
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "fail" and evidence.reason == "no closed access review of this account in the last 100 days"
    settings.ACCESS_REVIEW_MAX_AGE_DAYS = 120
    assert _status(persona_inventory, OWNED)[0] == "pass"


def test_undecided_items_of_the_account_fail_it_with_the_campaign_named(persona_inventory):
    gappy = _campaign(
        persona_inventory, "2026-Q4", closed_days_ago=5, items={OWNED: ["", "", "keep"], OTHER_ACCOUNT_ID: ["keep"]}
    )
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "fail" and evidence.reason == "the review of 2026-Q4 left 2 items undecided"
    assert evidence.campaign_id == gappy.pk
    # The same campaign decided all of the other account's items: that account passes.
    assert _status(persona_inventory, OTHER_ACCOUNT_ID)[0] == "pass"
    # An older complete campaign inside the window still satisfies the account.
    older = _campaign(persona_inventory, "2026-Q3", closed_days_ago=60, items={OWNED: ["keep"]})
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "pass" and evidence.campaign_id == older.pk


def test_open_findings_still_fail_a_control_the_reviews_satisfy(persona_inventory):
    from tests.findings.test_pages import _finding

    _campaign(persona_inventory, "2026-Q4", closed_days_ago=10, items={OWNED: ["keep"]})
    _finding(persona_inventory.accounts[OWNED], name="stale", rule="user.credential_unused_90d")
    assert _status(persona_inventory, OWNED)[0] == "fail"
    assert _status(persona_inventory, OWNED, "CC6.1")[0] == "pass"  # CC6.1 needs no reviews


def test_the_framework_page_shows_the_review_evidence_and_links_the_campaign(persona_inventory, persona_client):
    campaign = _campaign(persona_inventory, "2026-Q4", closed_days_ago=10, items={OWNED: ["keep"]})
    body = persona_client("auditor").get(reverse("findings:framework", args=["pci-dss-4"])).content.decode()
    row = body[body.index("7.2.4") :]
    row = row[: row.index("</tr>")]
    assert "access reviews only" in row and "not evaluated by the portal" not in row
    assert f'reviewed in <a href="{reverse("reviews:report", args=[campaign.pk])}">2026-Q4</a>' in row
    assert "no closed access review of this account in the last 100 days" in row  # the other accounts
    assert '<span class="badge good">pass</span>' in row and '<span class="badge bad">fail</span>' in row


def test_the_framework_page_reads_the_reviews_in_one_query_whatever_the_campaigns(persona_inventory, persona_client):
    client = persona_client("auditor")
    url = reverse("findings:framework", args=["soc2"])
    client.get(url)  # warm the session and the capability cache's queries
    with CaptureQueriesContext(connection) as none:
        assert client.get(url).status_code == 200
    reviews = [q["sql"] for q in none.captured_queries if "reviews_" in q["sql"]]
    assert len(reviews) == 1 and "reviews_coverage" in reviews[0]
    for n in range(4):
        _campaign(
            persona_inventory, f"2026-Q{n}", closed_days_ago=10 + n, items={OWNED: ["keep"], OTHER_ACCOUNT_ID: [""]}
        )
    with CaptureQueriesContext(connection) as many:
        body = client.get(url).content.decode()
    assert len(many.captured_queries) == len(none.captured_queries)
    # What each close counted, never the campaigns' items (up to millions of rows each).
    assert not [q["sql"] for q in many.captured_queries if "reviews_item" in q["sql"]]
    assert "the review of 2026-Q0 left 1 item undecided" in body


def test_the_newest_gap_is_the_reason_when_no_campaign_in_the_window_is_clean(persona_inventory):
    _campaign(persona_inventory, "2026-Q2", closed_days_ago=90, items={OWNED: ["", "keep"]})
    newest = _campaign(persona_inventory, "2026-Q3", closed_days_ago=20, items={OWNED: ["", "", "", "keep"]})
    _campaign(persona_inventory, "2026-Q1", closed_days_ago=101, items={OWNED: ["keep"]})  # out of the window
    status, evidence = _status(persona_inventory, OWNED)
    assert status == "fail" and evidence.campaign_id == newest.pk
    assert evidence.reason == "the review of 2026-Q3 left 3 items undecided"


def test_the_compliance_index_counts_controls_failing_for_want_of_reviews(persona_inventory, persona_client):
    from governance.findings.models import Finding

    soc2 = compliance.frameworks()["soc2"]
    assert compliance.summary(soc2, Finding.objects.all()) == {"controls": 3, "evaluated": 3, "failing": 0}
    client = persona_client("auditor")
    body = client.get(reverse("findings:compliance")).content.decode()
    row = body[body.index("SOC 2") :]
    row = row[: row.index("</tr>")]
    assert '<span class="badge bad">2</span>' in row  # CC6.2 and CC6.3: no account reviewed
    reviewed = {aws_id: ["keep"] for aws_id in persona_inventory.accounts}
    _campaign(persona_inventory, "2026-Q4", closed_days_ago=10, items=reviewed)
    body = client.get(reverse("findings:compliance")).content.decode()
    row = body[body.index("SOC 2") :]
    row = row[: row.index("</tr>")]
    assert '<span class="badge good">0</span>' in row
