"""Creating and revoking API tokens: each one service, audited in its transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.api.models import ApiToken
from governance.audit.services import record

TOKEN_PREFIX = "gpt_"  # noqa: S105 - the marker every token starts with, not a secret


class TokenError(ValueError):
    """The token cannot be created or changed as asked; the message says why."""


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _audit(token: ApiToken) -> dict[str, Any]:
    return {"name": token.name, "prefix": token.prefix, "user": token.user.email, "expires_at": token.expires_at}


@transaction.atomic
def create_token(
    *, user: Any, name: str, days: int, with_mfa: bool, actor: Any, request: Any = None
) -> tuple[ApiToken, str]:
    """A new token for `user` valid `days` days; returns it and its plaintext (shown once, never stored)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise TokenError("Give the token a name of 1 to 100 characters (what it is for).")
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise TokenError(f"A token lasts 1 to {settings.API_TOKEN_MAX_DAYS} days.")
    if user.api_tokens.usable().count() >= settings.API_TOKENS_PER_USER:
        raise TokenError(f"At most {settings.API_TOKENS_PER_USER} active tokens per person; revoke one first.")
    prefix = secrets.token_hex(4)
    plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        created_at=now,
        name=name,
        prefix=prefix,
        digest=digest(plaintext),
        expires_at=now + timedelta(days=days),
        created_with_mfa=with_mfa,
    )
    record(actor=actor, action="api.token.created", obj=token, after=_audit(token), request=request)
    return token, plaintext


@transaction.atomic
def revoke_token(*, token: ApiToken, actor: Any, request: Any = None) -> ApiToken:
    """End a token now (idempotent: revoking a revoked token changes and records nothing)."""
    locked = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    record(actor=actor, action="api.token.revoked", obj=locked, before=_audit(locked), request=request)
    return locked
