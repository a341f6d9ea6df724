"""The sync as it runs in production on PostgreSQL: batches written on the write-behind thread.

Every other sync test runs inside the test's transaction, where `services.WriteBehind` writes on
the caller's thread; these commit for real (transactional tests), so the writer thread is used.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from governance.inventory.models import AccountSyncStatus, Entitlement, Principal, SyncStatus
from governance.inventory.services import iam as iam_services
from governance.inventory.sync import sync_organization
from tests.inventory.test_sync import build_small_org, sync_with_users_changed

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the writer thread runs only on PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def writer_threads(monkeypatch) -> set[int]:
    """The threads IAM batches were written on (a spy: the write itself is unchanged)."""
    seen: set[int] = set()
    write = iam_services.IamBatch.write

    def spy(self):
        seen.add(threading.get_ident())
        return write(self)

    monkeypatch.setattr(iam_services.IamBatch, "write", spy)
    return seen


def test_batches_are_written_on_the_writer_thread_and_a_second_sync_changes_nothing(emulator, writer_threads):
    small = build_small_org()
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert writer_threads and threading.get_ident() not in writer_threads
    assert run.counts["accounts"] == len(small.accounts) + 1  # and the management account
    assert run.counts["entitlements"] == Entitlement.objects.filter(removed_at__isnull=True).count()
    assert Principal.objects.filter(account__account_id=small.accounts["member-1"], name="alice").exists()
    again = sync_organization()
    assert again.status == SyncStatus.SUCCEEDED and again.changes == 0, again.counts


def test_an_account_postgresql_cannot_store_fails_alone(emulator, writer_threads):
    """A NUL in a tag passes the reader but not PostgreSQL: its batch fails on the writer thread,
    its accounts are ingested again one by one, and only that account is recorded as failed."""
    small = build_small_org(n_accounts=4)
    bad = small.accounts["member-2"]

    run = sync_with_users_changed(bad, lambda user: user.update(Tags=[{"Key": "note", "Value": "nul\x00here"}]))
    assert run.status == SyncStatus.PARTIAL
    failed = run.account_runs.get(aws_account_id=bad)
    assert failed.status == AccountSyncStatus.FAILED and "\\u0000" in failed.error
    assert not Principal.objects.filter(account__account_id=bad).exists()
    for name, account_id in small.accounts.items():
        if account_id != bad:
            assert run.account_runs.get(aws_account_id=account_id).status == AccountSyncStatus.SUCCEEDED, name
            assert Principal.objects.filter(account__account_id=account_id, name="alice").exists()
