"""Break-glass: an emergency local administrator for when the IdP or AWS entitlements are broken.

Off unless `BREAK_GLASS_ENABLED` is true. `manage.py break_glass_login --email ... --reason ...`
prints a one-time login link (valid for `BREAK_GLASS_LINK_MINUTES`); following it logs in a local
user whose `break_glass_until` makes `capabilities()` grant everything until it expires. Every
request that user makes through a guarded view is audited, and pages show a banner.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def enabled() -> bool:
    return bool(getattr(settings, "BREAK_GLASS_ENABLED", False))


def is_active_for(user: Any) -> bool:
    until = getattr(user, "break_glass_until", None)
    return enabled() and until is not None and until > timezone.now()


def audit_request(request: HttpRequest) -> None:
    """Record one request made under break-glass (every one is, whatever it does)."""
    from governance.audit.services import record

    record(
        actor=request.user,
        action="authz.break_glass.request",
        after={"method": request.method, "path": request.get_full_path()[:2000]},
        request=request,
    )


LOCAL_USERNAME_PREFIX = "break-glass:"


def _digest(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def link_minutes() -> int:
    return int(getattr(settings, "BREAK_GLASS_LINK_MINUTES", 15))


def session_minutes() -> int:
    return int(getattr(settings, "BREAK_GLASS_SESSION_MINUTES", 60))


def issue_token(*, email: str, reason: str) -> str:
    """Create a one-time login token (only its digest is stored) and audit that it was issued."""
    import secrets
    from datetime import timedelta

    from django.db import transaction

    from governance.audit.services import record
    from governance.authz.models import BreakGlassToken

    if not enabled():
        raise PermissionError("Break-glass is disabled; set BREAK_GLASS_ENABLED=true to use it.")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        row = BreakGlassToken.objects.create(
            digest=_digest(token),
            email=email.strip().lower(),
            reason=reason,
            created_at=now,
            expires_at=now + timedelta(minutes=link_minutes()),
        )
        record(
            actor=None,
            action="authz.break_glass.issued",
            obj=row,
            after={"email": row.email, "reason": reason, "expires_at": row.expires_at.isoformat()},
        )
    return token


def peek(token: str) -> bool:
    from governance.authz.models import BreakGlassToken

    return BreakGlassToken.objects.filter(
        digest=_digest(token), used_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


def login_with_token(request: HttpRequest, token: str) -> bool:
    """Spend the token and log in its local administrator; False for unknown, used or expired."""
    from datetime import timedelta

    from django.contrib.auth import login
    from django.db import transaction

    from governance.audit.services import record
    from governance.authz.models import BreakGlassToken, User

    if not enabled():
        return False
    now = timezone.now()
    with transaction.atomic():
        row = (
            BreakGlassToken.objects.select_for_update()
            .filter(digest=_digest(token), used_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if row is None:
            return False
        row.used_at = now
        row.save(update_fields=["used_at"])
        # No e-mail on the local user: it is never linked to, and never stands in the way of, the
        # person whose address it names (the user name says who it was issued for).
        user, _ = User.objects.get_or_create(username=LOCAL_USERNAME_PREFIX + row.email)
        user.break_glass_until = now + timedelta(minutes=session_minutes())
        user.email = ""
        user.set_unusable_password()
        user.save(update_fields=["break_glass_until", "password", "email"])
        login(request, user, backend="allauth.account.auth_backends.AuthenticationBackend")
        record(
            actor=user,
            action="authz.break_glass.login",
            obj=row,
            after={"email": row.email, "reason": row.reason, "until": user.break_glass_until.isoformat()},
            request=request,
        )
    return True
