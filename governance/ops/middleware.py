"""Every request counted and timed for `/metrics` (labelled by view name, a bounded set, never by path)
and, in production, logged as one JSON line that carries its request id (portal.middleware)."""

from __future__ import annotations

import time

import structlog
from django.conf import settings

from governance.ops.metrics import HTTP_DURATION, HTTP_REQUESTS

access_log = structlog.get_logger("governance.access")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class AccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match is not None else "") or "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(view, method, f"{response.status_code // 100}xx").inc()
        HTTP_DURATION.labels(view).observe(seconds)
        if settings.ACCESS_LOG:
            user = getattr(request, "user", None)
            access_log.info(
                "request",
                method=request.method,
                path=request.path,
                view=view,
                status=response.status_code,
                duration_ms=round(seconds * 1000, 1),
                user_id=user.pk if user is not None and user.is_authenticated else None,
            )
        return response
