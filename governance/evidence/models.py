"""Evidence packages the portal generated and keeps: what, when, by whom, where, and their hashes."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Storage(models.TextChoices):
    LOCAL = "local", "Local disk"
    S3 = "s3", "S3 (Object Lock)"


class PackageStatus(models.TextChoices):
    WRITING = "writing", "Being written"
    STORED = "stored", "Stored"
    FAILED = "failed", "Failed"


class EvidencePackageQuerySet(models.QuerySet):
    def stored(self) -> EvidencePackageQuerySet:
        return self.filter(status=PackageStatus.STORED)

    def for_subject(self, subject_type: str, subject_id: str) -> EvidencePackageQuerySet:
        return self.filter(subject_type=subject_type, subject_id=str(subject_id))


class EvidencePackage(models.Model):
    """One generated package. Rows are written by `services.generate_package` only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_type = models.CharField(max_length=100)  # e.g. "reviews.campaign"
    subject_id = models.CharField(max_length=100)
    subject_repr = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=PackageStatus.choices, default=PackageStatus.WRITING)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=150)
    key_id = models.CharField(max_length=64)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(default=0)
    files = models.JSONField(default=list, blank=True)  # [{"path", "sha256", "size"}]
    storage = models.CharField(max_length=10, choices=Storage.choices)
    location = models.CharField(max_length=1024, blank=True)  # a path under EVIDENCE_DIR, or s3://bucket/key
    version_id = models.CharField(max_length=1024, blank=True)  # S3 object version
    retain_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = EvidencePackageQuerySet.as_manager()

    class Meta:
        db_table = "evidence_package"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "-created_at"], name="evidence_subject_idx"),
            models.Index(fields=["-created_at", "-id"], name="evidence_created_idx"),
        ]

    def __str__(self) -> str:
        return f"evidence {self.id} of {self.subject_repr}"

    @property
    def filename(self) -> str:
        stamp = self.created_at.strftime("%Y%m%dT%H%M%SZ")
        return f"evidence-{self.subject_type.split('.')[-1]}-{self.subject_id}-{stamp}.zip"
