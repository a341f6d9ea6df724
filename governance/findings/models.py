"""Findings: what a rule found, where, since when, and everything that happened to it.

A `Finding` is one rule's verdict on one resource (a principal, a key, a policy, an account, a
permission set), named by a fingerprint of the rule id and the resource, so the same problem found
again is the same row. Rows are never deleted: a finding a later evaluation no longer shows is
`resolved`, and `open` again (reopened) when it comes back. A suppression (justification, owner,
expiry) turns an open finding `suppressed` until it expires or is lifted. Each change is a
`FindingEvent`, the finding's history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    SUPPRESSED = "suppressed", "Suppressed"
    RESOLVED = "resolved", "Resolved"


class ResourceType(models.TextChoices):
    ACCOUNT = "account", "Account"
    ROOT_USER = "root_user", "Root user"
    PRINCIPAL = "principal", "Principal"
    ACCESS_KEY = "access_key", "Access key"
    POLICY = "policy", "Policy"
    PERMISSION_SET = "permission_set", "Permission set"


class EvaluationTrigger(models.TextChoices):
    COMMAND = "command", "Command line"
    AFTER_SYNC = "after_sync", "After a sync"
    SCHEDULE = "schedule", "Schedule"
    SETTINGS = "settings", "Settings changed"


class EvaluationRun(models.Model):
    """One evaluation: which rules over which accounts, what changed, and the open totals after it
    (the dashboard's trend reads these, one row per run, instead of counting history)."""

    trigger = models.CharField(max_length=16, choices=EvaluationTrigger.choices)
    sync_run = models.ForeignKey(
        "inventory.SyncRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    full = models.BooleanField(default=True, help_text="Every rule over every account.")
    accounts = models.PositiveIntegerField(default=0, help_text="Accounts whose account rules ran.")
    rules = models.JSONField(default=list, blank=True)
    new = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    open_by_severity = models.JSONField(default=dict, blank=True)
    by_rule = models.JSONField(default=dict, blank=True, help_text="Rule id -> open findings after the run.")
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at", "-id"], name="findings_run_started")]

    def __str__(self) -> str:
        return f"evaluation {self.pk}"


class Finding(models.Model):
    # Unique through the constraint below, not `unique=True`: on PostgreSQL that would add a second
    # (pattern) index nobody queries, on random keys, which cost a large first evaluation a third of its
    # insert time.
    fingerprint = models.CharField(max_length=32, editable=False)
    rule_id = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField(default=0, help_text="For ordering: critical first.")
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    # Foreign keys without an index of their own: the (account, status) and (principal, status)
    # indexes serve those lookups, and inventory rows are never deleted. An evaluation inserts
    # hundreds of thousands of findings in a large organization; each index costs every insert.
    # Nor a per-row constraint trigger: a statement-level trigger (migration 0003; since 0005 one scan of
    # the new rows and one index lookup of each column's distinct values) checks every reference an
    # INSERT writes, and refuses to point a stored finding at another row; a first evaluation of a large
    # organization spent about a quarter of its database time in per-row checks.
    account = models.ForeignKey(
        "inventory.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="findings",
        db_index=False,
        db_constraint=False,
    )
    principal = models.ForeignKey(
        "inventory.Principal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="findings",
        db_index=False,
        db_constraint=False,
    )
    policy = models.ForeignKey(
        "inventory.Policy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="findings",
        db_index=False,
        db_constraint=False,
    )
    permission_set = models.ForeignKey(
        "inventory.PermissionSet",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="findings",
        db_index=False,
        db_constraint=False,
    )
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices)
    resource_arn = models.CharField(max_length=2048)
    resource_name = models.CharField(max_length=512)
    message = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    evidence_hash = models.CharField(max_length=32, editable=False)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    times_reopened = models.PositiveIntegerField(default=0)
    first_run = models.ForeignKey(
        EvaluationRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        ordering = ["-severity_rank", "id"]
        constraints = [models.UniqueConstraint(fields=["fingerprint"], name="findings_fingerprint_unique")]
        indexes = [
            models.Index(fields=["status", "-severity_rank", "id"], name="findings_status_rank"),
            models.Index(fields=["rule_id", "status"], name="findings_rule_status"),
            models.Index(fields=["account", "status"], name="findings_account_status"),
            models.Index(fields=["principal", "status"], name="findings_principal_status"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.resource_name}"


class EventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    RESOLVED = "resolved", "Resolved (no longer found)"
    REOPENED = "reopened", "Reopened (found again)"
    SUPPRESSED = "suppressed", "Suppressed"
    UNSUPPRESSED = "unsuppressed", "Suppression lifted"
    SUPPRESSION_EXPIRED = "suppression_expired", "Suppression expired"


class FindingEvent(models.Model):
    # The (finding, at, id) index serves the finding's lookups; run and actor are for display.
    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    at = models.DateTimeField()
    run = models.ForeignKey(
        EvaluationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    actor_name = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["finding", "at", "id"]
        indexes = [models.Index(fields=["finding", "at", "id"], name="findings_event_finding")]

    def __str__(self) -> str:
        return f"{self.finding_id} {self.kind}"


class SuppressionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(ended_at__isnull=True)


class SuppressionEnd(models.TextChoices):
    LIFTED = "lifted", "Lifted"
    EXPIRED = "expired", "Expired"


class Suppression(models.Model):
    """A decision to accept a finding for a while: who decided, why, who owns it, until when."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="suppressions")
    justification = models.TextField()
    owner = models.CharField(max_length=320, help_text="Who is accountable for the accepted risk (e-mail).")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by_name = models.CharField(max_length=150, blank=True)
    end_reason = models.CharField(max_length=16, choices=SuppressionEnd.choices, blank=True)

    objects = SuppressionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["finding"], condition=Q(ended_at__isnull=True), name="findings_one_active_suppression"
            )
        ]
        indexes = [models.Index(fields=["ended_at", "expires_at"], name="findings_suppression_expiry")]

    def __str__(self) -> str:
        return f"suppression of {self.finding_id} until {self.expires_at:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


def default_required_denies() -> list[dict[str, str]]:
    return [
        {"action": "organizations:LeaveOrganization", "principal": "role"},
        {"action": "iam:CreateAccessKey", "principal": "root"},
    ]


class BaselineSettings(models.Model):
    """The organization's baseline, one row (pk 1): what the scp.* and permission_set.* rules demand."""

    required_scp_names = models.JSONField(
        default=list, blank=True, help_text="SCPs (by name) that must be in effect on every member account."
    )
    required_denies = models.JSONField(
        default=default_required_denies,
        blank=True,
        help_text='Requests the effective SCPs must deny: [{"action": "service:Action", "principal": "role"|"root"}].',
    )
    admin_permission_set_max_principals = models.PositiveIntegerField(
        default=3, help_text="An administrator permission set held by more principals than this is a finding."
    )
    max_session_hours = models.PositiveSmallIntegerField(
        default=8, help_text="A permission set whose session lasts longer than this is a finding."
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "baseline settings"
        verbose_name_plural = "baseline settings"

    def __str__(self) -> str:
        return "Findings baseline"

    @classmethod
    def current(cls) -> BaselineSettings:
        """The stored baseline, or the defaults (unsaved) while nobody has changed them."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class LintCache(models.Model):
    """parliament's findings per policy document (normalized; see analysis.py), computed once.

    parliament takes milliseconds per document; an organization deploys the same documents to many
    accounts, and most documents do not change between evaluations.
    """

    document_key = models.CharField(max_length=32, unique=True)
    tool_version = models.CharField(max_length=32)
    findings = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.document_key
