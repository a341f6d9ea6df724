"""Through the real OIDC server: linking at login, MFA facts per session, and claims granting nothing."""

from __future__ import annotations

import dataclasses
import threading
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from django.contrib.auth import get_user_model

from governance.authz import mfa
from governance.authz.capabilities import Capability, capabilities
from governance.authz.models import LinkStatus
from governance.aws.demo.personas import BY_KEY, PERSONAS
from portal.demo_idp import create_app, make_server
from tests.fixtures.idp import CLIENT_ID, CLIENT_SECRET, OIDCServer, point_portal_at

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
    server = make_server("127.0.0.1", 0, create_app(clients={CLIENT_ID: CLIENT_SECRET}, personas=people))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    point_portal_at(settings, url)
    running = OIDCServer(url=url, server=server, thread=thread)
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
