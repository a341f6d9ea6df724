"""Planning a batch on the caller's thread while the previous one is written on the writer's."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection

from governance.inventory import services
from governance.inventory.models import Account, Entitlement, Policy, Principal
from tests.inventory.test_ingest import NOW, _iam, _org

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the writer thread runs only on PostgreSQL"
)


def _plan(account_id: str, pks: dict[str, int], index: services.PolicyIndex, **kwargs):
    return services.plan_accounts_iam(items=[(_iam(account_id, **kwargs), pks[account_id])], now=NOW, index=index)


@pytest.mark.django_db
def test_inside_a_transaction_it_writes_on_the_callers_thread():
    pks = _org("111111111111")
    with services.WriteBehind() as writer:
        assert not writer.background  # a second connection could not see this test's rows
        results = writer.submit(_plan("111111111111", pks, services.PolicyIndex())).result()
    assert results["111111111111"].changes > 0
    assert Entitlement.objects.filter(account__account_id="111111111111").count() == 11


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_it_writes_each_batch_on_its_own_thread_and_connection():
    pks = _org("111111111111", "222222222222")
    index = services.PolicyIndex()
    with services.WriteBehind() as writer:
        assert writer.background
        first = writer.submit(_plan("111111111111", pks, index))
        # Planned while the first batch may still be being written: disjoint scopes.
        second = writer.submit(_plan("222222222222", pks, index, users=("carol",)))
        writer_thread = writer.call(threading.get_ident)
        writer_backend = writer.call(lambda: connection.connection.info.backend_pid)
        assert first.result()["111111111111"].changes > 0 and second.result()["222222222222"].changes > 0
    assert writer_thread != threading.get_ident()
    assert writer_backend != connection.connection.info.backend_pid
    assert Entitlement.objects.filter(account__account_id="111111111111").count() == 11
    assert set(Principal.objects.filter(account__account_id="222222222222").values_list("name", flat=True)) == {
        "carol",
        "devs",
    }
    # Written as planned: the same read again changes nothing.
    again = services.ingest_account_iam(iam=_iam("111111111111"), account_pk=pks["111111111111"], now=NOW, index=index)
    assert again.changes == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_to_write_reports_it_and_leaves_nothing_behind():
    pks = _org("111111111111", "222222222222")
    index = services.PolicyIndex()
    doomed = _plan("111111111111", pks, index)
    # While it waits to be written, the AWS managed policy it refers to disappears (planning
    # committed it; nothing referred to it yet, so deleting it is allowed).
    Policy.objects.filter(name="ReadOnlyAccess").delete()
    with services.WriteBehind() as writer:
        failed = writer.submit(doomed)
        fine = writer.submit(_plan("222222222222", pks, services.PolicyIndex()))
        assert isinstance(failed.exception(), IntegrityError)
        assert "refers to no inventory_policy row" in str(failed.exception())
        assert fine.result()["222222222222"].changes > 0
    assert not Principal.objects.filter(account__account_id="111111111111").exists()
    assert Account.objects.get(account_id="111111111111").iam_digest == ""
    assert Principal.objects.filter(account__account_id="222222222222").count() == 3
