from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from governance.authz.linking import MatchedOn


class User(AbstractUser):
    """A person who logged in through an identity provider; their rights come from AWS.

    `break_glass_until` is set only on the emergency local administrator created by
    `manage.py break_glass_login`, and only counts while `BREAK_GLASS_ENABLED` is on.
    """

    break_glass_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "authz_user"


class LinkStatus(models.TextChoices):
    LINKED = "linked", "Linked"
    MISSING = "missing", "No Identity Center user matches"
    AMBIGUOUS = "ambiguous", "Several Identity Center users match"
    UNVERIFIED = "unverified", "The sign-in vouched for nothing that links"
    BREAK_GLASS = "break_glass", "Break-glass users are never linked"


class IdentityLinkQuerySet(models.QuerySet):
    """`linked()` is the links that grant: linked on a fact a sign-in vouched for (`matched_on`).

    A link marked linked with no matched fact predates the linking rules (it was made on a user
    name or an unverified e-mail); it grants nothing and is re-checked (selectors.py).
    """

    def linked(self):
        return self.filter(status=LinkStatus.LINKED).exclude(matched_on=MatchedOn.NONE)

    def unlinked(self):
        return self.filter(~models.Q(status=LinkStatus.LINKED) | models.Q(matched_on=MatchedOn.NONE))


class IdentityLink(models.Model):
    """Which Identity Center user a portal user is, and the IdP-vouched fact that says so.

    `provider`, `verified_email`, `external_issuer` and `external_id` are what the user's last
    sign-in vouched for (governance/authz/linking.py); `matched_on` names the rule that linked.

    The link names the Identity Center user by its inventory ARN rather than a foreign key, so a
    re-sync that marks and revives rows never breaks it; `candidates` lists the ARNs that matched
    when the match was ambiguous, for the administrators who must resolve it in AWS.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="identity_link")
    status = models.CharField(max_length=16, choices=LinkStatus.choices)
    principal_arn = models.CharField(max_length=2048, blank=True)
    aws_user_name = models.CharField(max_length=256, blank=True)
    aws_email = models.CharField(max_length=320, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField()
    provider = models.CharField(max_length=200, blank=True, help_text="The IdP the facts came from.")
    verified_email = models.CharField(max_length=320, blank=True, help_text="An e-mail the IdP vouched for.")
    external_issuer = models.CharField(max_length=512, blank=True)
    external_id = models.CharField(max_length=512, blank=True, help_text="The configured claim's value.")
    matched_on = models.CharField(max_length=16, blank=True, choices=MatchedOn.choices, default=MatchedOn.NONE)

    objects = IdentityLinkQuerySet.as_manager()

    class Meta:
        db_table = "authz_identity_link"
        indexes = [models.Index(fields=["status"], name="authz_link_status")]

    def __str__(self) -> str:
        return f"{self.user} → {self.aws_user_name or self.get_status_display()}"

    @property
    def vouched(self) -> bool:
        """Linked on a fact a sign-in vouched for; only such a link grants anything."""
        return self.status == LinkStatus.LINKED and bool(self.principal_arn) and self.matched_on != MatchedOn.NONE

    @property
    def predates_rules(self) -> bool:
        """Marked linked before the linking rules recorded what matched: it vouches for nothing."""
        return self.status == LinkStatus.LINKED and self.matched_on == MatchedOn.NONE


class BreakGlassToken(models.Model):
    """A one-time login link for the emergency local administrator; only its digest is stored."""

    digest = models.CharField(max_length=64, unique=True)
    email = models.CharField(max_length=320)
    reason = models.TextField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "authz_break_glass_token"

    def __str__(self) -> str:
        return f"break-glass for {self.email} ({self.created_at:%Y-%m-%d %H:%M})"
