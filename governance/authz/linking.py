"""Which facts of a sign-in may link a portal user to an Identity Center user.

Only what the IdP vouches for, per provider (its `settings` in SOCIALACCOUNT_PROVIDERS):

- `link_claim` (+ `link_issuer`): the value of that claim (Entra's `oid`, Okta's user id, ...)
  must equal the `Id` of one of the Identity Center user's ExternalIds whose `Issuer` is
  `link_issuer`, as SCIM provisioning filled them. A provider configured this way links on
  nothing else.
- otherwise the e-mail address, when the IdP marks it verified (`email_verified`), or when the
  provider's settings declare its addresses verified (`emails_verified`, for IdPs such as Entra
  that omit the claim), equal, ignoring case, to the Identity Center user's primary e-mail.

Never the user name allauth derives from the address, never an unverified address, never a
break-glass user. The facts are stored on the user's IdentityLink at each sign-in, so the
re-link after a sync uses the same facts and nothing newer than the last sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models


class MatchedOn(models.TextChoices):
    NONE = "", "Nothing"
    EXTERNAL_ID = "external_id", "IdP claim equal to the user's ExternalId"
    VERIFIED_EMAIL = "verified_email", "Verified e-mail equal to the user's primary e-mail"


@dataclass(frozen=True)
class LinkFacts:
    """What one sign-in vouched for: the provider, a verified e-mail, an external id."""

    provider: str = ""
    verified_email: str = ""
    external_issuer: str = ""
    external_id: str = ""


def provider_settings(provider: Any) -> dict:
    app = getattr(provider, "app", None)
    return dict(getattr(app, "settings", None) or {})


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "t")
    if isinstance(value, list) and value:
        return _truthy(value[0])
    return False


def _claim(sociallogin: Any, name: str) -> str:
    """A claim (OIDC: ID token, then userinfo) or a SAML attribute (its first value) as text."""
    from governance.authz.mfa import claims_from_sociallogin

    claims = claims_from_sociallogin(sociallogin)
    value = claims.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, dict | bool):
        return ""
    return str(value).strip()


def facts_from_sociallogin(sociallogin: Any) -> LinkFacts:
    """The facts of this sign-in that the provider's rule accepts (empty strings for the rest)."""
    provider = sociallogin.provider
    config = provider_settings(provider)
    provider_id = str(getattr(sociallogin.account, "provider", "") or getattr(provider, "id", ""))
    link_claim = str(config.get("link_claim") or "").strip()
    if link_claim:
        issuer = str(config.get("link_issuer") or "").strip()
        value = _claim(sociallogin, link_claim)
        if not (issuer and value):
            return LinkFacts(provider=provider_id)
        return LinkFacts(provider=provider_id, external_issuer=issuer, external_id=value)
    addresses = list(getattr(sociallogin, "email_addresses", None) or [])
    declared = _truthy(config.get("emails_verified"))
    for address in addresses:
        if address.email and (declared or _truthy(address.verified)):
            return LinkFacts(provider=provider_id, verified_email=address.email.strip().lower())
    return LinkFacts(provider=provider_id)


def matching_users(facts: LinkFacts) -> tuple[list[Any], str]:
    """Present Identity Center users matching the facts, and which rule matched them."""
    from governance.inventory.models import Principal, PrincipalKind

    users = Principal.objects.present().filter(kind=PrincipalKind.SSO_USER).order_by("arn")
    if facts.external_id and facts.external_issuer:
        # A JSON `icontains` finds the rows naming the id (on SQLite and PostgreSQL alike); the
        # exact issuer and id, case included, are compared here.
        rows = users.filter(external_ids__icontains=facts.external_id)
        rows = rows.only("pk", "arn", "user_name", "email", "external_ids")
        wanted = {"Issuer": facts.external_issuer, "Id": facts.external_id}
        found = [p for p in rows if any(_same(e, wanted) for e in p.external_ids or [])]
        return found, MatchedOn.EXTERNAL_ID
    if facts.verified_email:
        rows = users.filter(email__iexact=facts.verified_email).only("pk", "arn", "user_name", "email")
        return list(rows), MatchedOn.VERIFIED_EMAIL
    return [], MatchedOn.NONE


def _same(external_id: Any, wanted: dict) -> bool:
    return isinstance(external_id, dict) and all(external_id.get(k) == v for k, v in wanted.items())
