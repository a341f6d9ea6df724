"""One row per message to deliver: what was said, to whom, on which channel, and how it went.

Rows are rendered when queued (so a later template change does not alter what was sent) and
delivered by a task; `dedupe_key` makes a repeated `notify()` (a retried task, a reminder cycle
that runs twice) queue nothing twice.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    GAVE_UP = "gave_up", "Failed (gave up)"


class NotificationQuerySet(models.QuerySet):
    def due(self, now):
        """Pending, or failed and past its back-off."""
        return self.filter(
            models.Q(status=DeliveryStatus.PENDING) | models.Q(status=DeliveryStatus.FAILED, next_attempt_at__lte=now)
        )


class Notification(models.Model):
    event = models.CharField(max_length=64, help_text="What happened, e.g. reviews.campaign_launched.")
    channel = models.CharField(max_length=32)
    recipient = models.CharField(max_length=320, help_text="An e-mail address, or a channel's target name.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    subject = models.CharField(max_length=255)
    body = models.TextField()
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    dedupe_key = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        db_table = "notify_notification"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "recipient", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notify_notification_dedupe",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notify_notification_due"),
            models.Index(fields=["event", "-created_at"], name="notify_notification_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient} ({self.channel})"
