from __future__ import annotations

import pytest

from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization


@pytest.fixture
def synced_demo(demo_org):
    """The demo organization synced into the test database (rolled back after the test)."""
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    return demo_org
