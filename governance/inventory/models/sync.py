"""Sync runs: one row per run and one per account, updated as accounts finish (pages poll them)."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"


class AccountSyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SyncTrigger(models.TextChoices):
    MANUAL = "manual", "Command line"
    SCHEDULE = "schedule", "Schedule"
    PORTAL = "portal", "Portal"


# A running run's worker stamps `heartbeat_at` every HEARTBEAT_SECONDS; one silent for DEAD_AFTER
# died (killed, out of memory, machine lost) and no longer blocks the next sync.
HEARTBEAT_SECONDS = 30
DEAD_AFTER = timedelta(minutes=3)
DEAD_ERROR = "Interrupted: its worker stopped (no heartbeat for more than 3 minutes)."


class SyncRunQuerySet(models.QuerySet):
    def dead(self, now=None):
        """Runs still marked running whose worker has stopped beating."""
        cutoff = (now or timezone.now()) - DEAD_AFTER
        return self.filter(status=SyncStatus.RUNNING).filter(
            models.Q(heartbeat_at__lt=cutoff) | models.Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        )

    def fail_dead(self, now=None) -> int:
        now = now or timezone.now()
        return self.dead(now).update(
            status=SyncStatus.FAILED, finished_at=now, errors=[{"scope": "run", "error": DEAD_ERROR}]
        )


class SyncRun(models.Model):
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    trigger = models.CharField(max_length=16, choices=SyncTrigger.choices, default=SyncTrigger.MANUAL)
    only_account_id = models.CharField(max_length=12, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    accounts_failed = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    changes = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Organization-level and per-account errors.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of a running run.")

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        db_table = "inventory_sync_run"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at", "-id"], name="inventory_syncrun_started")]
        constraints = [
            # At most one running run, whoever starts it and however many workers race to.
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="running"), name="inventory_sync_one_running"
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status == SyncStatus.RUNNING


class SyncAccountRun(models.Model):
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="account_runs")
    aws_account_id = models.CharField(max_length=12)
    account = models.ForeignKey(
        "inventory.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="sync_runs"
    )
    status = models.CharField(max_length=16, choices=AccountSyncStatus.choices, default=AccountSyncStatus.PENDING)
    error = models.TextField(blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    changes = models.PositiveIntegerField(default=0)
    credential_report_generated_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "inventory_sync_account_run"
        ordering = ["run", "aws_account_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "aws_account_id"], name="inventory_sync_account_unique"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="inventory_syncacct_account")]

    def __str__(self) -> str:
        return f"{self.aws_account_id} in sync {self.run_id} ({self.status})"
