"""Small things a newcomer trips on: the Admin link, a suspended account, break-glass on the
dashboard, Recent runs after a live sync, long e-mails on a phone, the favicon."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from governance.inventory.models import Account, AccountStatus, SyncRun, SyncStatus
from tests.fixtures.personas import OWNED_ACCOUNT_IDS

pytestmark = pytest.mark.django_db


def _nav(client) -> str:
    page = client.get("/").content.decode()
    return page.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]


def test_the_navigation_shows_admin_to_those_who_may_use_it(persona_client):
    assert 'href="/admin/"' in _nav(persona_client("policy_admin"))
    assert ">Admin<" in _nav(persona_client("policy_admin"))
    for key in ("auditor", "manager", "outsider"):
        assert 'href="/admin/"' not in _nav(persona_client(key)), key


def test_a_suspended_account_says_it_is_suspended_and_not_synced(persona_client, persona_inventory):
    account = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.SUSPENDED)
    page = persona_client("auditor").get(reverse("inventory:account", args=[account.account_id])).content.decode()
    assert "This account is suspended in AWS Organizations, so the portal does not sync it" in page
    assert "Never synced: the account is suspended" in page
    assert "not been synced yet" not in page and "Not synced yet." not in page
    active = persona_inventory.accounts[OWNED_ACCOUNT_IDS[1]]
    page = persona_client("auditor").get(reverse("inventory:account", args=[active.account_id])).content.decode()
    assert "This account has not been synced yet." in page and "suspended" not in page


def test_the_dashboard_names_break_glass_as_the_source_of_rights(persona_client, personas, settings):
    settings.BREAK_GLASS_ENABLED = True
    user = personas["outsider"]
    user.break_glass_until = timezone.now() + timedelta(minutes=30)
    user.save(update_fields=["break_glass_until"])
    page = persona_client("outsider").get("/").content.decode()
    assert "Break-glass session: what you may do here comes from the emergency login" in page
    assert "comes from AWS, not from these claims" not in page
    assert "comes from AWS, not from these claims" in persona_client("auditor").get("/").content.decode()


def test_recent_runs_refresh_when_the_followed_sync_ends(persona_client):
    run = SyncRun.objects.create(started_at=timezone.now(), status=SyncStatus.RUNNING, accounts_total=2)
    client = persona_client("auditor")
    page = client.get(reverse("inventory:sync")).content.decode()
    assert 'id="sync-runs"' in page and 'hx-trigger="sync-finished from:body"' in page
    poll = {"HTTP_HX_REQUEST": "true"}
    url = reverse("inventory:sync_progress") + f"?run={run.pk}"
    assert "HX-Trigger" not in client.get(url, **poll)  # still running: keep polling, nothing to refresh
    SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.SUCCEEDED, accounts_done=2)
    finished = client.get(url, **poll)
    assert finished["HX-Trigger"] == "sync-finished"
    assert "Refresh the list of runs" not in finished.content.decode()  # the page does it
    # Without htmx (no HX-Request), the link is the way to refresh, and no event is sent.
    plain = client.get(url)
    assert "HX-Trigger" not in plain and "Refresh the list of runs" in plain.content.decode()


def test_long_e_mails_and_arns_break_after_at_and_dots():
    rendered = Template("{{ value|breakable }}").render(
        Context({"value": "a.very.long.name+portal@sub.example.com <b>\u202e"})
    )
    assert rendered == ("a.<wbr>very.<wbr>long.<wbr>name+portal@<wbr>sub.<wbr>example.<wbr>com &lt;b&gt;⟦U+202E⟧")


def test_every_page_names_the_favicon_and_it_is_served(persona_client):
    assert finders.find("favicon.svg")
    for path in ("/", "/inventory/", "/admin/"):
        client = persona_client("policy_admin")
        assert 'rel="icon" href="/static/favicon.svg"' in client.get(path).content.decode(), path
