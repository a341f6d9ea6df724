"""Request id, bad-input guards (NUL bytes, a missing Host header) and session lifetime."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from django.conf import settings
from django.contrib.auth import logout

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Tags every request with an id (the proxy's X-Request-ID when it is well formed)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class HostHeaderMiddleware:
    """Gives a request sent without a Host header (HTTP/1.0 allows it) the host Django resolves.

    Django falls back to SERVER_NAME and checks it against ALLOWED_HOSTS (an unknown one is a 400);
    python3-saml, through allauth's SAML views, reads the header itself and would fail with a
    KeyError, a 500. Filling the header from `get_host()` makes both see the same, validated host.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.META.get("HTTP_HOST"):
            request.META["HTTP_HOST"] = request.get_host()
        return self.get_response(request)


class RejectNulMiddleware:
    """Answers 400 to a NUL byte in the path, the query or a posted form, before any view sees it.

    No text column can hold one (PostgreSQL refuses it outright), so a search box, a URL part or an
    admin filter carrying `%00` would otherwise end in a database error, a 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            from django.shortcuts import render

            reason = "The request contains a NUL character (%00), which no field accepts."
            return render(request, "portal/400.html", {"reason": reason}, status=400)
        return self.get_response(request)


def _has_nul(request) -> bool:
    if "\x00" in request.path or "\x00" in request.path_info:
        return True
    for params in (request.GET, _form(request)):
        for key, values in params.lists():
            if "\x00" in key or any("\x00" in v for v in values if isinstance(v, str)):
                return True
    return False


def _form(request):
    from django.http import QueryDict

    if request.method != "POST" or request.content_type not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        return QueryDict()
    return request.POST


class SessionTimeoutMiddleware:
    """Ends a session after SESSION_IDLE_TIMEOUT without requests or SESSION_ABSOLUTE_TIMEOUT in all,
    and a break-glass session when its `break_glass_until` has passed (or break-glass is turned off)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            started = request.session.setdefault("portal_started_at", now)
            last_seen = request.session.get("portal_last_seen", now)
            if (
                now - last_seen > settings.SESSION_IDLE_TIMEOUT
                or now - started > settings.SESSION_ABSOLUTE_TIMEOUT
                or _break_glass_over(request.user)
            ):
                logout(request)
                request.session["portal_expired"] = True
            elif now - last_seen >= 60 or "portal_last_seen" not in request.session:
                request.session["portal_last_seen"] = now
        return self.get_response(request)


def _break_glass_over(user) -> bool:
    from governance.authz import break_glass

    return getattr(user, "break_glass_until", None) is not None and not break_glass.is_active_for(user)
