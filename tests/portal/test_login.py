"""Login only through an IdP: the full authorization-code flow against a real OIDC server over HTTP.

Nothing in the flow is patched: the portal fetches discovery, redirects to the IdP, the test
submits the IdP's sign-in form with `requests`, and the portal exchanges the code for tokens over
HTTP and validates the signed ID token.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import Client

from governance.audit.models import AuditEvent
from governance.aws.demo.personas import BY_KEY
from portal import demo_idp
from tests.fixtures.idp import point_portal_at

ROOT = Path(__file__).resolve().parents[2]
MARIA = BY_KEY["manager"]

pytestmark = pytest.mark.django_db(transaction=False)


def _start_login(client: Client, idp) -> str:
    response = client.post(idp.login_path)
    assert response.status_code == 302, response.content
    return response["Location"]


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def _complete(client: Client, callback_url: str):
    return client.get(_path_and_query(callback_url))


def _login(client: Client, idp, user_name: str = MARIA.user_name, *, mfa: bool = True):
    authorize_url = _start_login(client, idp)
    callback = idp.sign_in(authorize_url, user_name, mfa=mfa)
    return callback, _complete(client, callback)


def _authenticated(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The login page -------------------------------------------------------------------------------


def test_it_lists_each_provider_as_a_post_button_with_csrf(client, oidc_server):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    html = response.content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" class="provider">(.*?)</form>', html, re.S)
    assert form, html
    assert form.group(1) == oidc_server.login_path
    assert 'name="csrfmiddlewaretoken"' in form.group(2)
    assert f"Sign in with {oidc_server.provider_name}" in form.group(2)
    assert "no local sign-up and no password" in html
    assert 'type="password"' not in html


def test_it_has_no_inline_script_or_style_on_the_login_page(client, oidc_server):
    response = client.get("/accounts/login/")

    html = response.content.decode()
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_it_refuses_the_provider_button_without_a_csrf_token(oidc_server):
    client = Client(enforce_csrf_checks=True)

    assert client.post(oidc_server.login_path).status_code == 403


def test_it_accepts_the_provider_button_with_the_pages_csrf_token(oidc_server):
    client = Client(enforce_csrf_checks=True)
    html = client.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    response = client.post(oidc_server.login_path, {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert response["Location"].startswith(oidc_server.url + "/oauth2/authorize?")


def test_it_allows_the_redirect_to_the_idp_in_form_action(client, oidc_server):
    csp = client.get("/accounts/login/")["Content-Security-Policy"]

    form_action = next(d for d in csp.split(";") if d.strip().startswith("form-action"))
    assert oidc_server.url in form_action.split()


def test_it_asks_before_leaving_for_the_idp_on_a_get(client, oidc_server):
    response = client.get(oidc_server.login_path + "?next=/me/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f"Continue to {oidc_server.provider_name}" in html
    assert re.search(r'<form method="post">\s*<input type="hidden" name="csrfmiddlewaretoken"', html)
    assert "socialaccount_states" not in client.session


def test_it_explains_that_nobody_can_sign_in_without_a_provider(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": []}, "saml": {"APPS": []}}

    html = client.get("/accounts/login/").content.decode()

    assert "No identity provider is configured" in html
    assert "<form" not in html.split('id="login-heading"')[1]


# No local accounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/password/change/",
        "/accounts/password/set/",
        "/accounts/email/",
        "/accounts/login/code/confirm/",
        "/accounts/reauthenticate/",
    ],
)
def test_it_offers_no_local_signup_or_password_pages(client, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "x@example.com", "password1": "pw-123456789"}).status_code == 404
    assert not get_user_model().objects.exists()


def test_it_refuses_a_password_login_post(client):
    user = get_user_model().objects.create_user("local", "local@example.com", "a-local-password-1")

    response = client.post("/accounts/login/", {"login": user.email, "password": "a-local-password-1"})

    assert response.status_code == 403
    assert not _authenticated(client)


def test_it_has_no_social_signup_form_to_fill_in(client):
    response = client.get("/accounts/3rdparty/signup/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# The happy path -------------------------------------------------------------------------------


def test_it_signs_in_through_the_idp_and_lands_on_the_dashboard(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["client_id"] == [oidc_server.client_id]
    assert query["code_challenge_method"] == ["S256"]
    assert "state" in query

    callback = oidc_server.sign_in(authorize_url, MARIA.user_name)
    response = _complete(client, callback)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _authenticated(client)
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert MARIA.display_name in dashboard.content.decode()
    user = get_user_model().objects.get()
    assert (user.email, user.first_name, user.last_name) == (MARIA.email, MARIA.given_name, MARIA.family_name)
    assert user.username == MARIA.user_name
    assert not user.has_usable_password()
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == (oidc_server.provider_id, MARIA.user_name)


def test_it_returns_to_the_page_that_asked_for_login(client, oidc_server):
    response = client.get("/me/")
    assert response.status_code == 302
    login_page = client.get(response["Location"]).content.decode()
    action = re.search(r'<form method="post" action="([^"]+)" class="provider">', login_page).group(1)
    assert "next=%2Fme%2F" in action

    authorize_url = client.post(action.replace("&amp;", "&"))["Location"]
    response = _complete(client, oidc_server.sign_in(authorize_url, MARIA.user_name))

    assert response["Location"] == "/me/"


def test_it_signs_the_same_person_in_again_without_a_second_account(client, oidc_server):
    _login(client, oidc_server)
    client.post("/accounts/logout/")
    assert not _authenticated(client)

    _callback, response = _login(client, oidc_server)

    assert response["Location"] == "/"
    assert _authenticated(client)
    assert get_user_model().objects.count() == 1
    assert SocialAccount.objects.count() == 1


def test_it_records_whether_the_idp_asserted_mfa(client, oidc_server):
    _login(client, oidc_server, mfa=True)
    assert SocialAccount.objects.get().extra_data["id_token"]["amr"] == ["pwd", "mfa"]
    client.post("/accounts/logout/")

    _login(client, oidc_server, mfa=False)

    assert SocialAccount.objects.get().extra_data["id_token"]["amr"] == ["pwd"]


def test_it_signs_in_over_http_on_a_live_server(live_server, oidc_server):
    browser = requests.Session()
    page = browser.get(live_server.url + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    to_idp = browser.post(
        live_server.url + oidc_server.login_path,
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": live_server.url + "/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert to_idp.status_code == 302
    callback = oidc_server.sign_in(to_idp.headers["Location"], MARIA.user_name)
    assert callback.startswith(live_server.url + oidc_server.callback_path)
    dashboard = browser.get(callback, timeout=10)

    assert dashboard.status_code == 200
    assert dashboard.url == live_server.url + "/"
    assert MARIA.display_name in dashboard.text


# Failures: a clear page and no authenticated session ------------------------------------------


def _assert_failure_page(response, failure: str, *, status: int | None = None) -> str:
    html = response.content.decode()
    if status is not None:
        assert response.status_code == status, html
    assert f'data-failure="{failure}"' in html, html
    assert 'href="/accounts/login/"' in html and "Try again" in html
    assert "Traceback" not in html
    return html


def test_it_explains_wrong_client_credentials(client, oidc_server, settings):
    point_portal_at(settings, oidc_server.url, secret="not-the-registered-secret")

    _callback, response = _login(client, oidc_server)

    html = _assert_failure_page(response, "client", status=401)
    assert "did not accept the portal's client credentials" in html
    assert not _authenticated(client)
    assert not get_user_model().objects.exists()


def test_it_explains_an_unknown_client_id(client, oidc_server, settings):
    point_portal_at(settings, oidc_server.url, client_id="nobody-registered-this")

    authorize_url = _start_login(client, oidc_server)
    page = requests.get(authorize_url, timeout=10)

    # The IdP itself refuses to show a sign-in form to a client it does not know.
    assert page.status_code == 400
    assert "invalid_client" in page.text


def test_it_refuses_a_replayed_callback(client, oidc_server):
    callback, _response = _login(client, oidc_server)
    assert _authenticated(client)

    attacker = Client()
    replayed = _complete(attacker, callback)

    _assert_failure_page(replayed, "state", status=400)
    assert not _authenticated(attacker)


def test_it_refuses_a_callback_replayed_in_the_same_browser(client, oidc_server):
    callback, _response = _login(client, oidc_server)
    client.post("/accounts/logout/")

    replayed = _complete(client, callback)

    _assert_failure_page(replayed, "state", status=400)
    assert not _authenticated(client)


def test_it_refuses_a_used_code_with_a_fresh_state(client, oidc_server):
    callback, _response = _login(client, oidc_server)
    client.post("/accounts/logout/")
    fresh_state = parse_qs(urlsplit(_start_login(client, oidc_server)).query)["state"][0]
    code = parse_qs(urlsplit(callback).query)["code"][0]

    response = client.get(oidc_server.callback_path + "?" + urlencode({"code": code, "state": fresh_state}))

    _assert_failure_page(response, "code", status=401)
    assert not _authenticated(client)


def test_it_refuses_a_tampered_state(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)
    callback = oidc_server.sign_in(authorize_url, MARIA.user_name)
    query = parse_qs(urlsplit(callback).query)

    response = client.get(
        oidc_server.callback_path + "?" + urlencode({"code": query["code"][0], "state": query["state"][0] + "x"})
    )

    html = _assert_failure_page(response, "state", status=400)
    assert "does not belong to a sign-in started in this browser" in html
    assert not _authenticated(client)
    assert not get_user_model().objects.exists()


def test_it_explains_a_cancelled_sign_in(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)
    denied = requests.post(authorize_url, data={"action": "deny"}, allow_redirects=False, timeout=10)

    response = client.get(_path_and_query(denied.headers["Location"]), follow=True)

    assert "You cancelled signing in" in response.content.decode()
    assert not _authenticated(client)


def test_it_explains_an_idp_that_is_down_at_login(client, oidc_server):
    oidc_server.stop()

    response = client.post(oidc_server.login_path)

    html = _assert_failure_page(response, "unreachable", status=502)
    assert f"The identity provider {oidc_server.provider_name} cannot be reached" in html
    assert not _authenticated(client)


def test_it_explains_an_idp_that_is_down_at_the_callback(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)
    callback = oidc_server.sign_in(authorize_url, MARIA.user_name)
    oidc_server.stop()

    response = _complete(client, callback)

    _assert_failure_page(response, "unreachable", status=502)
    assert not _authenticated(client)
    assert not get_user_model().objects.exists()


def test_it_explains_a_closed_port(client, settings):
    point_portal_at(settings, f"http://127.0.0.1:{_free_port()}")

    response = client.post("/accounts/oidc/demo/login/")

    _assert_failure_page(response, "unreachable", status=502)
    assert not _authenticated(client)


def test_it_explains_a_url_that_is_not_an_idp(client, settings, live_server):
    point_portal_at(settings, live_server.url + "/nothing-here")

    response = client.post("/accounts/oidc/demo/login/")

    _assert_failure_page(response, "idp_error", status=502)


def test_it_refuses_an_idp_user_without_an_email(client, oidc_server):
    requests.put(f"{oidc_server.url}/users/no.email", json={"name": "No Email"}, timeout=10).raise_for_status()

    _callback, response = _login(client, oidc_server, "no.email")

    _assert_failure_page(response, "no_email", status=401)
    assert not _authenticated(client)
    assert not get_user_model().objects.exists()


def test_an_email_another_user_already_has_does_not_lock_its_owner_out(client, oidc_server):
    # Someone got a portal user carrying Maria's address first (an IdP that did not verify it,
    # a break-glass user named after her): Maria still signs in, as a user of her own.
    squatter = get_user_model().objects.create_user("someone", MARIA.email)

    _login(client, oidc_server)

    assert _authenticated(client)
    assert get_user_model().objects.count() == 2
    assert get_user_model().objects.get(socialaccount__uid=MARIA.user_name) != squatter


# The demo IdP as `make run` starts it ---------------------------------------------------------


def test_the_portals_demo_client_matches_the_demo_idps_registration(settings):
    demo = next(a for a in settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] if a["provider_id"] == "demo")

    assert demo["client_id"] == settings.DEMO_IDP_CLIENT_ID == demo_idp.DEFAULT_CLIENT_ID
    assert demo["secret"] == demo_idp.DEFAULT_CLIENT_SECRET
    assert demo["settings"]["server_url"] == settings.DEMO_IDP_URL


def _run_demo_idp(port: int, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "portal.demo_idp", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PORTAL_ENV": "development", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_discovery(url: str, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return requests.get(url + "/.well-known/openid-configuration", timeout=2).json()
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the demo IdP did not start")


def test_the_demo_idp_serves_discovery_and_refuses_a_taken_port():
    port = _free_port()
    first = _run_demo_idp(port)
    try:
        config = _wait_for_discovery(f"http://127.0.0.1:{port}", first)
        assert config["issuer"] == f"http://127.0.0.1:{port}"

        second = _run_demo_idp(port)
        _out, err = second.communicate(timeout=30)

        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in err
        assert "DEMO_IDP_PORT" in err
        assert "Traceback" not in err
    finally:
        first.terminate()
        first.communicate(timeout=10)


def test_the_demo_idp_refuses_to_run_in_production():
    process = _run_demo_idp(_free_port(), PORTAL_ENV="production")
    _out, err = process.communicate(timeout=30)

    assert process.returncode == 2
    assert "never runs in production" in err


def test_the_demo_idp_signs_in_someone_who_is_not_a_persona(client, oidc_server):
    _callback, response = _login(client, oidc_server, "new.person@example.com", mfa=False)

    assert response["Location"] == "/"
    user = get_user_model().objects.get()
    assert user.email == "new.person@example.com"
    assert SocialAccount.objects.get().extra_data["id_token"]["amr"] == ["pwd"]


def test_the_demo_idp_user_name_that_is_no_email_gets_the_no_email_page(client, oidc_server):
    _callback, response = _login(client, oidc_server, "nobody")

    _assert_failure_page(response, "no_email", status=401)
    assert not _authenticated(client)


def test_the_connections_page_only_lists_the_idp_accounts(client, oidc_server):
    _login(client, oidc_server)

    response = client.get("/accounts/3rdparty/")

    html = response.content.decode()
    assert response.status_code == 200
    assert oidc_server.provider_name in html
    assert "<form" not in html.split('<main id="main">')[1].split("</main>")[0]


# The demo IdP's sign-in session, prompt=login, max_age and auth_time --------------------------


def _id_token(client: Client) -> dict:
    return SocialAccount.objects.get(user_id=client.session["_auth_user_id"]).extra_data["id_token"]


def _with(authorize_url: str, **params: str) -> str:
    return authorize_url + "&" + urlencode(params)


def test_the_demo_idp_offers_its_session_to_the_next_login_with_its_auth_time(client, oidc_server):
    browser = requests.Session()
    oidc_server.clock.offset = -30
    callback = oidc_server.sign_in(_start_login(client, oidc_server), MARIA.user_name, browser=browser)
    _complete(client, callback)
    oidc_server.clock.offset = 0
    first = _id_token(client)
    # auth_time is when Maria chose herself at the IdP, not when the token was issued.
    assert first["iat"] - 40 <= first["auth_time"] <= first["iat"] - 25
    client.post("/accounts/logout/")

    response = _complete(client, oidc_server.continue_session(_start_login(client, oidc_server), MARIA.user_name,
                                                             browser=browser))  # fmt: skip

    assert response["Location"] == "/" and _authenticated(client)
    again = _id_token(client)
    assert again["auth_time"] == first["auth_time"] and again["amr"] == first["amr"]
    assert get_user_model().objects.count() == 1


def test_the_demo_idp_asks_again_on_prompt_login_or_an_exceeded_max_age(client, oidc_server):
    browser = requests.Session()
    oidc_server.clock.offset = -120
    _complete(client, oidc_server.sign_in(_start_login(client, oidc_server), MARIA.user_name, browser=browser))
    oidc_server.clock.offset = 0
    client.post("/accounts/logout/")
    authorize_url = _start_login(client, oidc_server)

    def offered(url: str) -> bool:
        page = oidc_server.page(url, browser=browser)
        assert MARIA.display_name in page  # the personas are always there to choose from
        return "Continue without signing in again" in page and 'id="sign-in-again"' not in page

    assert offered(authorize_url)
    assert offered(_with(authorize_url, max_age="3600"))
    assert not offered(_with(authorize_url, prompt="login"))
    assert not offered(_with(authorize_url, prompt="login consent"))
    assert not offered(_with(authorize_url, max_age="60"))
    assert not offered(_with(authorize_url, max_age="0"))
    assert not offered(_with(authorize_url, max_age="soon"))
    assert not offered(authorize_url.replace("&", "&prompt=login&", 1))
    # Nor can the session be used by posting the page's form anyway.
    refused = browser.post(_with(authorize_url, max_age="60"), data={"sub": MARIA.user_name, "reuse": "1"},
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert refused.status_code == 303 and "code=" not in refused.headers["Location"]
    # Another browser has no session to offer; a sign-in under prompt=login is a new one.
    assert "Continue without signing in again" not in oidc_server.page(authorize_url)
    before = int(time.time())
    _complete(client, oidc_server.sign_in(_with(authorize_url, prompt="login"), MARIA.user_name, browser=browser))
    assert before <= _id_token(client)["auth_time"] <= time.time()


def test_the_demo_idp_forgets_the_session_when_it_is_ended_there(client, oidc_server):
    browser = requests.Session()
    _complete(client, oidc_server.sign_in(_start_login(client, oidc_server), MARIA.user_name, browser=browser))
    assert "Continue without signing in again" in oidc_server.page(_start_login(client, oidc_server), browser=browser)

    browser.post(oidc_server.url + "/oauth2/end_session/confirm", timeout=10).raise_for_status()

    assert "Continue without signing in again" not in oidc_server.page(
        _start_login(client, oidc_server), browser=browser
    )


# Nonce and PKCE --------------------------------------------------------------------------------


def _replace_param(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params)
    for name in [k for k, v in query.items() if v is None]:
        del query[name]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _stashed_state(client: Client, authorize_url: str) -> dict:
    state_id = parse_qs(urlsplit(authorize_url).query)["state"][0]
    return client.session["socialaccount_states"][state_id][0]


def _edit_stashed_state(client: Client, authorize_url: str, **changes) -> None:
    state_id = parse_qs(urlsplit(authorize_url).query)["state"][0]
    session = client.session
    state = session["socialaccount_states"][state_id][0]
    for name, value in changes.items():
        if value is None:
            state.pop(name, None)
        else:
            state[name] = value
    session.save()


def test_it_sends_a_fresh_nonce_and_an_s256_challenge_of_the_verifier_it_keeps(client, oidc_server):
    first, second = _start_login(client, oidc_server), _start_login(client, oidc_server)

    for authorize_url in (first, second):
        query = parse_qs(urlsplit(authorize_url).query)
        state = _stashed_state(client, authorize_url)
        assert query["nonce"] == [state["oidc_nonce"]] and len(state["oidc_nonce"]) >= 32
        assert query["code_challenge_method"] == ["S256"]
        digest = hashlib.sha256(state["pkce_code_verifier"].encode("ascii")).digest()
        assert query["code_challenge"] == [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    assert parse_qs(urlsplit(first).query)["nonce"] != parse_qs(urlsplit(second).query)["nonce"]

    nonce = parse_qs(urlsplit(second).query)["nonce"][0]
    assert _complete(client, oidc_server.sign_in(second, MARIA.user_name))["Location"] == "/"
    assert _id_token(client)["nonce"] == nonce


def test_a_nonce_chosen_in_the_request_does_not_replace_the_portals(client, oidc_server):
    response = client.post(oidc_server.login_path + "?" + urlencode({"auth_params": "nonce=chosen-by-a-link"}))

    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["nonce"] != ["chosen-by-a-link"]
    assert query["nonce"] == [_stashed_state(client, response["Location"])["oidc_nonce"]]


def test_it_refuses_an_id_token_issued_for_another_nonce(client, oidc_server):
    # As if the ID token came from another authorization request (replayed or injected): the IdP
    # is asked with another nonce than the one this browser's sign-in keeps.
    authorize_url = _replace_param(_start_login(client, oidc_server), nonce="n-" + "x" * 40)
    response = _complete(client, oidc_server.sign_in(authorize_url, MARIA.user_name))

    html = _assert_failure_page(response, "nonce", status=400)
    assert "not issued for this sign-in" in html
    assert not _authenticated(client)
    assert not get_user_model().objects.exists()
    event = AuditEvent.objects.get(action="authz.login.nonce_refused")
    assert event.after == {"provider": oidc_server.provider_id, "uid": MARIA.user_name, "reason": "mismatch"}


def test_it_refuses_a_sign_in_whose_state_kept_no_nonce(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)
    _edit_stashed_state(client, authorize_url, oidc_nonce=None)

    response = _complete(client, oidc_server.sign_in(authorize_url, MARIA.user_name))

    _assert_failure_page(response, "nonce", status=400)
    assert not _authenticated(client)
    assert AuditEvent.objects.get(action="authz.login.nonce_refused").after["reason"] == "not_sent"


def _idp_refusal(authorize_url: str) -> str:
    """What the IdP says to an authorization request it refuses (sent back to the portal)."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and "code" not in query
    return query["error_description"][0]


def test_the_demo_idp_requires_a_nonce_and_refuses_a_reused_one(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)
    assert "nonce" in _idp_refusal(_replace_param(authorize_url, nonce=None))

    used = parse_qs(urlsplit(authorize_url).query)["nonce"][0]
    _complete(client, oidc_server.sign_in(authorize_url, MARIA.user_name))
    client.post("/accounts/logout/")

    again = _replace_param(_start_login(client, oidc_server), nonce=used)
    assert "Replay" in _idp_refusal(again)


def test_the_demo_idp_requires_pkce_with_s256(client, oidc_server):
    authorize_url = _start_login(client, oidc_server)

    assert "PKCE" in _idp_refusal(_replace_param(authorize_url, code_challenge=None, code_challenge_method=None))
    assert "S256" in _idp_refusal(_replace_param(authorize_url, code_challenge_method="plain"))
    assert "S256" in _idp_refusal(_replace_param(authorize_url, code_challenge_method=None))
    discovery = requests.get(oidc_server.url + "/.well-known/openid-configuration", timeout=10).json()
    assert discovery["code_challenge_methods_supported"] == ["S256"]


def test_the_demo_idp_refuses_a_code_without_its_verifier(client, oidc_server):
    # A stolen code is useless without the verifier that only the browser's portal session holds.
    authorize_url = _start_login(client, oidc_server)
    _edit_stashed_state(client, authorize_url, pkce_code_verifier="v" * 64)

    response = _complete(client, oidc_server.sign_in(authorize_url, MARIA.user_name))

    _assert_failure_page(response, "code", status=401)
    assert not _authenticated(client)
    assert not get_user_model().objects.exists()
