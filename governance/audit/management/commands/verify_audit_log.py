"""`manage.py verify_audit_log`: exits non-zero, naming the first bad event, when the chain is broken."""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit.verify import verify_chain

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _anchor(value: str) -> tuple[int, str]:
    match = _ANCHOR.match(value.strip())
    if not match:
        raise CommandError(f"--anchor must be SEQUENCE:HASH (64 hex digits); got {value!r}.")
    return int(match[1]), match[2]


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain; exit 1 naming the first altered, missing or moved event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            help="SEQUENCE:HASH printed by an earlier run; also detects events cut off the end of the chain.",
        )
        parser.add_argument("--chunk-size", type=int, default=5000, help="Rows fetched per round trip.")

    def handle(self, *args, **options) -> None:
        anchor = _anchor(options["anchor"]) if options["anchor"] else None
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        report = verify_chain(chunk_size=options["chunk_size"], anchor=anchor)
        if not report.intact:
            raise CommandError(
                f"Audit chain broken at {report.problem} ({report.events} events verified before it).",
                returncode=1,
            )
        if report.head_sequence is None:
            self.stdout.write("0 events, chain intact")
        else:
            self.stdout.write(f"{report.events} events, chain intact; head {report.head_sequence}:{report.head_hash}")
