"""Through the real OIDC server: linking at login, MFA facts per session, and claims granting nothing."""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from governance.authz import mfa
from governance.authz.capabilities import Capability, capabilities
from governance.authz.models import LinkStatus
from governance.aws.demo.personas import BY_KEY, PERSONAS
from tests.fixtures.idp import start_idp

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.authz.urls")]

EVERY_GROUP_AND_ROLE = {
    "groups": ["GovernanceAuditor", "GovernancePolicyAdmin", "GovernanceAccessAdmin", "jit-approvers", "admins"],
    "roles": ["auditor", "policy_admin", "campaign_admin", "admin", "superuser"],
    "cognito:groups": ["admins"],
    "custom:portal_role": "policy_admin",
    "is_staff": True,
    "is_superuser": True,
}
GREEDY = dataclasses.replace(
    BY_KEY["outsider"],
    key="greedy",
    user_name="greta.greedy",
    email="greta.greedy@example.com",
    given_name="Greta",
    family_name="Greedy",
    extra_claims=EVERY_GROUP_AND_ROLE,
)
GREEDY_REQUESTER = dataclasses.replace(BY_KEY["requester"], extra_claims=EVERY_GROUP_AND_ROLE)


@pytest.fixture
def idp(settings):
    people = [p for p in PERSONAS if p.key != "requester"] + [GREEDY, GREEDY_REQUESTER]
    running = start_idp(settings, personas=people)
    try:
        yield running
    finally:
        running.stop()


def _local(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def _login(client, idp, user_name: str, *, mfa: bool = True):
    authorize_url = client.post(idp.login_path)["Location"]
    return client.get(_local(idp.sign_in(authorize_url, user_name, mfa=mfa)))


def _user(user_name: str):
    return get_user_model().objects.get(username=user_name)


def test_it_links_at_login_and_grants_from_aws(client, idp, persona_inventory):
    _login(client, idp, BY_KEY["auditor"].user_name)
    user = _user(BY_KEY["auditor"].user_name)
    assert user.identity_link.status == LinkStatus.LINKED
    assert capabilities(user).has(Capability.AUDIT_VIEW)
    page = client.get("/me/").content.decode()
    assert "GovernanceAuditor on 111111111111 (direct)" in page
    assert "pwd, mfa" in page


def test_it_grants_nothing_for_claimed_groups_and_roles_to_an_unlinked_user(client, idp, persona_inventory):
    _login(client, idp, GREEDY.user_name)
    user = _user(GREEDY.user_name)
    social = user.socialaccount_set.get()
    assert social.extra_data["id_token"]["groups"] == EVERY_GROUP_AND_ROLE["groups"]
    assert user.identity_link.status == LinkStatus.MISSING
    assert not capabilities(user).capabilities
    assert not (user.is_staff or user.is_superuser)
    assert client.get("/test/scp/").status_code == 403
    assert client.get("/admin/").status_code == 403
    page = client.get("/me/").content.decode()
    assert "No AWS IAM Identity Center user matches" in page


def test_it_grants_a_linked_user_only_what_aws_says_whatever_the_token_claims(client, idp, persona_inventory):
    _login(client, idp, GREEDY_REQUESTER.user_name)
    user = _user(GREEDY_REQUESTER.user_name)
    assert user.socialaccount_set.get().extra_data["id_token"]["roles"] == EVERY_GROUP_AND_ROLE["roles"]
    assert capabilities(user).capabilities == {Capability.JIT_REQUEST}
    assert client.get("/test/scp/").status_code == 403


def test_it_remembers_the_logins_amr_in_the_session(client, idp, persona_inventory):
    _login(client, idp, BY_KEY["auditor"].user_name, mfa=False)
    assert client.session[mfa.SESSION_AMR] == ["pwd"]
    assert client.session[mfa.SESSION_PROVIDER] == idp.provider_id
    assert client.session[mfa.SESSION_SUBJECT] == BY_KEY["auditor"].user_name


def test_it_steps_up_through_the_idp_and_returns_to_the_action(client, idp, persona_inventory):
    _login(client, idp, BY_KEY["auditor"].user_name, mfa=False)
    step_up = client.get("/test/evidence/?campaign=4")
    assert step_up.status_code == 302

    to_idp = client.post(step_up["Location"])
    assert to_idp.status_code == 302
    authorize = parse_qs(urlsplit(to_idp["Location"]).query)
    assert authorize["prompt"] == ["login"]
    assert authorize["max_age"] == ["0"]

    back = client.get(_local(idp.sign_in(to_idp["Location"], BY_KEY["auditor"].user_name, mfa=True)))
    assert back["Location"] == "/test/evidence/?campaign=4"
    assert client.get("/test/evidence/?campaign=4").status_code == 200
    assert get_user_model().objects.count() == 1


def test_it_keeps_asking_when_the_new_login_has_no_mfa_either(client, idp, persona_inventory):
    _login(client, idp, BY_KEY["auditor"].user_name, mfa=False)
    to_idp = client.post(client.get("/test/evidence/")["Location"])
    client.get(_local(idp.sign_in(to_idp["Location"], BY_KEY["auditor"].user_name, mfa=False)))
    assert client.get("/test/evidence/").status_code == 302


def _id_token(user_name: str) -> dict:
    return _user(user_name).socialaccount_set.get().extra_data["id_token"]


def test_the_step_up_shows_the_idps_page_again_and_stores_the_new_auth_time(client, idp, persona_inventory):
    browser = requests.Session()
    auditor = BY_KEY["auditor"]
    idp.clock.offset = -120  # this browser signed in at the IdP two minutes ago, without MFA
    authorize_url = client.post(idp.login_path)["Location"]
    client.get(_local(idp.sign_in(authorize_url, auditor.user_name, mfa=False, browser=browser)))
    idp.clock.offset = 0
    first = _id_token(auditor.user_name)["auth_time"]
    assert time.time() - 130 <= first <= time.time() - 110
    assert client.session[mfa.SESSION_AUTH_TIME] == first

    to_idp = client.post(client.get("/test/evidence/")["Location"])["Location"]
    page = idp.page(to_idp, browser=browser)
    # The IdP still has this browser's sign-in, but prompt=login / max_age=0 make it ask again.
    assert "Continue without signing in again" not in page
    assert 'id="sign-in-again"' in page and auditor.display_name in page
    reused = browser.post(to_idp, data={"sub": auditor.user_name, "reuse": "1"}, allow_redirects=False, timeout=10)
    assert reused.status_code == 303
    again = reused.headers["Location"]
    assert again.startswith(idp.url + "/oauth2/authorize?") and "code=" not in again
    assert client.session[mfa.SESSION_AUTH_TIME] == first

    before = int(time.time())
    back = client.get(_local(idp.sign_in(to_idp, auditor.user_name, mfa=True, browser=browser)))
    assert back["Location"] == "/test/evidence/"
    token = _id_token(auditor.user_name)
    assert token["amr"] == ["pwd", "mfa"]
    assert before <= token["auth_time"] <= time.time()
    assert client.session[mfa.SESSION_AUTH_TIME] == token["auth_time"]
    assert client.get("/test/evidence/").status_code == 200


def test_a_login_on_an_old_idp_session_is_not_fresh_mfa(client, idp, persona_inventory):
    browser = requests.Session()
    auditor = BY_KEY["auditor"].user_name
    idp.clock.offset = -3600  # signed in at the IdP, with MFA, an hour ago
    client.get(_local(idp.sign_in(client.post(idp.login_path)["Location"], auditor, mfa=True, browser=browser)))
    idp.clock.offset = 0
    client.post("/accounts/logout/")

    # A plain login (no prompt, no max_age) may reuse the IdP's session, and its auth_time with it.
    client.get(_local(idp.continue_session(client.post(idp.login_path)["Location"], auditor, browser=browser)))
    token = _id_token(auditor)
    assert token["amr"] == ["pwd", "mfa"] and token["auth_time"] <= time.time() - 3590
    assert client.session[mfa.SESSION_AUTH_TIME] == token["auth_time"]
    assert client.get("/test/evidence/").status_code == 302
