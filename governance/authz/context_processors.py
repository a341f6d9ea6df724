from __future__ import annotations

from governance.authz.capabilities import capabilities


def authz(request):
    """`break_glass_active` for the banner (templates/authz/_break_glass_banner.html)."""
    user = getattr(request, "user", None)
    return {"break_glass_active": capabilities(user).break_glass if user is not None else False}
