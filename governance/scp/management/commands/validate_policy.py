"""`manage.py validate_policy --type scp|rcp FILE`: the editor's diagnostics as JSON; exit 1 on an error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.scp import diagnostics


class Command(BaseCommand):
    help = (
        "Validate an SCP or RCP document: JSON syntax, the policy grammar, SCP/RCP rules, unknown actions, the "
        "5,120-character quota and parliament's lint. Prints JSON; exits non-zero when there is an error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--type", dest="kind", required=True, choices=diagnostics.KINDS)
        parser.add_argument("file", metavar="FILE", help="the policy document ('-' reads standard input)")

    def handle(self, *args, kind: str, file: str, **options):
        if file == "-":
            text = sys.stdin.read()
        else:
            path = Path(file)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {file}: {exc}") from exc
        found = diagnostics.diagnose(text, kind)
        result = {"file": file, **diagnostics.summary(found, text=text, kind=kind)}
        self.stdout.write(json.dumps(result, indent=2))
        if not result["valid"]:
            raise CommandError(f"{file}: {result['errors']} error(s)")
