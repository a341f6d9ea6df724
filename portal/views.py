from __future__ import annotations

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from governance.authz.decorators import authenticated, public


@require_GET
@authenticated
def dashboard(request):
    return render(request, "portal/dashboard.html", {})


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
