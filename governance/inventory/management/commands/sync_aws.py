from __future__ import annotations

import json
import re

from django.core.management.base import BaseCommand, CommandError

from governance.inventory.models import SyncTrigger
from governance.inventory.sync import SyncAlreadyRunning, summary, sync_organization


class Command(BaseCommand):
    help = "Sync the AWS organization, Identity Center and member accounts' IAM into the inventory now."

    def add_arguments(self, parser):
        parser.add_argument("--account", default="", help="Sync only this member account's IAM (12 digits).")

    def handle(self, *args, account: str = "", **options):
        if account and not re.fullmatch(r"\d{12}", account):
            raise CommandError("--account must be a 12-digit AWS account id.")
        try:
            run = sync_organization(trigger=SyncTrigger.MANUAL, only_account_id=account)
        except SyncAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        for error in run.errors:
            where = error.get("account") or error.get("scope", "")
            self.stderr.write(f"error: {where}: {error.get('error', '')}")
        self.stdout.write(json.dumps(summary(run), sort_keys=False))
