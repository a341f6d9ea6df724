"""Check an evidence package: its manifest's signature, then every file against the manifest.

The signature is checked against a key obtained apart from the package: the `--public-key` PEM an
auditor downloaded from the portal's key URL, or (on the portal) the current and retired keys of
settings, looked up by the manifest's key id. A key inside the package would prove nothing, so
none is read from it.

Each finding names what it is about: a file changed (its SHA-256 differs from the manifest's),
removed (listed, not in the zip), added (in the zip, not listed), an altered manifest or a bad
signature (the signature does not verify; when the portal recorded the package, the recorded
manifest hash tells which of the two changed), an unknown key, or a manifest that cannot be read.
Files are hashed as streams, so a package of any size is checked in constant memory.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from governance.audit import signing
from governance.evidence.package import FORMAT, MANIFEST, SIGNATURE

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Finding:
    kind: str  # changed, removed, added, manifest, signature, unknown_key, unreadable
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"


@dataclass
class EvidenceReport:
    path: str
    package_id: str = ""
    key_id: str = ""
    key_fingerprint: str = ""
    files_checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    manifest: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_package(
    path: str | Path,
    *,
    public_key: signing.PublicKey | None = None,
    recorded_manifest_sha256: str | None = None,
) -> EvidenceReport:
    """Verify the package at `path`; `public_key` replaces the portal's configured keys."""
    report = EvidenceReport(path=str(path))
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.findings.append(Finding("unreadable", str(path), f"not a readable zip file ({exc})"))
        return report
    with archive:
        names = [info.filename for info in archive.infolist()]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        for name in duplicates:
            report.findings.append(Finding("added", name, "appears more than once in the zip"))
        if MANIFEST not in names:
            report.findings.append(Finding("removed", MANIFEST, "the manifest is missing: nothing can be checked"))
            return report
        manifest_data = archive.read(MANIFEST)
        manifest_sha256 = hashlib.sha256(manifest_data).hexdigest()
        try:
            manifest = json.loads(manifest_data)
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            listed = {entry["path"]: (entry["sha256"], int(entry["size"])) for entry in manifest["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            report.findings.append(Finding("manifest", MANIFEST, f"cannot be read as a manifest ({exc}): altered"))
            return report
        report.manifest = manifest
        report.package_id = str(manifest.get("package_id", ""))
        report.key_id = str(manifest.get("key_id", ""))

        _check_signature(report, archive, names, manifest_data, manifest_sha256, public_key, recorded_manifest_sha256)

        for name, (sha256, size) in listed.items():
            if name not in names:
                report.findings.append(Finding("removed", name, "listed in the manifest but missing from the zip"))
                continue
            digest = hashlib.sha256()
            actual_size = 0
            with archive.open(name) as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    actual_size += len(chunk)
            if digest.hexdigest() != sha256 or actual_size != size:
                report.findings.append(
                    Finding(
                        "changed",
                        name,
                        f"SHA-256 {digest.hexdigest()} ({actual_size} bytes);"
                        f" the manifest says {sha256} ({size} bytes)",
                    )
                )
            else:
                report.files_checked.append(name)
        for name in names:
            if name not in listed and name not in (MANIFEST, SIGNATURE) and name not in duplicates:
                report.findings.append(Finding("added", name, "in the zip but not in the manifest"))
    return report


def _check_signature(report, archive, names, manifest_data, manifest_sha256, public_key, recorded) -> None:
    if SIGNATURE not in names:
        report.findings.append(Finding("signature", SIGNATURE, "missing: the manifest is not signed"))
        return
    signature = archive.read(SIGNATURE)
    if public_key is None:
        try:
            public_key = signing.public_key(report.key_id)
        except signing.SigningKeyError as exc:
            report.findings.append(Finding("unknown_key", SIGNATURE, f"no key to check with: {exc}"))
            return
        if public_key is None:
            report.findings.append(
                Finding(
                    "unknown_key",
                    SIGNATURE,
                    f"signed with key id {report.key_id!r}, which is neither this portal's current nor a retired key"
                    " (pass the signer's public key with --public-key)",
                )
            )
            return
    report.key_fingerprint = public_key.fingerprint
    if len(signature) == 64 and public_key.verify(signature, manifest_data):
        return
    if recorded and recorded != manifest_sha256:
        report.findings.append(
            Finding(
                "manifest",
                MANIFEST,
                f"altered: SHA-256 {manifest_sha256}, the portal recorded {recorded}; the signature does not verify",
            )
        )
    elif recorded:
        report.findings.append(
            Finding(
                "signature", SIGNATURE, "bad signature: manifest.json is the one recorded, but the signature is not"
            )
        )
    else:
        report.findings.append(
            Finding(
                "signature",
                SIGNATURE,
                f"bad signature or altered manifest: the signature does not verify with key {public_key.key_id}"
                f" ({public_key.fingerprint})",
            )
        )
