"""A launched campaign's package: export_evidence CAMPAIGN --out, then verify_evidence."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from tests.reviews.conftest import campaign, review_inventory, template  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_a_campaign_exports_and_verifies(campaign, tmp_path, capsys):  # noqa: F811
    call_command("export_evidence", str(campaign.pk), out=str(tmp_path / "c.zip"))
    summary = json.loads(capsys.readouterr().out)
    call_command("verify_evidence", str(tmp_path / "c.zip"))
    assert "verified" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        names = set(archive.namelist())
        rows = list(csv.reader(io.StringIO(archive.read("items.csv").decode(), newline="")))
        manifest = json.loads(archive.read("manifest.json"))
    assert {"items.csv", "items.jsonl", "attestations.json", "population.json", "audit/events.jsonl",
            "audit/checkpoint.json", "audit/checkpoint.sig"} <= names  # fmt: skip
    assert rows[0][:3] == ["campaign_id", "campaign_name", "account_id"]
    assert len(rows) - 1 == campaign.items.count() > 0
    assert manifest["subject"]["id"] == campaign.pk and summary["sha256"]


def test_an_unknown_campaign_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="No campaign '999999'"):
        call_command("export_evidence", "999999", out=str(tmp_path / "c.zip"))
