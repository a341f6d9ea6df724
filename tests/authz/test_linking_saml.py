"""The linking rules hold for a SAML provider too: a signed assertion links only on what it vouches for.

The same takeovers as over OpenID Connect (tests/authz/test_linking.py), through a real
SP-initiated SAML login whose assertion the portal verifies (tests/fixtures/saml.py): an e-mail
whose local part is an Identity Center user name, an e-mail the IdP does not mark verified, and
a second identity attached with `?process=connect`; then each rule, with the attribute names a
SAML IdP sends.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from governance.audit.models import AuditEvent
from governance.authz.capabilities import Capability, capabilities
from governance.authz.linking import MatchedOn
from governance.authz.models import LinkStatus
from governance.aws.demo.personas import BY_KEY
from tests.fixtures.saml import (
    ATTRIBUTE_EMAIL,
    ATTRIBUTE_GIVEN,
    ATTRIBUTE_UID,
    ATTRIBUTE_VERIFIED,
    SLUG,
    SP_HOST,
    saml_settings,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.authz.urls")]

PAULA = BY_KEY["policy_admin"]
MARIA = BY_KEY["manager"]
ENTRA_ISSUER = "https://sts.example.invalid/tenant-1/"
ATTRIBUTE_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _login(client, idp, uid: str, *, process: str = "login", **attributes: str):
    return idp.sign_in(client, name_id=uid, attributes={ATTRIBUTE_UID: uid, **attributes}, process=process)


def _user_of(uid: str):
    return get_user_model().objects.get(socialaccount__uid=uid, socialaccount__provider=SLUG)


def _with_external_id(persona_inventory, key: str, external_id: str, issuer: str = ENTRA_ISSUER):
    from governance.inventory.models import Principal

    Principal.objects.filter(pk=persona_inventory.sso_users[key].pk).update(
        external_ids=[{"Issuer": issuer, "Id": external_id}]
    )


def test_it_signs_in_with_a_verified_assertion_and_refuses_an_altered_one(client, saml_idp, persona_inventory):
    response = _login(client, saml_idp, "paula-1", **{ATTRIBUTE_EMAIL: PAULA.email, ATTRIBUTE_VERIFIED: "true"})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    client.logout()
    # The fixture's IdP is not a bypass: an assertion changed after signing is refused.
    redirect = client.post(saml_idp.login_path)
    request_id, acs_url, relay_state = saml_idp.authn_request(redirect["Location"])
    signed = saml_idp.response(
        in_response_to=request_id,
        acs_url=acs_url,
        name_id="mallory",
        attributes={ATTRIBUTE_UID: "mallory", ATTRIBUTE_EMAIL: "mallory@attacker.invalid"},
    )
    altered = base64.b64encode(base64.b64decode(signed).replace(b"mallory@attacker.invalid", PAULA.email.encode()))

    posted = client.post(saml_idp.acs_path, {"SAMLResponse": altered.decode(), "RelayState": relay_state})
    refused = client.get(posted["Location"])

    assert refused.status_code == 401 and "Sign-in failed" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert not SocialAccount.objects.filter(uid="mallory").exists()


# The takeovers ---------------------------------------------------------------------------------


def test_an_email_whose_local_part_is_an_identity_center_user_name_links_none(client, saml_idp, persona_inventory):
    _login(
        client, saml_idp, "mallory", **{ATTRIBUTE_EMAIL: "paula.policy@attacker.invalid", ATTRIBUTE_VERIFIED: "true"}
    )

    user = _user_of("mallory")
    assert user.username == "paula.policy"
    assert user.identity_link.status == LinkStatus.MISSING
    assert not capabilities(user).capabilities
    assert client.get("/test/scp/").status_code == 403


def test_an_unverified_email_links_nothing_and_owns_nothing(client, saml_idp, persona_inventory):
    _login(client, saml_idp, "mallory", **{ATTRIBUTE_EMAIL: PAULA.email})
    first = _user_of("mallory")
    client.logout()
    _login(client, saml_idp, "mallory2", **{ATTRIBUTE_EMAIL: MARIA.email, ATTRIBUTE_VERIFIED: "false"})
    second = _user_of("mallory2")

    for user in (first, second):
        assert user.identity_link.status == LinkStatus.UNVERIFIED
        assert user.identity_link.matched_on == MatchedOn.NONE
        caps = capabilities(user)
        assert not caps.capabilities
        assert not caps.owned_account_ids, "an owner tag naming an unverified address grants nothing"
    assert b"did not vouch" in client.get("/me/").content


def test_the_same_unverified_address_does_not_lock_the_real_person_out(client, saml_idp, persona_inventory):
    _login(client, saml_idp, "mallory", **{ATTRIBUTE_EMAIL: PAULA.email})
    client.logout()

    _login(client, saml_idp, "paula-1", **{ATTRIBUTE_EMAIL: PAULA.email, ATTRIBUTE_VERIFIED: "true"})

    paula = _user_of("paula-1")
    assert paula != _user_of("mallory")
    assert paula.identity_link.status == LinkStatus.LINKED
    assert capabilities(paula).has(Capability.SCP_APPROVE)


def test_connecting_a_second_identity_over_saml_is_refused_and_audited(client, saml_idp, persona_inventory):
    _login(client, saml_idp, "paula-1", **{ATTRIBUTE_EMAIL: PAULA.email, ATTRIBUTE_VERIFIED: "true"})
    paula = _user_of("paula-1")

    response = _login(
        client, saml_idp, "maria-1", process="connect", **{ATTRIBUTE_EMAIL: MARIA.email, ATTRIBUTE_VERIFIED: "true"}
    )

    assert response.status_code == 403
    assert 'data-failure="connect"' in response.content.decode()
    assert list(SocialAccount.objects.filter(user=paula).values_list("uid", flat=True)) == ["paula-1"]
    assert AuditEvent.objects.get(action="authz.connect.refused").after["uid"] == "maria-1"


# Each rule -------------------------------------------------------------------------------------


def test_a_verified_email_links_ignoring_case_and_the_link_records_it(client, saml_idp, persona_inventory):
    _login(
        client,
        saml_idp,
        "paula-1",
        **{ATTRIBUTE_EMAIL: PAULA.email.upper(), ATTRIBUTE_VERIFIED: "true", ATTRIBUTE_GIVEN: "Paula"},
    )

    link = _user_of("paula-1").identity_link
    assert link.status == LinkStatus.LINKED
    assert link.aws_user_name == PAULA.user_name
    assert link.matched_on == MatchedOn.VERIFIED_EMAIL
    assert (link.provider, link.verified_email) == (SLUG, PAULA.email)
    event = AuditEvent.objects.get(action="authz.link.changed", object_id=str(link.pk))
    assert event.after["matched_on"] == "verified_email"
    assert event.after["fact"] == PAULA.email


def test_a_provider_declaring_its_emails_verified_links_without_the_attribute(
    client, settings, saml_idp, persona_inventory
):
    saml_settings(settings)["emails_verified"] = True

    _login(client, saml_idp, "entra-user", **{ATTRIBUTE_EMAIL: PAULA.email})

    link = _user_of("entra-user").identity_link
    assert link.status == LinkStatus.LINKED
    assert link.matched_on == MatchedOn.VERIFIED_EMAIL


def test_a_configured_attribute_links_to_the_matching_external_id_only(client, settings, saml_idp, persona_inventory):
    saml_settings(settings).update(link_claim=ATTRIBUTE_OID, link_issuer=ENTRA_ISSUER)
    _with_external_id(persona_inventory, "policy_admin", "0f6c-oid-paula")
    _with_external_id(persona_inventory, "auditor", "0F6C-OID-PAULA", issuer="https://another.invalid/")
    # A verified e-mail naming someone else does not count for a provider that links on a claim.
    _login(client, saml_idp, "sub-1", **{ATTRIBUTE_OID: "0f6c-oid-paula", ATTRIBUTE_EMAIL: MARIA.email,
                                        ATTRIBUTE_VERIFIED: "true"})  # fmt: skip
    client.logout()
    _login(client, saml_idp, "sub-2", **{ATTRIBUTE_OID: "0f6c-oid-unknown", ATTRIBUTE_EMAIL: PAULA.email,
                                        ATTRIBUTE_VERIFIED: "true"})  # fmt: skip
    client.logout()
    _login(client, saml_idp, "sub-3", **{ATTRIBUTE_EMAIL: PAULA.email, ATTRIBUTE_VERIFIED: "true"})

    linked = _user_of("sub-1").identity_link
    assert linked.status == LinkStatus.LINKED
    assert linked.aws_user_name == PAULA.user_name
    assert linked.matched_on == MatchedOn.EXTERNAL_ID
    assert (linked.external_issuer, linked.external_id) == (ENTRA_ISSUER, "0f6c-oid-paula")
    assert _user_of("sub-2").identity_link.status == LinkStatus.MISSING
    # Without the attribute, nothing links: not even a verified e-mail.
    assert _user_of("sub-3").identity_link.status == LinkStatus.UNVERIFIED


@pytest.mark.parametrize("server_name", [SP_HOST, "unknown.example.invalid"])
def test_a_request_without_a_host_header_is_answered_not_a_500(client, saml_idp, server_name):
    """HTTP/1.0 allows a request without Host; python3-saml (through allauth) reads the header itself.

    Such a request gets the host Django resolves from SERVER_NAME (what gunicorn sets), checked
    against ALLOWED_HOSTS: the SAML views answer as for any request, an unknown host is a 400,
    never the 500 of a KeyError.
    """
    client.raise_request_exception = False
    metadata_path = saml_idp.acs_path.replace("/acs/", "/metadata/")
    answers = {
        "login": client.post(saml_idp.login_path, {"process": "login"}, SERVER_NAME=server_name),
        "metadata": client.get(metadata_path, SERVER_NAME=server_name),
        "acs": client.post(saml_idp.acs_path, {"SAMLResponse": "eA=="}, SERVER_NAME=server_name),
    }
    assert "HTTP_HOST" not in client.defaults
    codes = {step: answer.status_code for step, answer in answers.items()}
    if server_name == SP_HOST:
        assert codes == {"login": 302, "metadata": 200, "acs": 302}
        assert urlsplit(answers["login"]["Location"]).netloc
        # The SP metadata names the resolved host in its entity id and ACS URL.
        assert f"//{SP_HOST}/accounts/saml/".encode() in answers["metadata"].content
        # The ACS refuses the garbage response (to the login error page) without signing anyone in.
        assert "_auth_user_id" not in client.session
    else:
        assert codes == {"login": 400, "metadata": 400, "acs": 400}
