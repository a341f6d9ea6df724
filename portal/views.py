from __future__ import annotations

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from governance.authz.capabilities import Capability, capabilities
from governance.authz.decorators import authenticated, public
from portal import dashboard as selectors


@require_GET
@authenticated
def dashboard(request):
    caps = capabilities(request.user)
    context = {
        "identity": selectors.idp_identity(request),
        "org": selectors.org_summary(request.user, caps),
        "caps": caps,
        "can_view_inventory": caps.has(Capability.INVENTORY_VIEW),
        "can_sync": caps.has(Capability.SYNC_RUN),
        "cards": selectors.render_cards(request),
    }
    return render(request, "portal/dashboard.html", context)


@require_GET
@public
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request, exception=None):
    return render(request, "portal/404.html", status=404)


def server_error(request):
    return HttpResponse(
        "<h1>Something went wrong</h1><p>The error has been logged.</p>", status=500, content_type="text/html"
    )
