"""Change requests for organization policies (SCPs and RCPs) and the versions they applied."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PolicyType(models.TextChoices):
    SCP = "scp", "Service control policy"
    RCP = "rcp", "Resource control policy"

    @property
    def aws_filter(self) -> str:
        return "SERVICE_CONTROL_POLICY" if self == PolicyType.SCP else "RESOURCE_CONTROL_POLICY"


class ChangeKind(models.TextChoices):
    CREATE = "create", "Create a policy"
    UPDATE = "update", "Change a policy"
    DELETE = "delete", "Delete a policy"
    ATTACH = "attach", "Attach a policy"
    DETACH = "detach", "Detach a policy"
    ADOPT = "adopt", "Adopt what AWS holds as the approved version"


class ChangeStatus(models.TextChoices):
    PENDING = "pending", "Awaiting approval"
    APPROVED = "approved", "Approved, not applied"
    APPLYING = "applying", "Being applied"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Apply failed (retryable)"
    STALE = "stale", "Changed in AWS meanwhile: rebase"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Withdrawn"


OPEN_STATUSES = (ChangeStatus.PENDING, ChangeStatus.APPROVED, ChangeStatus.FAILED, ChangeStatus.STALE)


class ImpactStatus(models.TextChoices):
    NONE = "", "Not started"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ChangeRequestQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)


class ChangeRequest(models.Model):
    """One proposed create, update, delete, attach, detach or adoption of an SCP or RCP.

    `base_document`/`base_hash` are what AWS held (as last synced) when the request was written; at
    approval and at apply the portal reads the policy from AWS again, and a different document makes
    the request STALE until its author rebases it. `document` is the proposal (create, update, adopt).
    """

    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    policy_type = models.CharField(max_length=8, choices=PolicyType.choices, default=PolicyType.SCP)
    status = models.CharField(max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.PENDING)
    policy = models.ForeignKey(
        "inventory.Policy", on_delete=models.PROTECT, null=True, blank=True, related_name="change_requests"
    )
    aws_policy_id = models.CharField(max_length=130, blank=True)
    name = models.CharField(max_length=128)
    description = models.CharField(max_length=512, blank=True)
    document = models.JSONField(null=True, blank=True)
    document_text = models.TextField(blank=True, help_text="The proposal as typed (what AWS will receive).")
    base_document = models.JSONField(null=True, blank=True)
    base_hash = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=68, blank=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_name = models.CharField(max_length=256, blank=True)
    rollback_to = models.ForeignKey(
        "scp.PolicyRevision", on_delete=models.PROTECT, null=True, blank=True, related_name="rollbacks"
    )
    reason = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=256)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_note = models.TextField(blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    aws_request_id = models.CharField(max_length=128, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    impact_status = models.CharField(max_length=16, choices=ImpactStatus.choices, blank=True, default="")
    impact_done = models.PositiveIntegerField(default=0)
    impact_total = models.PositiveIntegerField(default=0)
    impact = models.JSONField(null=True, blank=True)
    impact_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        db_table = "scp_change_request"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "id"], name="scp_change_status"),
            models.Index(fields=["aws_policy_id", "id"], name="scp_change_policy"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display().lower()} {self.name}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class RevisionSource(models.TextChoices):
    APPLIED = "applied", "Applied by a change request"
    ADOPTED = "adopted", "Adopted from AWS by a change request"


class PolicyRevision(models.Model):
    """A version the portal approved: written when a change request is applied (or AWS's is adopted).

    Synced versions are the inventory's `PolicyVersion` rows; the last revision of a policy is what
    drift compares AWS with (governance/findings/rules/scp_drift.py).
    """

    aws_policy_id = models.CharField(max_length=130)
    policy_type = models.CharField(max_length=8, choices=PolicyType.choices, default=PolicyType.SCP)
    name = models.CharField(max_length=128)
    document = models.JSONField(null=True, blank=True)
    document_hash = models.CharField(max_length=64, blank=True)
    deleted = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=RevisionSource.choices, default=RevisionSource.APPLIED)
    change = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="revisions")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "scp_policy_revision"
        ordering = ["-id"]
        indexes = [models.Index(fields=["aws_policy_id", "-id"], name="scp_revision_policy")]

    def __str__(self) -> str:
        return f"{self.name} revision {self.pk}"
