"""Packages made on their own: an audit event that ends a subject queues its package (django-q2).

`AUTO` maps the action of the closing audit event to the evidence source kind; the event's object
id is the subject id. The event is recorded inside the closing transaction, so the task is queued
on commit (a rolled-back close queues nothing). `generate` is idempotent: a subject that already
has a stored system-made package gets no second one, so closing twice, or a task delivered twice,
makes one package.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django_q.tasks import async_task

from governance.audit.models import AuditEvent
from governance.evidence import services, sources
from governance.evidence.models import EvidencePackage, PackageStatus

logger = logging.getLogger(__name__)

AUTO = {"reviews.campaign_closed": "campaign"}
TASK_PREFIX = "evidence-"


def task_name(kind: str, subject_id: str) -> str:
    return f"{TASK_PREFIX}{kind}-{subject_id}"


def queue(kind: str, subject_id: str) -> None:
    async_task("governance.evidence.tasks.generate", kind, str(subject_id), task_name=task_name(kind, subject_id))


def existing(source: sources.Source) -> EvidencePackage | None:
    return EvidencePackage.objects.filter(
        subject_type=source.subject_type,
        subject_id=source.subject_id,
        status=PackageStatus.STORED,
        created_by__isnull=True,
        created_by_name=services.SYSTEM,
    ).first()


def generate(kind: str, subject_id: str) -> str:
    """Make the subject's package unless a system-made one is stored already; returns its id."""
    source = sources.build(kind, subject_id)
    done = existing(source)
    if done is not None:
        return str(done.pk)
    package = services.generate_from_source(source)
    logger.info("evidence package %s generated for %s %s", package.pk, kind, subject_id)
    return str(package.pk)


def _on_event(sender, instance: AuditEvent, created: bool, **kwargs) -> None:
    kind = AUTO.get(instance.action)
    if created and kind is not None:
        subject_id = instance.object_id
        transaction.on_commit(lambda: queue(kind, subject_id), using=kwargs.get("using") or "default")


def connect() -> None:
    post_save.connect(_on_event, sender=AuditEvent, dispatch_uid="evidence-auto-package")
