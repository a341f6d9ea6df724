"""`manage.py verify_evidence FILE.zip [--public-key PEM]`: exit 0 saying what was checked, or 1 naming each problem."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from governance.audit import signing
from governance.evidence.verify import verify_package


class Command(BaseCommand):
    help = (
        "Verify an evidence package: the manifest's Ed25519 signature (against --public-key, or this portal's"
        " current and retired keys), then every file's SHA-256 and size; names each changed, removed or added file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("package", metavar="FILE.zip")
        parser.add_argument(
            "--public-key",
            metavar="PEM",
            help="The signer's public key (from the portal's key URL), instead of this portal's configured keys.",
        )

    def handle(self, *args, **options) -> None:
        path = Path(options["package"])
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.", returncode=2)
        public_key = None
        if options["public_key"]:
            pem_path = Path(options["public_key"])
            try:
                key = signing.load_public_pem(pem_path.read_bytes(), f"--public-key {pem_path}")
            except OSError as exc:
                raise CommandError(f"--public-key {pem_path} cannot be read ({exc.strerror}).", returncode=2) from None
            except signing.SigningKeyError as exc:
                raise CommandError(str(exc), returncode=2) from None
            public_key = signing.PublicKey(key_id="--public-key", key=key, current=False)

        report = verify_package(path, public_key=public_key)
        if report.package_id and public_key is None:
            recorded = self._recorded_manifest(report.package_id)
            if recorded:
                report = verify_package(path, recorded_manifest_sha256=recorded)
        if not report.ok:
            lines = "\n".join(f"  {finding}" for finding in report.findings)
            raise CommandError(f"{path}: {len(report.findings)} problem(s):\n{lines}", returncode=1)
        key = options["public_key"] or f"key {report.key_id}"
        self.stdout.write(
            f"{path}: package {report.package_id} verified.\n"
            f"  manifest.json signature: valid, Ed25519, {key} (fingerprint SHA-256 {report.key_fingerprint})\n"
            f"  {len(report.files_checked)} files match the manifest's SHA-256 and size; none missing, none added:\n"
            + "".join(f"    {name}\n" for name in report.files_checked)
        )

    def _recorded_manifest(self, package_id: str) -> str:
        """The manifest hash this portal recorded for the package, when it generated it (else "")."""
        from governance.evidence.models import EvidencePackage

        try:
            return EvidencePackage.objects.filter(pk=package_id).values_list("manifest_sha256", flat=True).first() or ""
        except (DatabaseError, ValueError):
            return ""
