"""Access review campaigns: templates, campaigns, their frozen review items, sign-offs.

A campaign is launched from a template for one period (`2026-Q4`); launching copies every
entitlement in scope into `ReviewItem` rows in one INSERT .. SELECT (services.launch), with
the risk context and a recommendation, so what reviewers decide on is what the inventory held
at launch, whatever the next sync brings. Items are decided keep or revoke; revokes become
remediations; a reviewer's sign-off locks their decisions.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class ItemKind(models.TextChoices):
    USER_POLICY = "user_policy", "IAM user policy"
    GROUP_MEMBERSHIP = "group_membership", "IAM group membership"
    ROLE_POLICY = "role_policy", "IAM role policy"
    ROLE_TRUST = "role_trust", "IAM role trust"
    ACCESS_KEY = "access_key", "Access key"
    SSO_ASSIGNMENT = "sso_assignment", "Identity Center assignment"


class ReviewerRule(models.TextChoices):
    MANAGER = "manager", "The person's manager (Identity Center)"
    ACCOUNT_OWNER = "account_owner", "The account's owner tag"
    PRINCIPAL_OWNER = "principal_owner", "The principal's owner tag"
    NAMED = "named", "A named reviewer"
    FALLBACK = "fallback", "The fallback reviewer"


class CloseAction(models.TextChoices):
    KEEP_AND_FLAG = "keep_flag", "Keep and flag"
    REVOKE = "revoke", "Revoke"


class RemediationMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    APPROVAL = "approval", "After an administrator's approval"
    MANUAL = "manual", "Manual, with a ticket reference"


class TriggerKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (recurring campaigns)"
    EVENT = "event", "After a sync, for new entitlements that match the filter"


class TriggerFilter(models.TextChoices):
    ANY = "any", "Any new entitlement"
    ADMIN = "admin", "Grants administrator power"
    EXTERNAL_TRUST = "external_trust", "Trust outside the organization"


def default_kinds() -> list[str]:
    return list(ItemKind.values)


def default_rules() -> list[str]:
    return [ReviewerRule.MANAGER, ReviewerRule.ACCOUNT_OWNER, ReviewerRule.PRINCIPAL_OWNER]


DEFAULT_ATTESTATION = (
    "I have reviewed every item assigned to me. The access I kept is needed for the person's or "
    "the workload's current duties; the access I revoked is not."
)


class CampaignTemplate(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    scope_ou_ids = models.JSONField(
        default=list, blank=True, help_text="OU ids (their subtrees); empty: the whole org."
    )
    scope_account_ids = models.JSONField(default=list, blank=True, help_text="Account ids, added to the OUs' accounts.")
    kinds = models.JSONField(default=default_kinds, help_text="Kinds of entitlement to review.")
    reviewer_rules = models.JSONField(default=default_rules, help_text="Reviewer rules in order of preference.")
    named_reviewer = models.EmailField(blank=True, help_text="The reviewer the `named` rule names.")
    fallback_reviewer = models.EmailField(help_text="Gets what no rule routes, and every self-review.")
    due_days = models.PositiveSmallIntegerField(default=14)
    reminder_every_days = models.PositiveSmallIntegerField(default=3)
    escalate_after_days = models.PositiveSmallIntegerField(default=10, help_text="Undecided items go to the fallback.")
    close_action = models.CharField(max_length=16, choices=CloseAction.choices, default=CloseAction.KEEP_AND_FLAG)
    remediation_mode = models.CharField(
        max_length=16, choices=RemediationMode.choices, default=RemediationMode.APPROVAL
    )
    recurrence_cron = models.CharField(max_length=64, default="0 6 1 1,4,7,10 *", help_text="Quarterly by default.")
    trigger = models.CharField(max_length=16, choices=TriggerKind.choices, default=TriggerKind.SCHEDULED)
    trigger_filter = models.CharField(max_length=16, choices=TriggerFilter.choices, default=TriggerFilter.ANY)
    attestation = models.TextField(default=DEFAULT_ATTESTATION)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "reviews_template"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from croniter import croniter

        if self.trigger == TriggerKind.SCHEDULED and not croniter.is_valid(self.recurrence_cron or ""):
            raise ValidationError(
                {"recurrence_cron": "Not a cron expression (five fields: minute hour day month weekday)."}
            )


class CampaignStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Campaign(models.Model):
    template = models.ForeignKey(CampaignTemplate, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=160)
    period = models.CharField(max_length=64, help_text="2026-Q4, or a trigger's sync run for event reviews.")
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.OPEN)
    launched_at = models.DateTimeField()
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    sync_run_id = models.BigIntegerField(null=True, blank=True, help_text="The sync the snapshot was taken from.")
    manifest = models.JSONField(default=dict, blank=True, help_text="The population manifest (scope, counts).")
    attestation = models.TextField()
    close_action = models.CharField(max_length=16, choices=CloseAction.choices)
    remediation_mode = models.CharField(max_length=16, choices=RemediationMode.choices)
    remediation_approved_at = models.DateTimeField(null=True, blank=True)
    remediation_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    item_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "reviews_campaign"
        ordering = ["-launched_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["template", "period"], name="reviews_campaign_period")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == CampaignStatus.OPEN


class Risk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Recommendation(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
    REVIEW = "review", "Review"


class Decision(models.TextChoices):
    NONE = "", "Undecided"
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"


class RemediationStatus(models.TextChoices):
    NONE = "", "None"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    PENDING = "pending", "Pending"
    DONE = "done", "Done in AWS"
    FAILED = "failed", "Failed (will retry)"
    MANUAL = "manual", "Manual (ticket)"
    VERIFIED = "verified", "Verified by sync"


# What a locked item (signed off, or closed with its campaign) may still change: its remediation, and
# its decider, whom deleting that user sets to NULL. On PostgreSQL the database refuses any other
# change (migration 0008); items.jsonl's stored heads (ItemHead) rely on that.
CHANGES_WHEN_LOCKED = (
    "decided_by_id", "remediation_status", "remediation_request_id", "remediation_error",
    "remediation_attempts", "remediation_next_at", "remediation_ticket", "remediated_at", "verified_at",
)  # fmt: skip


class ReviewItem(models.Model):
    """One entitlement as it stood at launch, its reviewer, recommendation and decision.

    Copies (names, ARNs, account id) rather than only foreign keys: the snapshot must read the
    same after the inventory has moved on. `source_id` is the inventory row it was taken from
    (an Entitlement, GroupMembership, AccessKey, Principal for trust, or AccountAssignment).
    `version` grows with every decision, so two reviewers deciding one item at once cannot both
    win: the second is told and decides again on what the first left.
    """

    # On PostgreSQL the table is partitioned by campaign (migration 0007): a full launch loads its
    # items into a bare table and attaches it as the campaign's partition, which checks this
    # foreign key in one query rather than once per row (see governance/reviews/partitions.py). No
    # index of its own: the inbox index leads with the campaign.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items", db_index=False)
    kind = models.CharField(max_length=24, choices=ItemKind.choices)
    source_id = models.BigIntegerField()
    # No index: nothing looks items up by account row (the inbox and the report go by
    # aws_account_id), and every index is paid for on each of a launch's million inserts.
    account = models.ForeignKey(
        "inventory.Account", on_delete=models.DO_NOTHING, null=True, db_constraint=False, db_index=False
    )
    aws_account_id = models.CharField(max_length=12, blank=True)
    account_name = models.CharField(max_length=256, blank=True)
    principal = models.ForeignKey(
        "inventory.Principal", on_delete=models.DO_NOTHING, null=True, db_constraint=False, related_name="+"
    )
    principal_arn = models.CharField(max_length=2048)
    principal_name = models.CharField(max_length=256)
    principal_kind = models.CharField(max_length=16)
    principal_email = models.CharField(max_length=320, blank=True)
    target_name = models.CharField(max_length=256, help_text="Policy, group, key or permission set.")
    target_arn = models.CharField(max_length=2048, blank=True)
    via = models.CharField(max_length=32, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    mfa_enabled = models.BooleanField(null=True)
    key_created = models.DateTimeField(null=True, blank=True)
    open_findings = models.PositiveIntegerField(default=0)
    admin_access = models.CharField(max_length=8, blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="What registered providers add (JIT, AWS hints).")
    risk = models.CharField(max_length=8, choices=Risk.choices, default=Risk.LOW)
    recommendation = models.CharField(max_length=8, choices=Recommendation.choices, default=Recommendation.REVIEW)
    recommendation_reason = models.CharField(max_length=300, blank=True)
    reviewer_email = models.CharField(max_length=320)
    routed_by = models.CharField(max_length=16, choices=ReviewerRule.choices)
    self_review_rerouted = models.BooleanField(default=False)
    delegated_from = models.CharField(max_length=320, blank=True)
    delegation_reason = models.TextField(blank=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True, default=Decision.NONE)
    justification = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_in_bulk = models.BooleanField(default=False)
    defaulted_at_close = models.BooleanField(default=False)
    flagged = models.BooleanField(default=False, help_text="Kept at close without a decision.")
    locked = models.BooleanField(default=False, help_text="Signed off: no more changes.")
    version = models.PositiveIntegerField(default=0)
    remediation_status = models.CharField(
        max_length=20, choices=RemediationStatus.choices, blank=True, default=RemediationStatus.NONE
    )
    remediation_request_id = models.CharField(max_length=128, blank=True)
    remediation_error = models.TextField(blank=True)
    remediation_attempts = models.PositiveSmallIntegerField(default=0)
    remediation_next_at = models.DateTimeField(null=True, blank=True)
    remediation_ticket = models.CharField(max_length=128, blank=True)
    remediated_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "reviews_item"
        indexes = [
            # The inbox: one reviewer's items in one campaign, grouped by account and principal;
            # with the decision included, the progress bar's counts never read the table. It also
            # serves everything that reads a whole campaign (its leading column). No index by
            # (campaign, account, kind): the report and the manifest read every item of the
            # campaign anyway, and that index cost a million-item launch about half its time.
            models.Index(
                fields=["campaign", "reviewer_email", "aws_account_id", "principal_name", "id"],
                include=["decision"],
                name="reviews_item_inbox",
            ),
            # For deleting a user (SET_NULL); partial, so a launch's undecided items skip it.
            models.Index(fields=["decided_by"], name="reviews_item_decided_by", condition=~models.Q(decided_by=None)),
            models.Index(
                fields=["remediation_status", "remediation_next_at"],
                name="reviews_item_remediation",
                condition=~models.Q(remediation_status=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principal_name} — {self.target_name}"

    @property
    def is_decided(self) -> bool:
        return bool(self.decision)

    @property
    def needs_justification_to_keep(self) -> bool:
        return self.risk == Risk.HIGH


class SignOff(models.Model):
    """A reviewer's attestation: the statement they signed, when, and how many decisions it locked."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="signoffs")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewer_email = models.CharField(max_length=320)
    statement = models.TextField()
    signed_at = models.DateTimeField()
    items = models.PositiveIntegerField()
    mfa_methods = models.JSONField(default=list)

    class Meta:
        db_table = "reviews_signoff"
        constraints = [models.UniqueConstraint(fields=["campaign", "reviewer_email"], name="reviews_signoff_once")]

    def __str__(self) -> str:
        return f"{self.reviewer_email} signed {self.campaign}"


class CampaignCoverage(models.Model):
    """What a closed campaign reviewed of one AWS account: its items there and how many of them were
    left undecided, counted once when the campaign closed (services.close_campaign, in the close's
    transaction; migration 0009 for the campaigns closed before).

    The compliance pages read this, never the items: a campaign has up to millions of them, and a
    closed campaign's decisions cannot change any more (the services refuse, and on PostgreSQL the
    database too, migration 0008; remediation changes no decision), so the counts stay true. The
    rows are never changed or deleted: on PostgreSQL the database refuses that as well (0009).
    """

    # No index of its own: the unique constraint's leads with the campaign, and the pages find the
    # few recently closed campaigns first.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="coverage", db_index=False)
    aws_account_id = models.CharField(max_length=12)
    items = models.PositiveIntegerField()
    undecided = models.PositiveIntegerField()

    class Meta:
        db_table = "reviews_coverage"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "aws_account_id"], name="reviews_coverage_account_once")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} — {self.aws_account_id}"


class ItemHead(models.Model):
    """A closed campaign's item as items.jsonl writes it, up to the keys that can still change
    (CHANGES_WHEN_LOCKED and what explains them: the decider's e-mail, the remediation action),
    written once when the campaign closes (services.close_campaign, on PostgreSQL:
    evidence.write_heads). An export streams the stored head and writes only the rest of the line:
    on a million items that is most of PostgreSQL's work. A locked item's other fields cannot
    change (the database refuses, 0008), so the head stays what the item says; an item without a
    head (a campaign closed before 0010) has its whole line written from its fields, to the same
    bytes. Never changed or deleted: on PostgreSQL the database refuses that, and a head for a
    campaign that is not closed (0010).
    """

    item_id = models.BigIntegerField(primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    head = models.TextField()

    class Meta:
        db_table = "reviews_item_head"

    def __str__(self) -> str:
        return f"head of item {self.item_id}"
