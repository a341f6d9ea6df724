"""The API token pages (`/api/tokens/`): a person's own tokens, created after a recent MFA login."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from governance.api import services
from governance.api.models import ApiToken
from governance.authz.decorators import authenticated, requires_mfa


@require_GET
@authenticated
def tokens(request):
    context = {
        "tokens": request.user.api_tokens.all()[:100],
        "max_days": settings.API_TOKEN_MAX_DAYS,
        "created": request.session.pop("api_token_plaintext", None),
    }
    return render(request, "api/tokens.html", context)


@require_POST
@authenticated
@requires_mfa
def create(request):
    try:
        days = int(request.POST.get("days", "30"))
    except ValueError:
        days = 0
    try:
        _, plaintext = services.create_token(
            user=request.user,
            name=request.POST.get("name", ""),
            days=days,
            with_mfa=True,
            actor=request.user,
            request=request,
        )
    except services.TokenError as exc:
        messages.error(request, str(exc))
        return redirect("api:tokens")
    # Shown once on the next page, then gone: the portal keeps only the digest.
    request.session["api_token_plaintext"] = plaintext
    return redirect("api:tokens")


@require_POST
@authenticated
def revoke(request):
    # Only one's own tokens: another person's prefix is as unknown as a made-up one.
    token = ApiToken.objects.filter(user=request.user, prefix=request.POST.get("prefix", "")).first()
    if token is None:
        messages.error(request, "No such token of yours.")
        return redirect("api:tokens")
    services.revoke_token(token=token, actor=request.user, request=request)
    messages.success(request, f"Token {token.name} is revoked.")
    return redirect("api:tokens")
