"""Stubbed AWS for the signals app: the portal's own (management account) clients under Stubber.

The signal readers of the management account use the portal's cached management clients, so a
Stubber on `session.management_client(service)` answers them (the emulator lacks these APIs).
Member accounts are reached through AssumeRole, which the emulator serves; their signal APIs are
then "not available from this endpoint", as on the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber

from governance.aws import calls, session
from governance.aws.readers import availability
from governance.inventory.models import Principal, PrincipalKind
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID, _synced

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def stub(settings) -> Iterator:
    """`with stub("cloudtrail") as s:` a Stubber on the management client of that service."""
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # never reached: every call is stubbed
    session.reset()
    availability._credentials.clear()

    @contextmanager
    def make(service: str):
        client = session.management_client(service)
        # Stubber answers in `before-call` ahead of the portal's call hooks; hook in first so the
        # call counters and the suite's recorder (tests/fixtures/aws_calls.py) still see the call.
        client.meta.events.register_first("before-call.*.*", calls._on_call, unique_id="signals-stub-calls")
        with Stubber(client) as stubber:
            yield stubber
            stubber.assert_no_pending_responses()

    yield make
    session.reset()


def iam_principal(kind: str, name: str, *, account=None, content_hash: str = "", **fields) -> Principal:
    from governance.inventory.models import Account

    account = account or Account.objects.get(account_id=GOVERNANCE_ACCOUNT_ID)
    segment = {"iam_role": "role", "iam_user": "user", "iam_group": "group"}[kind]
    arn = f"arn:aws:iam::{account.account_id}:{segment}/{name}"
    synced = _synced(arn)
    if content_hash:
        synced["content_hash"] = content_hash
    return Principal.objects.create(
        kind=PrincipalKind(kind),
        account=account,
        arn=arn,
        name=name,
        scope=f"iam:{account.account_id}",
        **synced,
        **fields,
    )
