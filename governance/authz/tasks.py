"""Authorization's after-sync step: portal users re-linked to the Identity Center users the sync read."""

from __future__ import annotations

from governance.authz.services import link_all_users
from governance.inventory import after_sync
from governance.inventory.models import SyncRun


def relink_after_sync(*, run_id: int) -> dict:
    """Re-link every portal user on their stored, IdP-vouched facts when the sync changed Identity Center.

    Identity Center is organization-wide: a user created, renamed or given another e-mail or
    external id in AWS after someone signed in links (or stops linking) here, not only at that
    person's next sign-in. Idempotent; audited only where a link's outcome changed.
    """
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or not after_sync.should_run(run):
        return {"skipped": "no such finished sync"}
    if not after_sync.changes(run).organization:
        return {"skipped": "the sync changed nothing above the accounts"}
    return link_all_users()
