"""The digest-first skip: an account whose raw read matches the stored digest is never parsed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from benchmarks.fixtures import authorization_details as recorded
from governance.aws.readers.iam import account_iam_from, parse_credential_report, raw_iam_counts, snapshot_digest
from governance.aws.readers.types import OrgAccount, OrgInfo, OrgSnapshot, OrgUnit, PasswordPolicyInfo
from governance.inventory import services
from governance.inventory.models import Account
from governance.inventory.services.iam import _iam_counts

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _record(seed: int = 3, principals: int = 40) -> dict:
    return recorded.account_record("111111111111", principals=principals, rng=random.Random(seed))


def _parsed(record: dict, digest: str = ""):
    return account_iam_from(
        record["account_id"],
        details=record["details"],
        credential_report=parse_credential_report(record["credential_report"]),
        generated_at=record["credential_report_generated"],
        password_policy=PasswordPolicyInfo(configured=True, raw=record["password_policy"]),
        digest=digest,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_raw_counts_are_the_counts_of_the_parsed_account(seed):
    record = _record(seed)
    record["details"]["Policies"].append(
        {"PolicyName": "ReadOnlyAccess", "Arn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "PolicyVersionList": []}
    )
    assert raw_iam_counts(record["details"], record["credential_report"]) == _iam_counts(_parsed(record))
    assert raw_iam_counts(record["details"], record["credential_report"].encode()) == _iam_counts(_parsed(record))


def test_stored_digests_tell_which_reads_need_no_parsing():
    info = OrgInfo("o-test", "arn:org", "ALL", "100000000000", "m@example.com")
    root = OrgUnit("r-1", "arn:root", "Root", None, is_root=True)
    account = OrgAccount("111111111111", "arn:acct", "acct", "a@example.com", "ACTIVE", "CREATED", None, "r-1")
    services.ingest_organization(snapshot=OrgSnapshot(info, (root,), (account,), ()), now=NOW)
    pk = Account.objects.get(account_id="111111111111").pk
    assert services.stored_iam_digests([pk]) == {pk: ""}
    record = _record()
    digest = snapshot_digest(record["details"], record["credential_report"], record["password_policy"])
    index = services.PolicyIndex()
    result = services.ingest_account_iam(iam=_parsed(record, digest), account_pk=pk, now=NOW, index=index)
    assert result.changes > 0
    assert services.stored_iam_digests([pk]) == {pk: digest}
    # The same raw read again digests the same, so a caller can skip building its dataclasses.
    again = _record()
    assert snapshot_digest(again["details"], again["credential_report"], again["password_policy"]) == digest
