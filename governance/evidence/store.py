"""Where generated packages are kept: local disk (EVIDENCE_DIR) by default, or S3 with Object Lock.

A package is first streamed to a file under EVIDENCE_DIR (hashed on the way), so the stored bytes
are exactly the hashed bytes; with EVIDENCE_S3_BUCKET set, that file is then uploaded under
Object Lock (COMPLIANCE, EVIDENCE_RETENTION_DAYS) with its SHA-256 as S3's checksum, and the local
copy removed. Local files are written 0440 and never rewritten; the directory is the operator's to
back up.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from django.conf import settings


def evidence_dir() -> Path:
    return Path(settings.EVIDENCE_DIR)


def s3_bucket() -> str:
    return getattr(settings, "EVIDENCE_S3_BUCKET", "")


def retain_until(now: datetime) -> datetime:
    return now + timedelta(days=settings.EVIDENCE_RETENTION_DAYS)


def local_path(package_id: str) -> Path:
    return evidence_dir() / f"{package_id}.zip"


def open_local_for_writing(package_id: str) -> IO[bytes]:
    path = local_path(package_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    return os.fdopen(descriptor, "wb")


def seal_local(package_id: str) -> None:
    os.chmod(local_path(package_id), 0o440)


def discard_local(package_id: str) -> None:
    local_path(package_id).unlink(missing_ok=True)


def upload(package_id: str, sha256_hex: str, until: datetime) -> tuple[str, str]:
    """Upload the local file to S3 under Object Lock; (location, version id)."""
    from governance.aws import object_store

    bucket = s3_bucket()
    key = f"{settings.EVIDENCE_S3_PREFIX}{package_id}.zip"
    checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")
    with local_path(package_id).open("rb") as body:
        version = object_store.put_locked(
            bucket=bucket,
            key=key,
            body=body,
            sha256_b64=checksum,
            retain_until=until,
            mode=settings.EVIDENCE_S3_LOCK_MODE,
        )
    return f"s3://{bucket}/{key}", version


def open_stored(storage: str, location: str, version_id: str = "") -> IO[bytes]:
    if storage == "s3":
        from governance.aws import object_store

        bucket, _, key = location.removeprefix("s3://").partition("/")
        return object_store.open_object(bucket=bucket, key=key, version_id=version_id)
    path = (evidence_dir() / location).resolve()
    if evidence_dir().resolve() not in path.parents:
        raise FileNotFoundError(location)
    return path.open("rb")
