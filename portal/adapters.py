"""allauth adapters: no local sign-up or password, accounts come only from an IdP.

Every way a sign-in can fail ends on one page (`socialaccount/authentication_error.html`) that
says which of these happened, with a link to try again; nobody is signed in by it:

- the IdP cannot be reached (discovery, token or userinfo request failed to connect or timed out);
- the IdP answered with an error (HTTP error, or an error sent back to the callback);
- the IdP refused the portal's client credentials (`invalid_client`);
- the authorization code was refused (`invalid_grant`: expired or already used);
- the callback's `state` is unknown to this browser session (tampered, replayed or stale);
- the ID token failed validation, or does not carry the `nonce` this browser's sign-in sent
  (an ID token issued for another authorization request: replayed or injected; audited);
- the IdP sent no e-mail address;
- a signed-in user tried to attach a second IdP identity (`?process=connect`): one IdP identity
  per portal user, so that is refused (and audited);
- an IdP identity attached as a second one before connecting was refused signed in: it is
  detached from the portal user (audited) and the sign-in refused (`_detach_second_identity`).
"""

from __future__ import annotations

import hmac
import secrets
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
import structlog
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

logger = structlog.get_logger(__name__)

FAILURE_STATUS = {
    "unreachable": HTTPStatus.BAD_GATEWAY,
    "idp_error": HTTPStatus.BAD_GATEWAY,
    "state": HTTPStatus.BAD_REQUEST,
    "connect": HTTPStatus.FORBIDDEN,
    "detached": HTTPStatus.FORBIDDEN,
    "nonce": HTTPStatus.BAD_REQUEST,
}
NONCE_STATE_KEY = "oidc_nonce"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        return True

    def get_provider(self, request, provider, client_id=None):
        instance = super().get_provider(request, provider, client_id=client_id)
        if type(instance) is OpenIDConnectProvider:
            instance = _OpenIDConnectProvider(request, app=instance.app)
        return instance

    def get_requests_session(self):
        session = _IdPSession()
        session.request_timeout = socialaccount_settings.REQUESTS_TIMEOUT
        return session

    def pre_social_login(self, request, sociallogin: SocialLogin) -> None:
        """Refuses what would otherwise end on allauth's sign-up form, where a person could type
        any e-mail address; the portal links people to AWS identities by that address."""
        provider = sociallogin.provider
        if provider.id == OpenIDConnectProvider.id:
            _check_nonce(request, sociallogin)
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            _refuse_connect(request, sociallogin)
            raise ImmediateHttpResponse(_error_page(request, provider.name, "connect"))
        if not sociallogin.is_existing:
            # Several portal users may carry one address (e-mails are not unique here): a
            # portal user is one IdP identity, and links to AWS only on what the IdP vouches for.
            email = sociallogin.email_addresses[0].email if sociallogin.email_addresses else ""
            if not email:
                raise ImmediateHttpResponse(_error_page(request, provider.name, "no_email"))
        else:
            _detach_second_identity(request, sociallogin)
            _refresh_names(sociallogin)

    def is_auto_signup_allowed(self, request, sociallogin):
        return True

    def validate_disconnect(self, account, accounts):
        raise self.validation_error("disconnect_last")

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        if error == AuthError.CANCELLED:
            return  # allauth shows socialaccount/login_cancelled.html
        if request.GET.get("error") == "access_denied":
            # A cancellation the IdP sent without our state (oidc-provider-mock does): nobody is
            # signed in either way, so say what happened rather than call it a forged response.
            raise ImmediateHttpResponse(redirect("socialaccount_login_cancelled"))
        failure = _classify(request, error, exception, extra_context or {})
        logger.warning(
            "idp_login_failed",
            provider=getattr(provider, "sub_id", None),
            failure=failure,
            error=str(error),
            exception=repr(exception) if exception else None,
        )
        # Nobody is signed in by a failed callback, and a person already signed in stays so: logging
        # them out here would let any page end their session with a link to a bogus callback.
        raise ImmediateHttpResponse(
            _error_page(request, provider.name, failure, idp_error=request.GET.get("error_description", ""))
        )


class _IdPSession(requests.Session):
    """The HTTP session allauth talks to IdPs with.

    allauth fetches an OIDC provider's discovery document outside its error handling, both when
    a login starts and at the callback, so an IdP that is down would be a server error. Here a
    connection failure or timeout ends the request on the error page naming the IdP instead.
    """

    request_timeout: float = 10

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.request_timeout)
        try:
            return super().request(method, url, *args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            request = context.request
            if request is None:
                raise
            name = _provider_name_for(request, url)
            logger.warning("idp_unreachable", idp=name, url=url, exception=repr(exc))
            raise ImmediateHttpResponse(_error_page(request, name, "unreachable")) from exc


class _OpenIDConnectProvider(OpenIDConnectProvider):
    """allauth's OIDC provider, with a `nonce` in every authorization request, and the error page
    instead of a server error when the IdP answers the discovery request with an error.

    allauth sends no nonce (it relies on `state` and PKCE, which settings turn on for every
    OIDC app). The nonce binds the ID token itself to this browser's sign-in: it is stored with
    the sign-in's state (in the session, used once) and `SocialAccountAdapter.pre_social_login`
    refuses an ID token that does not carry it.
    """

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        auth_params = dict(self.get_auth_params() if auth_params is None else auth_params)
        auth_params["nonce"] = nonce  # after the request's own auth_params: never one it chose
        kwargs[NONCE_STATE_KEY] = nonce
        try:
            return super().redirect(request, process, next_url=next_url, data=data, auth_params=auth_params, **kwargs)
        except requests.RequestException as exc:
            return render_authentication_error(request, self, exception=exc)


def _check_nonce(request, sociallogin: SocialLogin) -> None:
    """Refuses (and audits) an OIDC sign-in whose ID token lacks the nonce its request sent."""
    sent = sociallogin.state.get(NONCE_STATE_KEY)
    id_token = (sociallogin.account.extra_data or {}).get("id_token")
    received = id_token.get("nonce") if isinstance(id_token, dict) else None
    if isinstance(sent, str) and sent and isinstance(received, str) and hmac.compare_digest(sent, received):
        return
    reason = "no_id_token" if not isinstance(id_token, dict) else "not_sent" if not sent else "mismatch"
    account = sociallogin.account
    logger.warning("idp_nonce_refused", provider=account.provider, uid=str(account.uid)[:256], reason=reason)
    from django.db import transaction

    from governance.audit.services import record

    with transaction.atomic():
        record(
            actor=request.user if request.user.is_authenticated else None,
            action="authz.login.nonce_refused",
            after={"provider": account.provider, "uid": str(account.uid)[:256], "reason": reason},
            request=request,
        )
    raise ImmediateHttpResponse(_error_page(request, sociallogin.provider.name, "nonce"))


def _refuse_connect(request, sociallogin: SocialLogin) -> None:
    from django.db import transaction

    from governance.audit.services import record

    user = request.user if request.user.is_authenticated else None
    account = sociallogin.account
    logger.warning("idp_connect_refused", provider=account.provider, uid=str(account.uid)[:256])
    with transaction.atomic():
        record(
            actor=user,
            action="authz.connect.refused",
            after={
                "provider": account.provider,
                "uid": str(account.uid)[:256],
                "existing_user": sociallogin.user.pk if sociallogin.is_existing else None,
            },
            request=request,
        )


def _detach_second_identity(request, sociallogin: SocialLogin) -> None:
    """Detaches (audited) and refuses an existing IdP identity that is not its portal user's own.

    Before connecting was refused, a signed-in user could attach a second IdP identity
    (`?process=connect`), which then signed in as them. A portal user is one IdP identity: the one
    whose sign-in vouches for the Identity Center user the portal user is linked to (linking.py's
    rules: the configured ExternalIds claim, or a verified e-mail equal to the primary e-mail).
    Any other identity of a portal user with several, and any identity attached to a break-glass
    user (which signs in only through its one-time link), is deleted here and the sign-in refused;
    signing in with it again makes or finds its own portal user, linked on its own facts.
    """
    from allauth.socialaccount.models import SocialAccount
    from django.db import transaction

    from governance.audit.services import record

    account, user = sociallogin.account, sociallogin.user
    others = SocialAccount.objects.filter(user=user).exclude(pk=account.pk)
    break_glass = user.break_glass_until is not None
    if not break_glass and (not others.exists() or _is_own_identity(sociallogin, others)):
        return
    reason = "break_glass_user" if break_glass else "second_identity"
    logger.warning(
        "idp_identity_detached", provider=account.provider, uid=str(account.uid)[:256], user=user.pk, reason=reason
    )
    with transaction.atomic():
        before = {
            "provider": account.provider,
            "uid": str(account.uid)[:256],
            "user": user.pk,
            "other_identities": [f"{p}:{str(u)[:256]}" for p, u in others.values_list("provider", "uid")],
        }
        record(
            actor=request.user if request.user.is_authenticated else None,
            action="authz.identity.detached",
            obj=user,
            before=before,
            after={"reason": reason},
            request=request,
        )
        SocialAccount.objects.filter(pk=account.pk).delete()
    raise ImmediateHttpResponse(_error_page(request, sociallogin.provider.name, "detached"))


def _is_own_identity(sociallogin: SocialLogin, others) -> bool:
    """Whether this identity is its portal user's vouched one, among the user's several.

    With a vouched link, it is the identity whose sign-in's facts match that Identity Center user
    (alone, as link_user requires). Without one (never linked, or linked before the rules), no
    sign-in vouches for any of them, and the portal user's first identity (the one that made it)
    stays; the ones attached later are detached as they sign in.
    """
    from governance.authz.linking import facts_from_sociallogin, matching_users
    from governance.authz.models import IdentityLink

    link = IdentityLink.objects.filter(user=sociallogin.user).first()
    if link is not None and link.vouched:
        matches, _rule = matching_users(facts_from_sociallogin(sociallogin))
        return len(matches) == 1 and matches[0].arn == link.principal_arn
    return not others.filter(pk__lt=sociallogin.account.pk).exists()


def _classify(request, error, exception, extra_context: dict) -> str:
    if isinstance(exception, requests.ConnectionError | requests.Timeout):
        return "unreachable"
    if isinstance(exception, requests.RequestException):
        return "idp_error"
    if isinstance(exception, OAuth2Error):
        message = str(exception)
        if "invalid_client" in message:
            return "client"
        if "invalid_grant" in message:
            return "code"
        return "token"
    if isinstance(exception, PermissionDenied) or error == AuthError.DENIED:
        return "denied"
    if "callback_view" in extra_context and "state" not in extra_context:
        return "state"
    if "error" in request.GET:
        return "idp_error"
    return "unknown"


def _error_page(request, provider_name: str, failure: str, **extra):
    return render(
        request,
        "socialaccount/authentication_error.html",
        {"failure": failure, "provider_name": provider_name, **extra},
        status=FAILURE_STATUS.get(failure, HTTPStatus.UNAUTHORIZED),
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _provider_name_for(request, url: str) -> str:
    """The configured name of the IdP that `url` belongs to, else its origin."""
    origin = _origin(url)
    for app in SocialAccountAdapter(request).list_apps(request):
        settings = app.settings or {}
        idp_url = settings.get("server_url") or (settings.get("idp") or {}).get("metadata_url") or ""
        if idp_url and _origin(idp_url) == origin:
            return app.name
    return origin


def _claim(sociallogin: SocialLogin, name: str):
    data = sociallogin.account.extra_data or {}
    for source in (data.get("id_token"), data.get("userinfo"), data):
        if isinstance(source, dict) and name in source:
            return source[name]
    return None


def _refresh_names(sociallogin: SocialLogin) -> None:
    """The IdP owns a person's name: a rename there shows here at the next login."""
    user = sociallogin.user
    first, last = _claim(sociallogin, "given_name"), _claim(sociallogin, "family_name")
    changed = []
    if isinstance(first, str) and first and first != user.first_name:
        user.first_name = first
        changed.append("first_name")
    if isinstance(last, str) and last and last != user.last_name:
        user.last_name = last
        changed.append("last_name")
    if changed:
        user.save(update_fields=changed)
