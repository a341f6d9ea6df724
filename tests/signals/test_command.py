"""`manage.py refresh_signals` against the emulator: every source says it is not available there."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_it_prints_a_summary_per_source_and_succeeds_without_the_apis(aws, settings, persona_inventory, capsys):
    call_command("refresh_signals")
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {s["source"]: s["state"] for s in summary["sources"]} == {
        "access_analyzer": "not_available",
        "cloudtrail": "not_available",
        "last_accessed": "not_available",
        "config": "not_available",
    }
    assert set(summary) == {"sources", "seconds"}
    assert set(summary["sources"][0]) == {"source", "state", "accounts", "items", "api_calls", "errors"}


def test_an_unknown_source_is_refused(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="invalid choice"):
        call_command("refresh_signals", "--source", "guessing")
