from __future__ import annotations

import pytest


@pytest.fixture
def synced_demo(demo_org, db):
    """The emulator's demo organization synced into the database (a few seconds)."""
    from governance.inventory.sync import sync_organization

    run = sync_organization()
    assert not run.errors, run.errors
    return demo_org
