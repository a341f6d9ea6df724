"""Packages kept in S3 under Object Lock, through the AWS gateway, against the emulator."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError
from django.conf import settings as django_settings

from governance.aws import object_store
from governance.evidence.services import generate_package
from tests.evidence.conftest import sample_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(aws, settings):
    s3 = boto3.client("s3", endpoint_url=django_settings.AWS_ENDPOINT_URL, region_name="us-east-1")
    s3.create_bucket(Bucket="evidence-bucket", ObjectLockEnabledForBucket=True)
    settings.EVIDENCE_S3_BUCKET = "evidence-bucket"
    return s3


def test_a_package_goes_to_s3_locked_and_comes_back_byte_for_byte(bucket, evidence_dir, persona_client):
    package = generate_package(
        subject_type="tests.sample", subject_id="7", subject_repr="Sample", subject={}, files=sample_files(), actor=None
    )
    assert package.storage == "s3" and package.location == f"s3://evidence-bucket/evidence/{package.pk}.zip"
    assert package.version_id and package.retain_until is not None
    assert not (evidence_dir / f"{package.pk}.zip").exists()  # the local copy is gone once S3 holds it

    retention = object_store.retention(bucket="evidence-bucket", key=f"evidence/{package.pk}.zip",
                                       version_id=package.version_id)  # fmt: skip
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["RetainUntilDate"].date() == package.retain_until.date()

    response = persona_client("auditor").get(f"/evidence/packages/{package.pk}/download/")
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == package.sha256

    with pytest.raises(ClientError):
        bucket.delete_object(Bucket="evidence-bucket", Key=f"evidence/{package.pk}.zip", VersionId=package.version_id)
