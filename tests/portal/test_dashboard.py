from __future__ import annotations

from django.utils import timezone

from governance.inventory.models import SyncRun, SyncStatus


def test_it_shows_who_you_are_as_the_idp_said(persona_client, personas):
    client = persona_client("auditor")

    response = client.get("/")

    assert response.status_code == 200
    body = response.content.decode().replace("<wbr>", "")  # e-mails may wrap after @ and dots
    assert personas["auditor"].email in body
    assert "Arthur Auditor" in body
    assert "recent MFA" in body


def test_it_shows_an_empty_state_until_the_first_sync(persona_client):
    response = persona_client("auditor").get("/")

    assert "No inventory yet" in response.content.decode()


def test_it_shows_counts_and_the_last_sync_once_synced(persona_client):
    SyncRun.objects.create(
        status=SyncStatus.SUCCEEDED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        counts={"accounts": 4, "principals": 4321, "entitlements": 99},
    )

    body = persona_client("auditor").get("/").content.decode()

    assert "No inventory yet" not in body
    assert "organizational units" in body
    assert "4321" in body
    assert "Succeeded" in body


def test_it_shows_a_manager_only_the_accounts_they_own(persona_client):
    SyncRun.objects.create(status=SyncStatus.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now())

    body = persona_client("manager").get("/").content.decode()

    assert "accounts you own" in body
    assert "organizational units" not in body


def test_it_tells_an_outsider_where_rights_come_from(persona_client):
    body = persona_client("outsider").get("/").content.decode()

    assert "no inventory rights in AWS" in body
    assert "Last sync" not in body


def test_it_sends_anonymous_visitors_to_login(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_its_query_count_does_not_grow_with_the_organization(persona_client, django_assert_max_num_queries):
    client = persona_client("auditor")
    client.get("/")  # warm the session

    with django_assert_max_num_queries(14):
        client.get("/")
