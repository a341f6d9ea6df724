"""View decorators: every portal view declares its rule, and the rule is enforced here.

    @require_GET
    @requires(Capability.INVENTORY_VIEW)
    def account_list(request): ...

    @require_POST
    @requires(Capability.SCP_APPROVE)
    @requires_mfa
    def approve(request, pk): ...

- `@requires(*capabilities)`: anonymous → redirect to login; missing a capability → 403 page.
  `@requires()` with no capability (spelled `@authenticated`) admits any logged-in user.
- `@requires_mfa`: the session's IdP login must carry an MFA method in `amr` and be younger than
  `MFA_STEP_UP_MINUTES`; otherwise the user is sent through re-authentication at the IdP.
- `@public`: no login at all (health checks, the login pages). Use sparingly.

Each decorator records a `Rule` on the view (`view.authz_rule`); the authorization matrix test
reads it to derive the status every persona must get, and fails for a view that has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.authz.capabilities import Capability, capabilities

RULE_ATTR = "authz_rule"


@dataclass(frozen=True)
class Rule:
    """What a view demands: nothing (`public`), a login, capabilities, and/or a fresh MFA login."""

    public: bool = False
    capabilities: tuple[str, ...] = ()
    mfa: bool = False

    def admits(self, caps: Any) -> bool:
        """Whether a logged-in user with these capabilities passes (MFA aside)."""
        return self.public or all(caps.has(c) for c in self.capabilities)


def rule_of(view: Any) -> Rule | None:
    """The rule declared on a view function (or on a class-based view's class), if any."""
    rule = getattr(view, RULE_ATTR, None)
    if rule is None and hasattr(view, "view_class"):
        rule = getattr(view.view_class, RULE_ATTR, None)
    return rule


def login_redirect(request: HttpRequest) -> HttpResponse:
    """To the login page and back; htmx requests get HX-Redirect so the whole page navigates."""
    response = redirect_to_login(request.get_full_path())
    if getattr(request, "htmx", False):
        htmx_response = HttpResponse(status=204)
        htmx_response["HX-Redirect"] = response["Location"]
        return htmx_response
    return response


def forbidden(request: HttpRequest, missing: tuple[str, ...] = ()) -> HttpResponse:
    labels = [Capability(c).label if c in Capability.values else c for c in missing]
    return render(request, "authz/forbidden.html", {"missing": labels}, status=403)


def requires(*required: Capability | str) -> Callable:
    """Admit only logged-in users holding every listed capability (deny by default)."""
    needed = tuple(str(c) for c in required)
    unknown = [c for c in needed if c not in Capability.values]
    if unknown:
        raise ValueError(f"Unknown capabilities: {', '.join(unknown)}")

    def decorator(view: Callable) -> Callable:
        inner_rule = rule_of(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return login_redirect(request)
            caps = capabilities(user)
            missing = tuple(c for c in needed if not caps.has(c))
            if missing:
                return forbidden(request, missing)
            if caps.break_glass:
                from governance.authz.break_glass import audit_request

                audit_request(request)
            return view(request, *args, **kwargs)

        setattr(wrapper, RULE_ATTR, Rule(capabilities=needed, mfa=bool(inner_rule and inner_rule.mfa)))
        return wrapper

    return decorator


authenticated = requires()
authenticated.__doc__ = "Admit any logged-in user; what they see is still scoped by capabilities."


def requires_mfa(view: Callable) -> Callable:
    """Demand a recent MFA login at the IdP; otherwise go through step-up re-authentication."""
    inner_rule = rule_of(view) or Rule()

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from governance.authz import mfa

        if not request.user.is_authenticated:
            return login_redirect(request)
        if not mfa.is_fresh(request):
            return mfa.step_up_redirect(request)
        return view(request, *args, **kwargs)

    setattr(wrapper, RULE_ATTR, replace(inner_rule, mfa=True))
    return wrapper


def public(view: Callable) -> Callable:
    """Declare that a view needs no login (health checks, login pages)."""
    setattr(view, RULE_ATTR, Rule(public=True))
    return view
