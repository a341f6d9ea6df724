"""`manage.py verify_audit_log`: the hash chain and its signed checkpoints; non-zero naming each damaged range."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit.models import canonical_time
from governance.audit.verify import verify_chain

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _anchor(value: str) -> tuple[int, str]:
    match = _ANCHOR.match(value.strip())
    if not match:
        raise CommandError(f"--anchor must be SEQUENCE:HASH (64 hex digits); got {value!r}.")
    return int(match[1]), match[2]


class Command(BaseCommand):
    help = (
        "Recompute the audit log's hash chain and check every signed checkpoint against it; exit 1 naming each"
        " rewritten, deleted, inserted, reordered or truncated range."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            help="SEQUENCE:HASH noted elsewhere (an earlier run, an evidence package); checked like a checkpoint.",
        )
        parser.add_argument(
            "--no-checkpoints",
            action="store_true",
            help="Check the hash chain only (a chain rewritten by the table's owner then passes).",
        )
        parser.add_argument(
            "--max-checkpoint-age",
            type=float,
            metavar="HOURS",
            help="Fail (not only warn) when the newest checkpoint is older than this.",
        )
        parser.add_argument("--chunk-size", type=int, default=5000, help="Rows fetched per round trip.")
        parser.add_argument(
            "--workers",
            type=int,
            help="Processes reading the chain on PostgreSQL (default: one per CPU, up to 4, for a large log;"
            " 1 reads it in this process). The report is the same whatever the number.",
        )

    def handle(self, *args, **options) -> None:
        anchor = _anchor(options["anchor"]) if options["anchor"] else None
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        max_age = options["max_checkpoint_age"]
        if max_age is not None and max_age <= 0:
            raise CommandError("--max-checkpoint-age must be a positive number of hours.")
        report = verify_chain(
            chunk_size=options["chunk_size"],
            anchor=anchor,
            checkpoints=not options["no_checkpoints"],
            max_checkpoint_age=timedelta(hours=max_age) if max_age is not None else None,
            workers=options["workers"],
        )
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if not report.intact:
            lines = "\n".join(f"  {problem.kind}: {problem}" for problem in report.problems)
            raise CommandError(
                f"Audit chain broken ({len(report.problems)} problem(s), {report.events} events read):\n{lines}",
                returncode=1,
            )
        if report.head_sequence is None:
            line = "0 events, chain intact"
        else:
            line = f"{report.events} events, chain intact; head {report.head_sequence}:{report.head_hash}"
        if not options["no_checkpoints"]:
            newest = report.newest_checkpoint
            if newest is None:
                line += "; no signed checkpoint yet"
            else:
                line += (
                    f"; {report.checkpoints} checkpoint(s) verified, newest of sequence {newest.sequence}"
                    f" signed {canonical_time(newest.signed_at)} by key {newest.key_id}"
                )
        self.stdout.write(line)
