from __future__ import annotations

import json
import re

from django.core.management.base import BaseCommand, CommandError

from governance.inventory import after_sync
from governance.inventory.models import SyncStatus, SyncTrigger
from governance.inventory.sync import SyncAlreadyRunning, summary, sync_organization

# Exit status: 0 succeeded, 1 failed, 2 partial (some accounts or scopes failed).
EXIT_CODES = {SyncStatus.FAILED: 1, SyncStatus.PARTIAL: 2}


class Command(BaseCommand):
    help = "Sync the AWS organization, Identity Center and member accounts' IAM into the inventory now."

    def add_arguments(self, parser):
        parser.add_argument("--account", default="", help="Sync only this member account's IAM (12 digits).")
        parser.add_argument(
            "--no-after-sync",
            action="store_true",
            help="Skip the steps that follow a sync (findings, triggered reviews, ...); a scheduled sync runs them.",
        )

    def handle(self, *args, account: str = "", no_after_sync: bool = False, **options):
        if account and not re.fullmatch(r"\d{12}", account):
            raise CommandError("--account must be a 12-digit AWS account id.")
        try:
            run = sync_organization(trigger=SyncTrigger.MANUAL, only_account_id=account)
        except SyncAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        for error in run.errors:
            where = error.get("account") or error.get("scope", "")
            self.stderr.write(f"error: {where}: {error.get('error', '')}")
        if not no_after_sync and after_sync.should_run(run):
            try:
                after_sync.run_steps(run.pk)
            except after_sync.AfterSyncFailed as exc:
                self.stderr.write(f"error: {exc}")
        self.stdout.write(json.dumps(summary(run), sort_keys=False))
        # The summary is printed either way; the exit status says whether to trust it.
        if run.status in EXIT_CODES:
            self.stdout.flush()
            raise SystemExit(EXIT_CODES[run.status])
