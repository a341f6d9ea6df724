"""Generating evidence packages: stream, store, record; the one way a package comes to exist."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.audit.services import record
from governance.evidence import store
from governance.evidence.models import EvidencePackage, PackageStatus, Storage
from governance.evidence.package import PackageFile, PackageResult, stream_package
from governance.evidence.sources import Source

SYSTEM = "system"  # created_by_name of a package no person asked for (a command, a closing campaign)


def generate_from_source(source: Source, *, actor=None, request=None) -> EvidencePackage:
    """`generate_package` for a registered source (see `sources.build`)."""
    return generate_package(
        subject_type=source.subject_type,
        subject_id=source.subject_id,
        subject_repr=source.subject_repr,
        subject=source.subject,
        files=source.files,
        actor=actor,
        request=request,
    )


def generate_package(
    *,
    subject_type: str,
    subject_id: str | int,
    subject_repr: str,
    subject: dict[str, Any],
    files: Iterable[PackageFile],
    actor,
    request=None,
) -> EvidencePackage:
    """Stream the package to the store, then record it (and its audit event) in one transaction.

    The zip goes to EVIDENCE_DIR as it is produced (memory stays flat however many rows), and on to
    S3 under Object Lock when a bucket is configured. If anything fails, nothing is recorded and
    the partial file is removed.
    """
    result = PackageResult()
    now = timezone.now()
    package_id = str(uuid.uuid4())
    try:
        with store.open_local_for_writing(package_id) as out:
            for chunk in stream_package(files, subject=subject, result=result, package_id=package_id, generated_at=now):
                out.write(chunk)
        store.seal_local(package_id)
        storage, location, version, until = Storage.LOCAL, f"{package_id}.zip", "", None
        if store.s3_bucket():
            until = store.retain_until(now)
            location, version = store.upload(package_id, result.sha256, until)
            storage = Storage.S3
            store.discard_local(package_id)
    except BaseException:
        store.discard_local(package_id)
        raise

    with transaction.atomic():
        package = EvidencePackage.objects.create(
            id=package_id,
            subject_type=subject_type,
            subject_id=str(subject_id),
            subject_repr=subject_repr[:200],
            status=PackageStatus.STORED,
            created_at=now,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            created_by_name=actor.get_username() if getattr(actor, "is_authenticated", False) else SYSTEM,
            key_id=result.key_id,
            manifest_sha256=result.manifest_sha256,
            sha256=result.sha256,
            size=result.size,
            files=[{"path": f.path, "sha256": f.sha256, "size": f.size} for f in result.files],
            storage=storage,
            location=location,
            version_id=version,
            retain_until=until,
        )
        record(
            actor=actor,
            action="evidence.generate",
            obj=package,
            after={
                "subject_type": subject_type,
                "subject_id": str(subject_id),
                "sha256": result.sha256,
                "manifest_sha256": result.manifest_sha256,
                "size": result.size,
                "key_id": result.key_id,
                "storage": storage,
                "location": location,
            },
            request=request,
        )
    return package


def copy_package_to(package: EvidencePackage, destination: Path) -> None:
    """Write a stored package's bytes to `destination` (the export command's --out)."""
    with (
        store.open_stored(package.storage, package.location, package.version_id) as source,
        destination.open("wb") as out,
    ):
        shutil.copyfileobj(source, out, 1024 * 1024)
