from __future__ import annotations

from django.conf import settings


def portal(request):
    return {"PORTAL_ENV": settings.PORTAL_ENV, "request_id": getattr(request, "request_id", "")}
