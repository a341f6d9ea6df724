"""Just-in-time access: who may ask for what, the requests, their approvals and the grants in AWS.

An `EligibilityPolicy` (admin-managed) says which permission sets on which accounts (named, or every
account under an OU) the members of one Identity Center group may request, for how long at most, how
many distinct approvers must agree and who they are (an Identity Center group, or the account's
`owner` tag), which requests approve themselves, and whether it is break-glass (self-approved with a
justification, everyone told at once, reviewed afterwards).

An `AccessRequest` is one ask: new access, or an extension of a running grant (which needs approval
again). Its `Approval` rows are the decisions, one per person (a unique constraint, so a second
click by the same person counts once). When enough distinct people approve, exactly one `Grant` is
created (a one-to-one on the request, so a double-clicked approval grants once).

A `Grant` is the Identity Center account assignment the portal creates and deletes. Its states
follow what AWS holds: scheduled (approved, not started) → provisioning → active → revoking → ended,
or failed when AWS kept refusing. `grantor` is the administrator whose own AWS permissions back the
writes (the writer gate evaluates them); CloudTrail names that person through SourceIdentity.
`AssignmentSlot` rows bound how many assignment operations are outstanding in AWS at once.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

MAX_APPROVALS = 10
# AWS allows ten account assignment operations in progress per Identity Center instance.
MAX_OUTSTANDING_OPERATIONS = 10


class ApproverSource(models.TextChoices):
    GROUP = "group", "Members of an Identity Center group"
    ACCOUNT_OWNER = "owner", "The account's owner (its `owner` tag)"


class EligibilityPolicyQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True)


class EligibilityPolicy(models.Model):
    """What may be requested, by whom, for how long, approved by whom."""

    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    permission_sets = models.ManyToManyField(
        "inventory.PermissionSet", related_name="+", help_text="The permission sets that may be requested."
    )
    accounts = models.ManyToManyField(
        "inventory.Account", blank=True, related_name="+", help_text="Accounts named one by one."
    )
    units = models.ManyToManyField(
        "inventory.OrganizationalUnit",
        blank=True,
        related_name="+",
        help_text="Every account under these OUs (their whole subtree) as well.",
    )
    requester_group = models.ForeignKey(
        "inventory.Principal",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The Identity Center group whose members may request.",
    )
    max_duration_minutes = models.PositiveIntegerField(
        default=240, validators=[MinValueValidator(5), MaxValueValidator(60 * 24 * 7)]
    )
    approvals_required = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_APPROVALS)]
    )
    approver_source = models.CharField(max_length=8, choices=ApproverSource.choices, default=ApproverSource.GROUP)
    approver_group = models.ForeignKey(
        "inventory.Principal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="With approvers from a group: the Identity Center group.",
    )
    auto_approve_permission_sets = models.ManyToManyField(
        "inventory.PermissionSet",
        blank=True,
        related_name="+",
        help_text="Requests for these sets approve themselves (e.g. read-only sets) ...",
    )
    auto_approve_except_units = models.ManyToManyField(
        "inventory.OrganizationalUnit",
        blank=True,
        related_name="+",
        help_text="... except on accounts under these OUs (e.g. production).",
    )
    break_glass = models.BooleanField(
        default=False,
        help_text="Self-approved with a justification; everyone is told at once and a review follows.",
    )
    grantor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The administrator whose own AWS permissions back this policy's grants.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EligibilityPolicyQuerySet.as_manager()

    class Meta:
        db_table = "jit_eligibility_policy"
        ordering = ["name"]
        verbose_name_plural = "eligibility policies"

    def __str__(self) -> str:
        return self.name

    @property
    def max_duration(self) -> timedelta:
        return timedelta(minutes=self.max_duration_minutes)


class RequestKind(models.TextChoices):
    NEW = "new", "New access"
    EXTENSION = "extension", "Extension"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CANCELLED = "cancelled", "Cancelled"
    LAPSED = "lapsed", "Lapsed (nobody decided in time)"


class AccessRequestQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=RequestStatus.PENDING)


class AccessRequest(models.Model):
    """One ask for access, or for more time on a running grant."""

    kind = models.CharField(max_length=16, choices=RequestKind.choices, default=RequestKind.NEW)
    policy = models.ForeignKey(EligibilityPolicy, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jit_requests")
    requester_name = models.CharField(max_length=256, help_text="Copied: the portal user's name at the time.")
    principal = models.ForeignKey(
        "inventory.Principal",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The requester's Identity Center user (the assignment's principal).",
    )
    account = models.ForeignKey("inventory.Account", on_delete=models.PROTECT, related_name="+")
    permission_set = models.ForeignKey("inventory.PermissionSet", on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveIntegerField()
    justification = models.TextField()
    ticket = models.CharField(max_length=128, blank=True)
    extends = models.ForeignKey("Grant", on_delete=models.PROTECT, null=True, blank=True, related_name="extensions")
    approvals_required = models.PositiveSmallIntegerField(help_text="Copied from the policy when asked.")
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    auto_approved = models.BooleanField(default=False)
    break_glass = models.BooleanField(default=False)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    objects = AccessRequestQuerySet.as_manager()

    class Meta:
        db_table = "jit_request"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at", "-id"], name="jit_request_requester"),
            models.Index(fields=["status", "-created_at", "-id"], name="jit_request_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.permission_set_id} on {self.account_id} for {self.requester_name}"

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def ends_at(self):
        return self.starts_at + self.duration


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    DENY = "deny", "Deny"


class Approval(models.Model):
    """One person's decision on one request; a person decides a request once."""

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approver_name = models.CharField(max_length=256)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "jit_approval"
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "approver"], name="jit_approval_once_per_person")]

    def __str__(self) -> str:
        return f"{self.approver_name} {self.decision} #{self.request_id}"


class GrantStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    PROVISIONING = "provisioning", "Being granted in AWS"
    ACTIVE = "active", "Active"
    REVOKING = "revoking", "Being revoked in AWS"
    ENDED = "ended", "Ended"
    FAILED = "failed", "Failed"


LIVE_STATUSES = (GrantStatus.SCHEDULED, GrantStatus.PROVISIONING, GrantStatus.ACTIVE, GrantStatus.REVOKING)


class EndReason(models.TextChoices):
    EXPIRED = "expired", "Expired"
    ENDED_EARLY = "ended_early", "Ended early"
    REMOVED_OUT_OF_BAND = "removed", "Removed outside the portal"
    NEVER_GRANTED = "never_granted", "Never granted"


class GrantQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status__in=LIVE_STATUSES)

    def due(self, now):
        """Active (or still being granted) grants whose time is up."""
        return self.filter(
            status__in=[GrantStatus.ACTIVE, GrantStatus.PROVISIONING, GrantStatus.SCHEDULED], ends_at__lte=now
        )


class Grant(models.Model):
    """A time-bound Identity Center account assignment the portal creates and deletes."""

    request = models.OneToOneField(AccessRequest, on_delete=models.PROTECT, related_name="grant")
    policy = models.ForeignKey(EligibilityPolicy, on_delete=models.PROTECT, related_name="grants")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jit_grants")
    principal = models.ForeignKey("inventory.Principal", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("inventory.Account", on_delete=models.PROTECT, related_name="+")
    permission_set = models.ForeignKey("inventory.PermissionSet", on_delete=models.PROTECT, related_name="+")
    grantor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=GrantStatus.choices, default=GrantStatus.SCHEDULED)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    approved_at = models.DateTimeField()
    provisioned_at = models.DateTimeField(null=True, blank=True)
    revoke_due_at = models.DateTimeField(null=True, blank=True, help_text="When the revocation was asked for.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    ended_by_name = models.CharField(max_length=256, blank=True)
    revoke_as = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="An administrator who ended the grant: the revocation runs with their AWS permissions.",
    )
    standing = models.BooleanField(
        default=False,
        help_text="The assignment already existed in AWS when the grant started: it is left in place at the end.",
    )
    creation_request_id = models.CharField(max_length=64, blank=True)
    deletion_request_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    drift = models.CharField(max_length=256, blank=True, help_text="What the last sync saw that the portal did not do.")
    drift_seen_at = models.DateTimeField(null=True, blank=True)
    sync_confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a sync last found AWS as the grant says (present while active, gone after).",
    )
    created_at = models.DateTimeField()

    objects = GrantQuerySet.as_manager()

    class Meta:
        db_table = "jit_grant"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "ends_at"], name="jit_grant_status_ends"),
            models.Index(fields=["requester", "-created_at", "-id"], name="jit_grant_requester"),
            models.Index(fields=["-created_at", "-id"], name="jit_grant_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="jit_grant_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"grant #{self.pk} ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class SlotOperation(models.TextChoices):
    CREATE = "create", "CreateAccountAssignment"
    DELETE = "delete", "DeleteAccountAssignment"


class AssignmentSlot(models.Model):
    """One of the (at most ten) account assignment operations that may be in progress in AWS.

    A task claims a free slot with one conditional UPDATE before it calls AWS. As soon as AWS accepts
    an operation the slot records it (`operation`, `request_id`, `instance_arn`), and from then on
    the slot is held until AWS reports that operation SUCCEEDED or FAILED: a wait that timed out
    leaves it parked (no task on it, `claimed_at` empty), and so does a task that died. Only a slot
    with no operation recorded comes free when its holder lets go or its lease runs out.
    """

    number = models.PositiveSmallIntegerField(unique=True)
    # One slot per grant at most: a grant holding a fresh slot is being worked on, so a second task
    # for it (delivery is at least once) leaves it alone.
    grant = models.OneToOneField(Grant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a task took it; empty while parked.")
    operation = models.CharField(max_length=8, choices=SlotOperation.choices, blank=True)
    request_id = models.CharField(
        max_length=64, blank=True, help_text="The operation AWS holds; the slot is busy until its status is final."
    )
    instance_arn = models.CharField(max_length=256, blank=True)

    class Meta:
        db_table = "jit_assignment_slot"
        ordering = ["number"]

    def __str__(self) -> str:
        return f"slot {self.number}"
