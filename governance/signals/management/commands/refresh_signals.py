"""`manage.py refresh_signals`: read AWS's signals now; a one-line JSON summary is the last line."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from governance.signals import tasks
from governance.signals.models import Source


class Command(BaseCommand):
    help = (
        "Read IAM Access Analyzer, CloudTrail, service last accessed and AWS Config now (asking again even an "
        "endpoint that lacked them) and print a JSON summary: sources (per source: state, accounts, items, "
        "api_calls, errors), seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", action="append", dest="sources", choices=Source.values, help="Only this source (repeatable)."
        )

    def handle(self, *args, sources=None, **options):
        started = time.perf_counter()
        wanted = sources or list(Source.values)
        results = tasks.refresh(sources=wanted, force=True)
        failed = [r for r in results if r["state"] not in ("ok", "not_available")]
        summary = {"sources": results, "seconds": round(time.perf_counter() - started, 3)}
        self.stdout.write(json.dumps(summary, default=str))
        if failed and all(r["accounts"] == 0 for r in failed):
            raise CommandError(f"Could not read: {', '.join(r['source'] for r in failed)}.")
