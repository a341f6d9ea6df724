"""The campaign's evidence source: what the evidence package holds of a campaign."""

from __future__ import annotations

import json

import pytest

from governance.evidence import sources
from governance.reviews import services

pytestmark = pytest.mark.django_db


def test_a_campaign_is_a_source_with_its_items_signoffs_and_audit(campaign, personas):
    item = campaign.items.filter(reviewer_email="maria.manager@example.com", kind="access_key").get()
    services.decide_item(item_id=item.pk, decision="revoke", justification="unused", actor=personas["manager"])
    source = sources.build("campaign", str(campaign.pk))
    names = [f.path for f in source.files]
    assert names[:3] == ["campaign.json", "items.jsonl", "signoffs.json"] and "audit/events.jsonl" in names
    assert source.subject["manifest"]["reconciled"] is True
    files = {f.path: f for f in source.files}
    raw = b"".join(files["items.jsonl"].chunks())
    rows = [json.loads(line) for line in raw.decode().splitlines()]
    assert len(rows) == campaign.item_count and any(r["decision"] == "revoke" for r in rows)


def test_an_unknown_campaign_is_not_found(db):
    with pytest.raises(sources.NotFound):
        sources.build("campaign", "999999")
    with pytest.raises(sources.NotFound):
        sources.build("campaign", "abc")
