from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from governance.authz import break_glass, mfa
from governance.authz.capabilities import Capability, capabilities
from governance.authz.decorators import authenticated, public
from governance.authz.selectors import my_access_context


@require_GET
@authenticated
def my_access(request):
    caps = capabilities(request.user)
    context = my_access_context(request.user, caps)
    context.update(
        {
            "caps": caps,
            "capability_rows": [
                {"capability": c, "grants": caps.grants_for(c.value)} for c in Capability if caps.has(c.value)
            ],
            "idp": {
                "provider": request.session.get(mfa.SESSION_PROVIDER, ""),
                "subject": request.session.get(mfa.SESSION_SUBJECT, ""),
                "amr": mfa.session_amr(request),
                "auth_time": request.session.get(mfa.SESSION_AUTH_TIME),
                "mfa_fresh": mfa.is_fresh(request),
            },
        }
    )
    return render(request, "authz/my_access.html", context)


@require_http_methods(["GET", "POST"])
@public
def break_glass_login(request, token: str):
    """Follow a one-time break-glass link: GET shows what will happen, POST logs in."""
    if not break_glass.enabled():
        raise Http404("Break-glass access is disabled.")
    if request.method == "GET":
        return render(request, "authz/break_glass_confirm.html", {"valid": break_glass.peek(token)})
    if not break_glass.login_with_token(request, token):
        return render(request, "authz/break_glass_confirm.html", {"valid": False}, status=400)
    return redirect("dashboard")
