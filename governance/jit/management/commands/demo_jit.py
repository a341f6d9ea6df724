"""`manage.py demo_jit`: seed the demo's just-in-time eligibility policies (after the demo's sync)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from governance.jit import demo
from governance.jit.services import JitError


class Command(BaseCommand):
    help = (
        "Create the demo's eligibility policies (jit-requesters may request, jit-approvers approve, the campaign "
        "admin backs the grants) over the synced demo organization. Existing policies are left as they are; "
        "refuses outside the local emulator. Prints a JSON summary last: created, existing, grantor."
    )

    def handle(self, *args: object, **options: object) -> None:
        try:
            result = demo.seed()
        except (demo.DemoSeedError, JitError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from exc
        self.stdout.write(json.dumps(result.summary()))
