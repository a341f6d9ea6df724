from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from governance.authz import mfa
from governance.authz.decorators import Rule, rule_of
from tests.authz import urls as test_urls
from tests.fixtures.personas import fresh_mfa_session

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.authz.urls")]


def test_it_declares_the_rule_on_the_view():
    assert rule_of(test_urls.scp_page) == Rule(capabilities=("scp.view",))
    assert rule_of(test_urls.scp_approve) == Rule(capabilities=("scp.approve",), mfa=True)
    assert rule_of(test_urls.evidence_export) == Rule(capabilities=("evidence.export",), mfa=True)


def test_it_rejects_unknown_capabilities():
    from governance.authz.decorators import requires

    with pytest.raises(ValueError, match=r"scp\.delete_everything"):
        requires("scp.delete_everything")


def test_it_redirects_anonymous_users_to_login(client):
    response = client.get("/test/scp/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/test/scp/")


def test_it_answers_403_without_the_capability(persona_client):
    response = persona_client("requester").get("/test/scp/")
    assert response.status_code == 403
    assert b"See service control policies" in response.content
    assert b"/me/" in response.content


def test_it_admits_holders_of_the_capability(persona_client):
    assert persona_client("auditor").get("/test/scp/").status_code == 200


def test_it_checks_capabilities_before_mfa(persona_client):
    assert persona_client("auditor", mfa=False).post("/test/scp/approve/").status_code == 403


def test_it_lets_a_fresh_mfa_login_approve(persona_client):
    assert persona_client("policy_admin").post("/test/scp/approve/").status_code == 200


def _assert_step_up(response, next_url):
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/oidc/demo/login/"
    query = parse_qs(location.query)
    assert query["next"] == [next_url]
    assert query["process"] == ["login"]
    assert parse_qs(query["auth_params"][0]) == {"prompt": ["login"], "max_age": ["0"]}


def test_it_steps_up_a_login_without_mfa(persona_client):
    response = persona_client("auditor", mfa=False).get("/test/evidence/?campaign=3")
    _assert_step_up(response, "/test/evidence/?campaign=3")


def test_it_steps_up_an_mfa_login_older_than_the_window(persona_client, settings):
    settings.MFA_STEP_UP_MINUTES = 5
    client = persona_client("auditor")
    session = client.session
    session[mfa.SESSION_AUTH_TIME] = int(time.time()) - 6 * 60
    session.save()
    _assert_step_up(client.get("/test/evidence/"), "/test/evidence/")


def test_it_returns_a_post_to_the_page_it_came_from(persona_client):
    client = persona_client("policy_admin", mfa=False)
    response = client.post("/test/scp/approve/", HTTP_REFERER="http://testserver/scp/changes/7/")
    _assert_step_up(response, "http://testserver/scp/changes/7/")


def test_it_ignores_a_foreign_referer(persona_client):
    client = persona_client("policy_admin", mfa=False)
    response = client.post("/test/scp/approve/", HTTP_REFERER="https://evil.example/phish")
    _assert_step_up(response, "/")


def test_it_tells_htmx_to_redirect(persona_client):
    response = persona_client("policy_admin", mfa=False).post("/test/scp/approve/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/accounts/oidc/demo/login/")


@pytest.mark.parametrize("method", ["otp", "hwk", "swk", "MFA"])
def test_it_accepts_each_mfa_method(persona_client, method):
    client = persona_client("auditor", mfa=False)
    fresh_mfa_session(client, amr=("pwd", method))
    assert client.get("/test/evidence/").status_code == 200


def test_it_cannot_step_up_a_session_without_an_idp(personas):
    client = Client()
    client.force_login(personas["auditor"], backend="allauth.account.auth_backends.AuthenticationBackend")
    response = client.get("/test/evidence/")
    assert response.status_code == 403
    assert b"multi-factor" in response.content


def test_it_cannot_step_up_through_a_provider_that_is_not_configured(persona_client):
    client = persona_client("auditor", mfa=False)
    fresh_mfa_session(client, provider="gone-idp", amr=("pwd",))
    response = client.get("/test/evidence/")
    assert response.status_code == 403
    assert b"multi-factor" in response.content


def test_it_sends_an_expired_htmx_request_to_the_login_page(client):
    response = client.get("/test/scp/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/accounts/login/?next=/test/scp/")
