"""API tokens: hashed at rest, expiring, revocable, audited; the pages that manage them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance.api import services
from governance.api.models import ApiToken
from governance.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_it_stores_only_the_digest_and_audits_the_creation(personas):
    user = personas["auditor"]
    token, plaintext = services.create_token(user=user, name="SIEM export", days=30, with_mfa=True, actor=user)
    assert plaintext.startswith(f"gpt_{token.prefix}_") and len(plaintext) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == services.digest(plaintext) and plaintext not in str(stored.__dict__)
    event = AuditEvent.objects.get(action="api.token.created")
    assert event.actor_id == user.pk and event.object_id == str(token.pk)
    assert event.after["prefix"] == token.prefix and plaintext not in str(event.after)


@pytest.mark.parametrize(
    ("name", "days", "message"),
    [
        ("", 30, "name of 1 to 100"),
        ("x" * 101, 30, "name of 1 to 100"),
        ("ok", 0, "1 to 90 days"),
        ("ok", 91, "1 to 90"),
    ],
)
def test_it_refuses_a_bad_token_request_and_writes_nothing(personas, name, days, message):
    user = personas["auditor"]
    with pytest.raises(services.TokenError, match=message):
        services.create_token(user=user, name=name, days=days, with_mfa=True, actor=user)
    assert not ApiToken.objects.exists() and not AuditEvent.objects.filter(action__startswith="api.").exists()


def test_it_limits_the_active_tokens_per_person(personas, settings):
    settings.API_TOKENS_PER_USER = 2
    user = personas["auditor"]
    for i in range(2):
        services.create_token(user=user, name=f"t{i}", days=1, with_mfa=False, actor=user)
    with pytest.raises(services.TokenError, match="At most 2 active tokens"):
        services.create_token(user=user, name="t3", days=1, with_mfa=False, actor=user)


def test_it_answers_401_to_no_unknown_expired_or_revoked_tokens(personas, api_token):
    plaintext = api_token("auditor")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/api/v1/me/").status_code == 200
    assert Client().get("/api/v1/me/").status_code == 401
    unknown = Client(HTTP_AUTHORIZATION="Bearer gpt_00000000_guessed").get("/api/v1/me/")
    assert unknown.status_code == 401 and unknown["WWW-Authenticate"] == 'Bearer realm="api"'
    token = ApiToken.objects.get(digest=services.digest(plaintext))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/api/v1/me/").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=1))
    services.revoke_token(token=token, actor=personas["auditor"])
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/api/v1/me/").status_code == 401


def test_it_refuses_the_token_of_a_deactivated_user(personas, api_token):
    plaintext = api_token("auditor")
    personas["auditor"].is_active = False
    personas["auditor"].save(update_fields=["is_active"])
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/api/v1/me/").status_code == 401


def test_it_records_when_a_token_was_last_used_at_most_once_a_minute(
    personas, api_token, django_assert_max_num_queries
):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token('auditor')}")
    client.get("/api/v1/me/")
    token = ApiToken.objects.get()
    first = token.last_used_at
    assert first is not None
    client.get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at == first


def test_it_revokes_once_and_audits_it_once(personas):
    user = personas["auditor"]
    token, _ = services.create_token(user=user, name="x", days=1, with_mfa=False, actor=user)
    services.revoke_token(token=token, actor=user)
    services.revoke_token(token=token, actor=user)
    assert AuditEvent.objects.filter(action="api.token.revoked").count() == 1


def test_it_shows_a_new_token_once_on_the_page(persona_client):
    client = persona_client("auditor")
    response = client.post("/api/tokens/create/", {"name": "nightly export", "days": "7"})
    assert response.status_code == 302
    page = client.get("/api/tokens/").content.decode()
    token = ApiToken.objects.get()
    assert f"gpt_{token.prefix}_" in page and "Copy it now" in page
    again = client.get("/api/tokens/").content.decode()
    assert "Copy it now" not in again and f"gpt_{token.prefix}_…" in again
    assert token.created_with_mfa and (token.expires_at - token.created_at).days == 7


def test_it_asks_for_a_fresh_mfa_login_before_creating_a_token(persona_client):
    response = persona_client("auditor", mfa=False).post("/api/tokens/create/", {"name": "x", "days": "7"})
    assert response.status_code == 302 and "/api/tokens/" not in response["Location"]
    assert not ApiToken.objects.exists()


def test_it_shows_the_reason_for_a_refused_token(persona_client):
    client = persona_client("auditor")
    client.post("/api/tokens/create/", {"name": "", "days": "abc"})
    assert not ApiToken.objects.exists()
    assert "Give the token a name" in client.get("/api/tokens/").content.decode()


def test_it_revokes_only_ones_own_tokens_from_the_page(personas, persona_client):
    mine, _ = services.create_token(
        user=personas["manager"], name="m", days=1, with_mfa=True, actor=personas["manager"]
    )
    theirs, _ = services.create_token(
        user=personas["auditor"], name="a", days=1, with_mfa=True, actor=personas["auditor"]
    )
    client = persona_client("manager")
    client.post("/api/tokens/revoke/", {"prefix": theirs.prefix})
    client.post("/api/tokens/revoke/", {"prefix": mine.prefix})
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
