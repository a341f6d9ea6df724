"""`/health/` and `/metrics`: for load balancers and Prometheus, so neither needs a login.

`/health/` says only ok/warn/fail with counts and ages, nothing about the organization. `/metrics`
holds counts too; set `METRICS_TOKEN` to make Prometheus present it as a bearer token.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from governance.authz.decorators import public
from governance.ops import health as checks
from governance.ops import metrics as exported


@require_GET
@never_cache
@public
def health(request):
    result = checks.health()
    return JsonResponse(result.as_dict(), status=200 if result.serving else 503)


@require_GET
@never_cache
@public
def metrics(request):
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse(
                "A bearer token is required (METRICS_TOKEN).\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(exported.exposition(), content_type=CONTENT_TYPE_LATEST)
