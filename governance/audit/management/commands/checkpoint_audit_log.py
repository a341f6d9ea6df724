"""`manage.py checkpoint_audit_log`: verify since the last checkpoint and sign the chain head now."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from governance.audit.signing import SigningKeyError
from governance.audit.tasks import AuditChainBrokenError, checkpoint_audit_log_task


class Command(BaseCommand):
    help = "Sign the audit chain's head (what the hourly schedule does), after verifying it; prints the checkpoint."

    def handle(self, *args, **options) -> None:
        try:
            summary = checkpoint_audit_log_task()
        except AuditChainBrokenError as exc:
            raise CommandError(str(exc), returncode=1) from None
        except SigningKeyError as exc:
            raise CommandError(str(exc), returncode=2) from None
        if summary["sequence"] is None:
            self.stdout.write("The audit log is empty: nothing to sign.")
            return
        self.stdout.write(json.dumps(summary, sort_keys=True))
