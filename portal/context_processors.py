from __future__ import annotations

from django.conf import settings

from portal.navigation import items_for


def portal(request):
    return {
        "PORTAL_ENV": settings.PORTAL_ENV,
        "request_id": getattr(request, "request_id", ""),
        "nav_items": items_for(request) if getattr(request, "user", None) is not None else [],
    }
