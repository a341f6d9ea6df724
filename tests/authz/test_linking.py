"""Linking a sign-in to an Identity Center user only on what the IdP vouches for (real OIDC server).

The takeovers this closes: a first sign-in whose e-mail's local part is an Identity Center user
name (allauth derives that user name), an e-mail the IdP does not mark verified, a second IdP
identity attached with `?process=connect`, and a break-glass user that outlives its window or
stands in the way of the person it is named after.
"""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.authz.capabilities import Capability, capabilities
from governance.authz.linking import MatchedOn
from governance.authz.models import LinkStatus
from governance.aws.demo.personas import BY_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.authz.urls")]

PAULA = BY_KEY["policy_admin"]
MARIA = BY_KEY["manager"]
ENTRA_ISSUER = "https://login.example.invalid/tenant-1/"


def _local(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def _idp_user(idp, sub: str, **claims) -> None:
    """An IdP user with exactly these claims (the demo personas carry `email_verified: true`)."""
    requests.put(f"{idp.url}/users/{sub}", json=claims, timeout=10).raise_for_status()


def _login(client, idp, sub: str, *, process: str = "login"):
    authorize_url = client.post(idp.login_path, {"process": process})["Location"]
    return client.get(_local(idp.sign_in(authorize_url, sub)))


def _user_of(sub: str):
    return get_user_model().objects.get(socialaccount__uid=sub)


def _provider_settings(settings) -> dict:
    return settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]["settings"]


# The takeovers ---------------------------------------------------------------------------------


def test_an_email_whose_local_part_is_an_identity_center_user_name_links_none(client, oidc_server, persona_inventory):
    # allauth derives the user name `paula.policy` from this address; that is not Paula.
    _idp_user(oidc_server, "mallory", email="paula.policy@attacker.invalid", email_verified=True)

    _login(client, oidc_server, "mallory")

    user = _user_of("mallory")
    assert user.username == "paula.policy"
    assert user.identity_link.status == LinkStatus.MISSING
    assert not capabilities(user).capabilities
    assert client.get("/test/scp/").status_code == 403


def test_an_unverified_email_links_nothing_and_owns_nothing(client, oidc_server, persona_inventory):
    _idp_user(oidc_server, "mallory", email=PAULA.email)
    _idp_user(oidc_server, "mallory2", email=MARIA.email, email_verified=False)

    _login(client, oidc_server, "mallory")
    first = _user_of("mallory")
    client.logout()
    _login(client, oidc_server, "mallory2")
    second = _user_of("mallory2")

    for user in (first, second):
        assert user.identity_link.status == LinkStatus.UNVERIFIED
        assert user.identity_link.matched_on == MatchedOn.NONE
        caps = capabilities(user)
        assert not caps.capabilities
        assert not caps.owned_account_ids, "an owner tag naming an unverified address grants nothing"
    assert b"did not vouch" in client.get("/me/").content


def test_the_same_unverified_address_does_not_lock_the_real_person_out(client, oidc_server, persona_inventory):
    _idp_user(oidc_server, "mallory", email=PAULA.email)
    _login(client, oidc_server, "mallory")
    client.logout()

    _login(client, oidc_server, PAULA.user_name)

    paula = _user_of(PAULA.user_name)
    assert paula != _user_of("mallory")
    assert paula.identity_link.status == LinkStatus.LINKED
    assert capabilities(paula).has(Capability.SCP_APPROVE)


# Each rule -------------------------------------------------------------------------------------


def test_a_verified_email_links_ignoring_case_and_the_link_records_it(client, oidc_server, persona_inventory):
    _idp_user(oidc_server, "p.p.1234", email=PAULA.email.upper(), email_verified=True)

    _login(client, oidc_server, "p.p.1234")

    link = _user_of("p.p.1234").identity_link
    assert link.status == LinkStatus.LINKED
    assert link.aws_user_name == PAULA.user_name
    assert link.matched_on == MatchedOn.VERIFIED_EMAIL
    assert link.verified_email == PAULA.email
    event = AuditEvent.objects.get(action="authz.link.changed", object_id=str(link.pk))
    assert event.after["matched_on"] == "verified_email"
    assert event.after["fact"] == PAULA.email


def test_a_provider_declaring_its_emails_verified_links_without_the_claim(
    client, settings, oidc_server, persona_inventory
):
    _provider_settings(settings)["emails_verified"] = True
    _idp_user(oidc_server, "entra-user", email=PAULA.email)

    _login(client, oidc_server, "entra-user")

    link = _user_of("entra-user").identity_link
    assert link.status == LinkStatus.LINKED
    assert link.matched_on == MatchedOn.VERIFIED_EMAIL


def _with_external_id(persona_inventory, key: str, external_id: str, issuer: str = ENTRA_ISSUER):
    from governance.inventory.models import Principal

    Principal.objects.filter(pk=persona_inventory.sso_users[key].pk).update(
        external_ids=[{"Issuer": issuer, "Id": external_id}]
    )


def test_a_configured_claim_links_to_the_matching_external_id_only(client, settings, oidc_server, persona_inventory):
    config = _provider_settings(settings)
    config.update(link_claim="oid", link_issuer=ENTRA_ISSUER)
    _with_external_id(persona_inventory, "policy_admin", "0f6c-oid-paula")
    _with_external_id(persona_inventory, "auditor", "0F6C-OID-PAULA", issuer="https://another.invalid/")
    # A verified e-mail naming someone else does not count for a provider that links on a claim.
    _idp_user(oidc_server, "sub-1", oid="0f6c-oid-paula", email=MARIA.email, email_verified=True)
    _idp_user(oidc_server, "sub-2", oid="0f6c-oid-unknown", email=PAULA.email, email_verified=True)

    _login(client, oidc_server, "sub-1")
    client.logout()
    _login(client, oidc_server, "sub-2")

    linked = _user_of("sub-1").identity_link
    assert linked.status == LinkStatus.LINKED
    assert linked.aws_user_name == PAULA.user_name
    assert linked.matched_on == MatchedOn.EXTERNAL_ID
    assert (linked.external_issuer, linked.external_id) == (ENTRA_ISSUER, "0f6c-oid-paula")
    assert _user_of("sub-2").identity_link.status == LinkStatus.MISSING


def test_a_relink_after_a_sync_uses_the_facts_of_the_last_sign_in(client, oidc_server, persona_inventory):
    from governance.authz.services import link_user
    from governance.inventory.models import Principal

    _login(client, oidc_server, PAULA.user_name)
    paula = _user_of(PAULA.user_name)
    # Renamed in Identity Center: the user name no longer matches, the verified e-mail still does.
    Principal.objects.filter(pk=persona_inventory.sso_users["policy_admin"].pk).update(user_name="p.policy")

    link = link_user(user=paula)

    assert link.status == LinkStatus.LINKED
    assert link.aws_user_name == "p.policy"


# One IdP identity per portal user ---------------------------------------------------------------


def test_connecting_a_second_identity_is_refused_and_audited(client, oidc_server, persona_inventory):
    _login(client, oidc_server, PAULA.user_name)
    paula = _user_of(PAULA.user_name)

    response = _login(client, oidc_server, MARIA.user_name, process="connect")

    assert response.status_code == 403
    assert 'data-failure="connect"' in response.content.decode()
    assert list(SocialAccount.objects.filter(user=paula).values_list("uid", flat=True)) == [PAULA.user_name]
    event = AuditEvent.objects.get(action="authz.connect.refused")
    assert event.actor_pk == paula.pk
    assert event.after["uid"] == MARIA.user_name
    # Maria's identity signs in as Maria, never as Paula.
    client.logout()
    _login(client, oidc_server, MARIA.user_name)
    assert _user_of(MARIA.user_name) != paula


def _attach(user, uid: str) -> SocialAccount:
    """A second IdP identity on `user`, as `?process=connect` attached one before it was refused."""
    return SocialAccount.objects.create(user=user, provider="demo", uid=uid, extra_data={})


def _signed_in_as(client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"sub": MARIA.user_name}, id="another-identity-center-user"),
        pytest.param({"sub": "mallory", "email": PAULA.email}, id="claims-her-address-unverified"),
        pytest.param({"sub": "mallory", "email": PAULA.email, "email_verified": False}, id="says-unverified"),
    ],
)
def test_a_second_identity_attached_before_connect_was_refused_is_detached_at_its_sign_in(
    client, oidc_server, persona_inventory, extra
):
    extra = dict(extra)
    sub = extra.pop("sub")
    if extra:
        _idp_user(oidc_server, sub, **extra)
    _login(client, oidc_server, PAULA.user_name)
    paula = _user_of(PAULA.user_name)
    attached = _attach(paula, sub)
    client.logout()

    # Paula's own identity still signs in as her, with her rights, the other attached or not.
    response = _login(client, oidc_server, PAULA.user_name)
    assert response.status_code == 302
    assert _signed_in_as(client) == paula
    assert capabilities(paula).has(Capability.SCP_APPROVE)
    assert SocialAccount.objects.filter(pk=attached.pk).exists()
    client.logout()

    response = _login(client, oidc_server, sub)

    assert response.status_code == 403
    assert 'data-failure="detached"' in response.content.decode()
    assert b"recorded in the audit log" in response.content
    assert _signed_in_as(client) is None
    assert list(SocialAccount.objects.filter(user=paula).values_list("uid", flat=True)) == [PAULA.user_name]
    event = AuditEvent.objects.get(action="authz.identity.detached")
    assert (event.object_type, event.object_id, event.actor_id) == ("authz.user", str(paula.pk), None)
    assert (event.before["provider"], event.before["uid"]) == ("demo", sub)
    assert event.before["other_identities"] == [f"demo:{PAULA.user_name}"]
    assert event.after == {"reason": "second_identity"}

    # Signing in with it again is a portal user of its own, linked on its own facts only.
    response = _login(client, oidc_server, sub)
    assert response.status_code == 302
    own = _signed_in_as(client)
    assert own is not None and own != paula and own == _user_of(sub)
    assert own.identity_link.principal_arn != paula.identity_link.principal_arn
    client.logout()
    assert _login(client, oidc_server, PAULA.user_name).status_code == 302
    assert _signed_in_as(client) == paula


def test_without_a_vouched_link_the_first_identity_stays_and_the_attached_one_goes(
    client, oidc_server, persona_inventory
):
    outsider = BY_KEY["outsider"]
    _login(client, oidc_server, outsider.user_name)
    user = _user_of(outsider.user_name)
    assert not user.identity_link.vouched
    _attach(user, MARIA.user_name)
    client.logout()

    assert _login(client, oidc_server, outsider.user_name).status_code == 302
    assert _signed_in_as(client) == user
    client.logout()
    response = _login(client, oidc_server, MARIA.user_name)

    assert response.status_code == 403
    assert _signed_in_as(client) is None
    assert list(SocialAccount.objects.filter(user=user).values_list("uid", flat=True)) == [outsider.user_name]
    assert AuditEvent.objects.get(action="authz.identity.detached").object_id == str(user.pk)


# Break-glass ends when it ends -------------------------------------------------------------------


def _break_glass_login(client, email: str) -> None:
    out = StringIO()
    call_command("break_glass_login", email=email, reason="IdP outage, INC-7", stdout=out)
    path = re.search(r"(/me/break-glass/[^/\s]+/)", out.getvalue()).group(1)
    assert client.post(path).status_code == 302


def test_the_break_glass_session_ends_at_expiry(client, settings, persona_inventory):
    settings.BREAK_GLASS_ENABLED = True
    _break_glass_login(client, "ops.lead@example.com")
    assert client.get("/me/").status_code == 200

    get_user_model().objects.update(break_glass_until=timezone.now() - timedelta(seconds=1))

    response = client.get("/me/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_a_break_glass_user_is_never_linked_nor_blocks_the_person(client, settings, oidc_server, persona_inventory):
    from governance.authz.services import link_user

    settings.BREAK_GLASS_ENABLED = True
    _break_glass_login(client, PAULA.email)
    local = get_user_model().objects.get(username=f"break-glass:{PAULA.email}")
    get_user_model().objects.filter(pk=local.pk).update(break_glass_until=timezone.now() - timedelta(seconds=1))
    local.refresh_from_db()
    assert link_user(user=local).status == LinkStatus.BREAK_GLASS
    assert not capabilities(local).capabilities
    client.logout()

    _login(client, oidc_server, PAULA.user_name)

    paula = _user_of(PAULA.user_name)
    assert paula != local
    assert paula.identity_link.status == LinkStatus.LINKED


def test_an_identity_attached_to_a_break_glass_user_is_detached_at_its_sign_in(
    client, settings, oidc_server, persona_inventory
):
    settings.BREAK_GLASS_ENABLED = True
    _break_glass_login(client, "ops.lead@example.com")
    local = get_user_model().objects.get(username="break-glass:ops.lead@example.com")
    _attach(local, PAULA.user_name)
    client.logout()

    response = _login(client, oidc_server, PAULA.user_name)

    assert response.status_code == 403
    assert 'data-failure="detached"' in response.content.decode()
    assert _signed_in_as(client) is None
    assert not SocialAccount.objects.filter(user=local).exists()
    event = AuditEvent.objects.get(action="authz.identity.detached")
    assert (event.object_id, event.after) == (str(local.pk), {"reason": "break_glass_user"})
    assert _login(client, oidc_server, PAULA.user_name).status_code == 302
    assert _signed_in_as(client) != local


# Links made before the linking rules ------------------------------------------------------------


def _legacy_user(persona_inventory, *, uid: str, username: str, key: str):
    """A portal user as the code before the linking rules left it: linked (on the user name it
    derived from the address, or an unverified e-mail) with no fact recorded for it."""
    from governance.authz.models import IdentityLink

    user = get_user_model().objects.create(username=username, email=BY_KEY[key].email)
    SocialAccount.objects.create(user=user, provider="demo", uid=uid, extra_data={})
    principal = persona_inventory.sso_users[key]
    IdentityLink.objects.create(
        user=user,
        status=LinkStatus.LINKED,
        principal_arn=principal.arn,
        aws_user_name=principal.user_name,
        aws_email=principal.email,
        checked_at=timezone.now(),
    )
    return user


def test_a_link_made_before_the_rules_grants_nothing_and_is_unlinked_audited(persona_inventory):
    from governance.authz.models import IdentityLink

    mallory = _legacy_user(persona_inventory, uid="mallory", username=PAULA.user_name, key="policy_admin")
    assert not IdentityLink.objects.linked().exists()

    caps = capabilities(mallory)

    assert not caps.capabilities and not caps.is_linked
    link = IdentityLink.objects.get(user=mallory)
    assert (link.status, link.principal_arn) == (LinkStatus.UNVERIFIED, "")
    event = AuditEvent.objects.get(action="authz.link.changed", object_id=str(link.pk))
    assert event.actor_id is None
    assert event.before["status"] == LinkStatus.LINKED and event.before["matched_on"] == MatchedOn.NONE
    assert event.after["status"] == LinkStatus.UNVERIFIED


def test_a_link_made_before_the_rules_is_rechecked_at_the_next_login(client, oidc_server, persona_inventory):
    mallory = _legacy_user(persona_inventory, uid="mallory", username=PAULA.user_name, key="policy_admin")
    paula = _legacy_user(persona_inventory, uid=PAULA.user_name, username="p.policy", key="policy_admin")
    _idp_user(oidc_server, "mallory", email=PAULA.email)  # the IdP never verified it

    _login(client, oidc_server, "mallory")

    assert client.get("/test/scp/").status_code == 403
    mallory.refresh_from_db()
    assert mallory.identity_link.status == LinkStatus.UNVERIFIED
    assert not capabilities(mallory).capabilities
    client.logout()

    _login(client, oidc_server, PAULA.user_name)

    link = paula.identity_link
    link.refresh_from_db()
    assert (link.status, link.matched_on, link.verified_email) == (
        LinkStatus.LINKED,
        MatchedOn.VERIFIED_EMAIL,
        PAULA.email,
    )
    assert capabilities(paula).has(Capability.SCP_APPROVE)
    event = AuditEvent.objects.filter(action="authz.link.changed", object_id=str(link.pk)).latest("sequence")
    assert event.before["matched_on"] == MatchedOn.NONE and event.after["matched_on"] == MatchedOn.VERIFIED_EMAIL
