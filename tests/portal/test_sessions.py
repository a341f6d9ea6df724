"""Session lifetime (30 minutes idle, 12 hours in all) and the security headers on every page."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

MINUTE = 60
HOUR = 3600


@pytest.fixture
def signed_in(client):
    user = get_user_model().objects.create_user("maria.manager", "maria.manager@example.com")
    client.force_login(user)
    assert client.get("/").status_code == 200
    return client


def _age_session(client, *, idle: int, total: int) -> None:
    """Pretends the last request was `idle` seconds ago and the session began `total` seconds ago."""
    now = int(time.time())
    session = client.session
    session["portal_last_seen"] = now - idle
    session["portal_started_at"] = now - total
    session.save()


def _is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_it_uses_30_minutes_idle_and_12_hours_absolute_by_default(settings):
    assert settings.SESSION_IDLE_TIMEOUT == 30 * MINUTE
    assert settings.SESSION_ABSOLUTE_TIMEOUT == 12 * HOUR
    assert settings.SESSION_COOKIE_AGE <= settings.SESSION_ABSOLUTE_TIMEOUT


def test_it_keeps_a_session_idle_for_just_under_30_minutes(signed_in):
    _age_session(signed_in, idle=29 * MINUTE, total=29 * MINUTE)

    assert signed_in.get("/").status_code == 200
    assert _is_signed_in(signed_in)


def test_it_ends_a_session_idle_for_more_than_30_minutes(signed_in):
    _age_session(signed_in, idle=30 * MINUTE + 5, total=40 * MINUTE)

    response = signed_in.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not _is_signed_in(signed_in)
    assert signed_in.session.get("portal_expired") is True
    assert "Your session ended" in signed_in.get(response["Location"]).content.decode()


def test_activity_moves_the_idle_deadline(signed_in):
    _age_session(signed_in, idle=20 * MINUTE, total=20 * MINUTE)
    assert signed_in.get("/").status_code == 200

    last_seen = signed_in.session["portal_last_seen"]

    assert abs(last_seen - time.time()) < 5
    assert signed_in.get("/").status_code == 200


def test_it_ends_a_session_older_than_12_hours_even_when_active(signed_in):
    _age_session(signed_in, idle=1 * MINUTE, total=12 * HOUR + 5)

    response = signed_in.get("/")

    assert response.status_code == 302
    assert not _is_signed_in(signed_in)


def test_it_keeps_an_active_session_just_under_12_hours(signed_in):
    _age_session(signed_in, idle=1 * MINUTE, total=12 * HOUR - 5 * MINUTE)

    assert signed_in.get("/").status_code == 200
    assert _is_signed_in(signed_in)


def test_a_clock_a_real_session_lived_through(signed_in, monkeypatch):
    """The same rules when time passes, rather than when the session's timestamps are moved."""
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 25 * MINUTE)
    assert signed_in.get("/").status_code == 200
    monkeypatch.setattr(time, "time", lambda: start + 50 * MINUTE)
    assert signed_in.get("/").status_code == 200
    monkeypatch.setattr(time, "time", lambda: start + 81 * MINUTE)

    assert signed_in.get("/").status_code == 302
    assert not _is_signed_in(signed_in)


def test_it_honours_shorter_configured_timeouts(signed_in, settings):
    settings.SESSION_IDLE_TIMEOUT = 5 * MINUTE
    _age_session(signed_in, idle=6 * MINUTE, total=6 * MINUTE)

    assert signed_in.get("/").status_code == 302


# Security headers -----------------------------------------------------------------------------


def _directives(header: str) -> dict[str, list[str]]:
    result = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            result[words[0]] = words[1:]
    return result


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/healthz", "/does-not-exist/"])
def test_every_page_has_a_strict_content_security_policy(signed_in, path):
    header = signed_in.get(path)["Content-Security-Policy"]

    csp = _directives(header)
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["form-action"][0] == "'self'"


def test_form_action_allows_only_the_configured_idps(client, settings):
    csp = _directives(client.get("/accounts/login/")["Content-Security-Policy"])

    assert csp["form-action"] == ["'self'", settings.DEMO_IDP_URL]


@pytest.mark.parametrize("path", ["/accounts/login/", "/"])
def test_every_page_has_the_other_security_headers(signed_in, path):
    response = signed_in.get(path)

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_session_cookie_is_http_only_and_same_site(client, settings):
    user = get_user_model().objects.create_user("arthur.auditor", "arthur.auditor@example.com")
    client.force_login(user)

    # The first request of a session stamps its start, so the response sets the cookie.
    cookie = client.get("/").cookies[settings.SESSION_COOKIE_NAME]

    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
