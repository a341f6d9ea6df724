"""What AWS's own analyzers say, kept beside the inventory: Access Analyzer findings, CloudTrail
management events (the activity feed), service last accessed, AWS Config compliance of IAM rules.

Each source's reads are recorded per account (or organization-wide) in `SourceStatus`, so a page can
say "not available from this endpoint" or "access denied" instead of showing an empty list as if
AWS had nothing to say. These rows are copies of what AWS said, replaced by the next read; the
decisions people take from them (reviews, SCP changes) are audited where they are taken.
"""

from __future__ import annotations

from django.db import models


class Source(models.TextChoices):
    ACCESS_ANALYZER = "access_analyzer", "IAM Access Analyzer"
    CLOUDTRAIL = "cloudtrail", "CloudTrail"
    LAST_ACCESSED = "last_accessed", "Service last accessed"
    CONFIG = "config", "AWS Config"


class SourceState(models.TextChoices):
    OK = "ok", "Read"
    NOT_AVAILABLE = "not_available", "Not available from this endpoint"
    DENIED = "denied", "Access denied"
    THROTTLED = "throttled", "Throttled"
    ERROR = "error", "Failed"


class SourceStatus(models.Model):
    """The last read of one source for one account ("" scope: organization-wide)."""

    source = models.CharField(max_length=24, choices=Source.choices)
    account = models.ForeignKey(
        "inventory.Account", on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    scope = models.CharField(max_length=16, blank=True, help_text="The AWS account id, or empty for the organization.")
    state = models.CharField(max_length=16, choices=SourceState.choices)
    message = models.TextField(blank=True)
    checked_at = models.DateTimeField()
    succeeded_at = models.DateTimeField(null=True, blank=True)
    items = models.PositiveIntegerField(default=0, help_text="Rows the last successful read wrote or refreshed.")
    # CloudTrail: the newest event time held, where the next lookup starts.
    cursor = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "source statuses"
        ordering = ["source", "scope"]
        constraints = [models.UniqueConstraint(fields=["source", "scope"], name="signals_status_source_scope")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.scope or 'organization'}: {self.get_state_display()}"

    @property
    def available(self) -> bool:
        return self.state != SourceState.NOT_AVAILABLE


class AnalyzerKind(models.TextChoices):
    EXTERNAL = "external", "External access"
    UNUSED = "unused", "Unused access"


class AnalyzerFindingStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived in AWS"
    RESOLVED = "resolved", "Resolved"


class AnalyzerFinding(models.Model):
    """One Access Analyzer finding. A finding the analyzer no longer lists as active is resolved."""

    analyzer_arn = models.CharField(max_length=1024)
    finding_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=16, choices=AnalyzerKind.choices)
    finding_type = models.CharField(max_length=64, help_text="ExternalAccess, UnusedIAMRole, UnusedPermission, ...")
    status = models.CharField(max_length=16, choices=AnalyzerFindingStatus.choices)
    resource_arn = models.CharField(max_length=2048)
    resource_type = models.CharField(max_length=64)
    resource_owner_account = models.CharField(max_length=12)
    account = models.ForeignKey(
        "inventory.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    principal = models.ForeignKey(
        "inventory.Principal", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    analyzed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=256, blank=True)
    details = models.JSONField(default=list, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["account", "resource_arn", "id"]
        constraints = [
            models.UniqueConstraint(fields=["analyzer_arn", "finding_id"], name="signals_analyzer_finding_unique")
        ]
        indexes = [
            models.Index(fields=["status", "kind", "account"], name="signals_analyzer_status"),
            models.Index(fields=["principal", "status"], name="signals_analyzer_principal"),
        ]

    def __str__(self) -> str:
        return f"{self.finding_type} on {self.resource_arn}"


class ActivityEvent(models.Model):
    """One CloudTrail management event of IAM, Organizations, STS or Identity Center.

    `via_writer` says the portal's writer role made it (then `source_identity` names the person);
    `out_of_band` marks a successful change made any other way: by hand, by a pipeline, by AWS.
    """

    event_id = models.CharField(max_length=128, unique=True)
    account = models.ForeignKey(
        "inventory.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    recipient_account_id = models.CharField(max_length=12)
    actor = models.ForeignKey(
        "inventory.Principal", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    event_time = models.DateTimeField()
    event_source = models.CharField(max_length=64)
    event_name = models.CharField(max_length=128)
    read_only = models.BooleanField(default=False)
    identity_type = models.CharField(max_length=32, blank=True)
    actor_arn = models.CharField(max_length=2048, blank=True)
    session_arn = models.CharField(max_length=2048, blank=True)
    actor_account_id = models.CharField(max_length=12, blank=True)
    user_name = models.CharField(max_length=256, blank=True)
    source_identity = models.CharField(max_length=64, blank=True)
    source_ip = models.CharField(max_length=256, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    target = models.CharField(max_length=2048, blank=True)
    request_parameters = models.JSONField(default=dict, blank=True)
    via_writer = models.BooleanField(default=False)
    out_of_band = models.BooleanField(default=False)

    class Meta:
        ordering = ["-event_time", "-id"]
        indexes = [
            models.Index(fields=["-event_time", "-id"], name="signals_activity_time"),
            models.Index(fields=["account", "-event_time", "-id"], name="signals_activity_account"),
            models.Index(fields=["actor", "-event_time", "-id"], name="signals_activity_actor"),
            models.Index(fields=["out_of_band", "-event_time", "-id"], name="signals_activity_oob"),
            models.Index(fields=["target", "-event_time"], name="signals_activity_target"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} by {self.actor_arn or self.identity_type} at {self.event_time:%Y-%m-%d %H:%M}"

    @property
    def action(self) -> str:
        return f"{self.event_source.split('.', 1)[0]}:{self.event_name}"

    @property
    def author(self) -> str:
        """Who made the change: the person behind a writer session, else the principal AWS names."""
        return self.source_identity or self.user_name or self.actor_arn or self.identity_type


class UsageSource(models.TextChoices):
    CLOUDTRAIL = "cloudtrail", "CloudTrail"
    LAST_ACCESSED = "last_accessed", "Service last accessed"


class ActionLastUsed(models.Model):
    """When a principal last used an action in an account, for impact analysis ("who would this
    deny break?"). From CloudTrail events and from action-level service last accessed data."""

    account = models.ForeignKey("inventory.Account", on_delete=models.CASCADE, related_name="+", db_index=False)
    principal_arn = models.CharField(max_length=2048)
    principal = models.ForeignKey(
        "inventory.Principal", on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    action = models.CharField(max_length=192, help_text="service:Action, e.g. iam:CreateUser.")
    last_used_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=UsageSource.choices)

    class Meta:
        ordering = ["action", "-last_used_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "principal_arn", "action"], name="signals_action_last_used")
        ]
        indexes = [models.Index(fields=["action", "account"], name="signals_action_account")]

    def __str__(self) -> str:
        return f"{self.action} by {self.principal_arn} on {self.last_used_at:%Y-%m-%d}"


class FetchState(models.TextChoices):
    QUEUED = "queued", "Waiting for its turn"
    RUNNING = "running", "Job running in AWS"
    DONE = "done", "Fetched"
    FAILED = "failed", "Failed"


class LastAccessedFetch(models.Model):
    """Where fetching one principal's service last accessed data stands.

    `content_hash` is the principal's inventory hash when the job was started: a principal whose
    permissions changed since is fetched again; an unchanged one only when its data grew old.
    """

    principal = models.OneToOneField("inventory.Principal", on_delete=models.CASCADE, related_name="signals_fetch")
    state = models.CharField(max_length=16, choices=FetchState.choices)
    job_id = models.CharField(max_length=64, blank=True)
    content_hash = models.CharField(max_length=32, blank=True)
    requested_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    wanted_at = models.DateTimeField(null=True, blank=True, help_text="Asked for ahead of the queue (a review).")

    class Meta:
        indexes = [models.Index(fields=["state", "completed_at"], name="signals_fetch_state")]

    def __str__(self) -> str:
        return f"last accessed of {self.principal_id}: {self.state}"


class ServiceLastAccessed(models.Model):
    """One service a principal's policies allow, and when the principal last used it (None: not
    within AWS's tracking period, about 400 days)."""

    principal = models.ForeignKey("inventory.Principal", on_delete=models.CASCADE, related_name="+", db_index=False)
    namespace = models.CharField(max_length=64)
    service_name = models.CharField(max_length=256)
    last_authenticated = models.DateTimeField(null=True, blank=True)
    entity = models.CharField(max_length=2048, blank=True)
    region = models.CharField(max_length=32, blank=True)
    total_entities = models.PositiveIntegerField(default=0)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["principal", "namespace"]
        constraints = [models.UniqueConstraint(fields=["principal", "namespace"], name="signals_service_last_accessed")]

    def __str__(self) -> str:
        return f"{self.namespace} for {self.principal_id}"


class Compliance(models.TextChoices):
    COMPLIANT = "COMPLIANT", "Compliant"
    NON_COMPLIANT = "NON_COMPLIANT", "Non-compliant"
    NOT_APPLICABLE = "NOT_APPLICABLE", "Not applicable"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA", "Insufficient data"


class ConfigRuleCompliance(models.Model):
    """One IAM-related AWS Config rule in one account and how it stands; replaced by each read."""

    account = models.ForeignKey("inventory.Account", on_delete=models.CASCADE, related_name="+", db_index=False)
    rule_name = models.CharField(max_length=128)
    rule_arn = models.CharField(max_length=256, blank=True)
    identifier = models.CharField(max_length=256, blank=True)
    owner = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    resource_types = models.JSONField(default=list, blank=True)
    compliance = models.CharField(max_length=24, choices=Compliance.choices)
    non_compliant = models.PositiveIntegerField(null=True, blank=True)
    capped = models.BooleanField(default=False)
    conformance_pack = models.CharField(max_length=256, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["account", "rule_name"]
        constraints = [models.UniqueConstraint(fields=["account", "rule_name"], name="signals_config_rule")]
        indexes = [models.Index(fields=["compliance", "account"], name="signals_config_compliance")]

    def __str__(self) -> str:
        return f"{self.rule_name}: {self.compliance}"


class PolicyValidation(models.Model):
    """IAM Access Analyzer's ValidatePolicy answer for one document text, kept so the same text
    (the editor re-checks as one types; a policy page is opened again) costs AWS one call a day."""

    key = models.CharField(max_length=64, unique=True, help_text="sha256 of the policy type and the text.")
    policy_type = models.CharField(max_length=32)
    findings = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.policy_type} {self.key[:12]}"
