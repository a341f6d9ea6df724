"""`manage.py export_evidence CAMPAIGN --out FILE.zip`: generate, store and write a campaign's evidence package."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit.signing import SigningKeyError
from governance.evidence import sources
from governance.evidence.services import copy_package_to, generate_from_source


class Command(BaseCommand):
    help = "Write a campaign's signed evidence package to FILE.zip (and keep it in the evidence store)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", metavar="CAMPAIGN", help="The campaign's id.")
        parser.add_argument("--out", required=True, metavar="FILE.zip")
        parser.add_argument("--kind", default="campaign", help=argparse_help())

    def handle(self, *args, **options) -> None:
        out = Path(options["out"])
        if out.exists() and out.is_dir():
            raise CommandError(f"--out {out} is a directory; give a file name.", returncode=2)
        if not out.parent.exists():
            raise CommandError(f"--out: the directory {out.parent} does not exist.", returncode=2)
        started = time.perf_counter()
        try:
            source = sources.build(options["kind"], options["campaign"])
            package = generate_from_source(source)
        except sources.NotFound as exc:
            raise CommandError(str(exc), returncode=2) from None
        except SigningKeyError as exc:
            raise CommandError(f"Cannot sign the package: {exc}", returncode=2) from None
        copy_package_to(package, out)
        summary = {
            "package": str(package.pk),
            "out": str(out),
            "sha256": package.sha256,
            "size": package.size,
            "key_id": package.key_id,
            "files": len(package.files),
            "seconds": round(time.perf_counter() - started, 2),
        }
        self.stdout.write(json.dumps(summary))


def argparse_help() -> str:
    return "What CAMPAIGN names (default: campaign); sources are registered by the apps that own them."
