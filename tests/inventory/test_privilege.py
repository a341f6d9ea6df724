"""Which policies grant administrator power, decided at ingest and stored on the policy row."""

from __future__ import annotations

import pytest

from governance.inventory.models import AccessKey, AdminAccess, PolicyKind
from governance.inventory.privilege import admin_access


def _doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.mark.parametrize(
    ("document", "kind", "expected"),
    [
        (_doc(ALLOW_ALL), PolicyKind.AWS_MANAGED, AdminAccess.FULL),
        (_doc({"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}), PolicyKind.INLINE, "full"),
        ({"Statement": ALLOW_ALL}, PolicyKind.CUSTOMER_MANAGED, AdminAccess.FULL),  # one statement, not a list
        (_doc({"Effect": "Allow", "Action": "IAM:*", "Resource": "*"}), PolicyKind.CUSTOMER_MANAGED, AdminAccess.IAM),
        (_doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}), PolicyKind.INLINE, ""),
        (_doc({"Effect": "Deny", "Action": "*", "Resource": "*"}), PolicyKind.INLINE, ""),
        (_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), PolicyKind.INLINE, ""),
        (_doc(ALLOW_ALL), PolicyKind.SCP, ""),  # FullAWSAccess is a guardrail, not a grant
        (None, PolicyKind.INLINE, ""),
        ("not a document", PolicyKind.INLINE, ""),
        (_doc("junk", {"Effect": "Allow"}), PolicyKind.INLINE, ""),
    ],
)
def test_it_tells_full_and_iam_administrator_power_apart(document, kind, expected):
    assert admin_access(document, kind=kind) == expected


def test_an_access_key_shows_a_masked_id_and_nothing_without_one():
    assert AccessKey(access_key_id="AKIAIOSFODNN7EXAMPLE").masked_id == "AKIA\u2026MPLE"
    assert AccessKey(access_key_id="").masked_id == ""
