"""S3 with Object Lock for the portal's own retained files (evidence packages), with the portal's credentials.

Writes go to a bucket the portal owns (not to a governed account), so they use the portal's own
session rather than the writer gate; Object Lock keeps each version unchangeable and undeletable
until its retain-until date (COMPLIANCE mode: not even the bucket's owner can shorten it).
"""

from __future__ import annotations

from datetime import datetime
from typing import IO, Any

from governance.aws.errors import translates
from governance.aws.session import management_client


@translates
def put_locked(*, bucket: str, key: str, body: IO[bytes], sha256_b64: str, retain_until: datetime, mode: str) -> str:
    """Upload `body` under Object Lock until `retain_until`; the new object's version id."""
    client: Any = management_client("s3")
    response = client.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/zip",
        ChecksumAlgorithm="SHA256",  # S3 refuses an Object Lock upload without a checksum header
        ChecksumSHA256=sha256_b64,
        ObjectLockMode=mode,
        ObjectLockRetainUntilDate=retain_until,
    )
    return response.get("VersionId", "")


@translates
def open_object(*, bucket: str, key: str, version_id: str = "") -> IO[bytes]:
    client: Any = management_client("s3")
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    return client.get_object(**params)["Body"]


@translates
def retention(*, bucket: str, key: str, version_id: str = "") -> dict[str, Any]:
    """{"Mode", "RetainUntilDate"} of one object version (read from HeadObject, which every S3 answers)."""
    client: Any = management_client("s3")
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    head = client.head_object(**params)
    return {"Mode": head.get("ObjectLockMode", ""), "RetainUntilDate": head.get("ObjectLockRetainUntilDate")}
