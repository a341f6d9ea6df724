"""API tokens: bound to one portal user, stored as a SHA-256 digest, expiring and revocable.

The plaintext (`gpt_<prefix>_<secret>`, 256 random bits) is shown once, when it is created; the
portal keeps only its digest (a fast hash suffices for a random secret: nothing to guess) and the
prefix that names it in lists and audit rows. A token grants nothing by itself: each request still
asks `capabilities(user)` of its user, so what AWS takes away the token loses at the next sync.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True)


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for (a script, a SIEM).")
    prefix = models.CharField(max_length=12, unique=True, help_text="Names the token; not a secret.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_with_mfa = models.BooleanField(
        default=False, help_text="Created in a session with a recent MFA login (required for API writes)."
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "api_token"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user")]

    def __str__(self) -> str:
        return f"{self.name} (gpt_{self.prefix}…)"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class IdempotentWrite(models.Model):
    """One `Idempotency-Key` a token used for a write, and the answer it got (replayed on a retry).

    The row is written with the answer in the write's own transaction (they commit or vanish
    together); only a write that commits in steps (a change's apply) leaves a committed claim
    (status 0) while it runs. A retry with the same key replays the stored answer, so a double submit
    acts once (see governance.api.idempotency). A refused write deletes its row, so the client may
    retry after fixing its input.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="writes")
    key = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    body_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "api_idempotent_write"
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="api_idempotent_write_token_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
