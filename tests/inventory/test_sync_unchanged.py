"""The sync's digest-first read: an account whose IAM read is unchanged is neither parsed nor ingested."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from governance.aws import calls, session
from governance.aws.readers import iam as iam_reader
from governance.inventory import services, sync
from governance.inventory.models import Account, AccountSyncStatus, Principal, SyncStatus
from governance.inventory.sync import summary, sync_organization
from tests.inventory.test_sync import build_small_org

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def parsed(monkeypatch):
    """The account ids the IAM reader builds dataclasses for (a spy: the real function still runs)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = iam_reader.account_iam_from

    def spy(account_id, **kwargs):
        with lock:
            seen.append(account_id)
        return real(account_id, **kwargs)

    monkeypatch.setattr(iam_reader, "account_iam_from", spy)
    return seen


def _account_runs(run) -> dict[str, tuple]:
    return {r.aws_account_id: (r.status, r.counts, r.credential_report_generated_at) for r in run.account_runs.all()}


def _comparable(line: dict) -> dict:
    # api_calls differ by the first sync's ListAccessKeys (key ids, asked once per unseen key).
    return {k: v for k, v in line.items() if k not in {"seconds", "run", "changes", "api_calls"}}


def _without_key_listing(log) -> Counter:
    return Counter({k: v for k, v in log.calls.items() if k != "iam.ListAccessKeys"})


def test_a_second_sync_parses_no_unchanged_account(emulator, parsed):
    small = build_small_org()
    n = len(small.accounts) + 1  # the management account too
    with calls.counting() as first_log:
        first = sync_organization()
    assert first.status == SyncStatus.SUCCEEDED, first.errors
    assert first.counts["accounts_unchanged"] == 0
    assert sorted(parsed) == sorted(first.account_runs.values_list("aws_account_id", flat=True))
    parsed.clear()

    with calls.counting() as second_log:
        second = sync_organization()
    assert second.status == SyncStatus.SUCCEEDED, second.errors
    assert parsed == []
    assert second.counts["accounts_unchanged"] == n
    assert second.changes == 0
    assert _comparable(summary(second)) == _comparable(summary(first))
    assert {k: v for k, v in second.counts.items() if k != "accounts_unchanged"} == {
        k: v for k, v in first.counts.items() if k != "accounts_unchanged"
    }
    assert first_log.count("iam", "ListAccessKeys") > 0 and second_log.count("iam", "ListAccessKeys") == 0
    assert second_log.calls == _without_key_listing(first_log)
    assert second.api_calls == first.api_calls - first_log.count("iam", "ListAccessKeys")
    assert _account_runs(second) == _account_runs(first)
    for account_run in second.account_runs.all():
        assert account_run.status == AccountSyncStatus.SUCCEEDED and account_run.changes == 0
        assert account_run.credential_report_generated_at is not None
        assert account_run.seconds > 0
        if account_run.aws_account_id in small.accounts.values():
            assert account_run.counts["principals"] == 5  # alice, bob, developers, deployer, the read role


def test_a_changed_account_is_parsed_and_ingested(emulator, parsed):
    small = build_small_org()
    n = len(small.accounts) + 1
    first = sync_organization()
    changed = small.accounts["member-1"]
    pk = Account.objects.get(account_id=changed).pk
    before = services.stored_iam_digests([pk])
    small.iam("member-1").create_user(UserName="carol")
    parsed.clear()

    second = sync_organization()
    assert second.status == SyncStatus.SUCCEEDED, second.errors
    assert parsed == [changed]
    assert second.counts["accounts_unchanged"] == n - 1
    assert Principal.objects.filter(account__account_id=changed, name="carol", removed_at__isnull=True).exists()
    changed_run = second.account_runs.get(aws_account_id=changed)
    assert changed_run.changes > 0
    assert changed_run.counts["users"] == first.account_runs.get(aws_account_id=changed).counts["users"] + 1
    assert second.account_runs.exclude(aws_account_id=changed).filter(changes=0).count() == n - 1
    assert summary(second)["principals"] == summary(first)["principals"] + 1
    assert services.stored_iam_digests([pk]) != before

    third = sync_organization()
    assert third.counts["accounts_unchanged"] == n and third.changes == 0


def test_an_unchanged_account_still_gets_its_tags(emulator, parsed):
    small = build_small_org(n_accounts=2)
    sync_organization()
    account_id = small.accounts["member-0"]
    session.management_client("organizations").tag_resource(
        ResourceId=account_id, Tags=[{"Key": "owner", "Value": "someone-else@example.com"}]
    )
    parsed.clear()
    run = sync_organization()
    assert parsed == []
    assert run.counts["accounts_unchanged"] == len(small.accounts) + 1
    assert Account.objects.get(account_id=account_id).owner == "someone-else@example.com"
    assert run.account_runs.get(aws_account_id=account_id).changes == 1
    assert run.changes == 1


def test_the_read_of_an_unchanged_account_touches_no_database(emulator, django_assert_num_queries):
    small = build_small_org(n_accounts=1)
    sync_organization()
    account = Account.objects.get(account_id=small.accounts["member-0"])
    known = services.stored_access_key_ids([account.pk])[account.pk]
    assert known  # the first sync named the account's keys
    with django_assert_num_queries(0):
        read = sync.read_account(account.account_id, account.iam_digest)
        fresh = sync.read_account(account.account_id, "", known)
    assert read.error == "" and read.iam is None and read.unchanged is not None
    assert read.unchanged.digest == account.iam_digest
    assert fresh.unchanged is None and fresh.iam is not None and fresh.iam.digest == account.iam_digest
    assert read.api_calls == fresh.api_calls
    assert read.unchanged.credential_report_generated_at == fresh.iam.credential_report_generated_at


def test_unchanged_counts_equal_parsed_counts_on_the_demo_org(demo_org, parsed):
    first = sync_organization()
    assert first.status == SyncStatus.SUCCEEDED, first.errors
    parsed.clear()
    second = sync_organization()
    assert second.status == SyncStatus.SUCCEEDED, second.errors
    assert parsed == []
    assert second.counts["accounts_unchanged"] == second.accounts_total == len(demo_org.accounts)
    counted = {r.aws_account_id: r.counts for r in second.account_runs.all()}
    assert counted == {r.aws_account_id: r.counts for r in first.account_runs.all()}
    assert any(c["access_keys"] and c["policies"] and c["entitlements"] for c in counted.values())
    assert _comparable(summary(second)) == _comparable(summary(first))
