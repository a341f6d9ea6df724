from __future__ import annotations

import pytest

from governance.aws import session


@pytest.fixture
def emulator(aws, settings):
    """An empty emulator (tests/fixtures/aws.py) for a test that builds its own small org."""
    settings.AWS_SYNC_WORKERS = 4
    session.reset()
    yield aws
    session.reset()
