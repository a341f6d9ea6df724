"""MFA step-up: privileged actions need a recent IdP login whose `amr` names an MFA method.

At each login through an IdP (`signals.on_login`) the session remembers the provider, the `amr`
claim and the authentication time (the ID token's `auth_time`, else the login itself). A view
under `@requires_mfa` checks them; when MFA is missing or older than `MFA_STEP_UP_MINUTES`, the
user is sent back to the same IdP with `prompt=login` and `max_age=0`, and returns to where they
were once the new login (with its new `amr`) completes.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

SESSION_PROVIDER = "authz_idp_provider"
SESSION_SUBJECT = "authz_idp_subject"
SESSION_AMR = "authz_idp_amr"
SESSION_AUTH_TIME = "authz_idp_auth_time"

DEFAULT_MFA_METHODS = ("mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina", "sc", "tel", "vbm")


def mfa_methods() -> frozenset[str]:
    return frozenset(m.lower() for m in getattr(settings, "MFA_AMR_METHODS", DEFAULT_MFA_METHODS))


def step_up_seconds() -> int:
    return int(getattr(settings, "MFA_STEP_UP_MINUTES", 15)) * 60


def claims_from_sociallogin(sociallogin: Any) -> dict:
    """The ID token's claims (falling back to userinfo) as allauth stored them."""
    data = getattr(getattr(sociallogin, "account", None), "extra_data", None) or {}
    if isinstance(data.get("id_token"), dict):
        claims = dict(data.get("userinfo") or {})
        claims.update(data["id_token"])
        return claims
    return dict(data.get("userinfo") or data)


def remember_login(request: HttpRequest, *, provider: str, subject: str, claims: dict) -> None:
    """Store what the step-up check needs from this login in the session."""
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = amr.split()
    auth_time = claims.get("auth_time")
    now = int(time.time())
    try:
        auth_time = int(auth_time) if auth_time is not None else now
    except (TypeError, ValueError):
        auth_time = now
    # A token minted long ago or in the future does not count as a fresh authentication.
    auth_time = min(auth_time, now)
    request.session[SESSION_PROVIDER] = provider
    request.session[SESSION_SUBJECT] = subject
    request.session[SESSION_AMR] = [str(m) for m in amr][:20]
    request.session[SESSION_AUTH_TIME] = auth_time


def session_amr(request: HttpRequest) -> list[str]:
    return list(request.session.get(SESSION_AMR) or [])


def _break_glass_active(user: Any) -> bool:
    # break_glass.is_active_for, spelled out: break_glass reaches models, linking and back here.
    from django.utils import timezone

    until = getattr(user, "break_glass_until", None)
    return bool(getattr(settings, "BREAK_GLASS_ENABLED", False)) and until is not None and until > timezone.now()


def is_fresh(request: HttpRequest) -> bool:
    """Whether this session's IdP login used MFA within the step-up window.

    An active break-glass session counts: it exists for when the IdP cannot be used, its one-time
    link comes from a shell on the portal's servers and lasts minutes, and every request is audited.
    """
    if _break_glass_active(request.user):
        return True
    amr = {m.lower() for m in session_amr(request)}
    if not amr & mfa_methods():
        return False
    auth_time = request.session.get(SESSION_AUTH_TIME)
    if not isinstance(auth_time, int):
        return False
    return time.time() - auth_time <= step_up_seconds()


def _return_to(request: HttpRequest) -> str:
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("dashboard")


def step_up_url(request: HttpRequest, next_url: str | None = None) -> str | None:
    """The IdP login URL that forces a new authentication, or None when the session has no IdP."""
    provider_id = request.session.get(SESSION_PROVIDER, "")
    if not provider_id:
        return None
    from allauth.socialaccount.adapter import get_adapter
    from allauth.socialaccount.models import SocialApp

    try:
        provider = get_adapter().get_provider(request, provider_id)
    except (SocialApp.DoesNotExist, ImproperlyConfigured):
        return None
    # Only OpenID Connect carries `amr` and honours prompt=login / max_age.
    if provider.id != "openid_connect":
        return None
    try:
        login_url = reverse("openid_connect_login", kwargs={"provider_id": provider_id})
    except NoReverseMatch:
        return None
    params = {
        "process": "login",
        "next": next_url or _return_to(request),
        "auth_params": urlencode({"prompt": "login", "max_age": "0"}),
    }
    return f"{login_url}?{urlencode(params)}"


def step_up_redirect(request: HttpRequest) -> HttpResponse:
    url = step_up_url(request)
    if url is None:
        return render(request, "authz/step_up_unavailable.html", status=403)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)
