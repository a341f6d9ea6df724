"""The README's standard-tools verification, run as written (bash, openssl, sha256sum, unzip, grep, diff)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from governance.audit import signing
from tests.evidence.conftest import rewrite

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "openssl", "sha256sum", "unzip")), reason="tools"),
]

README = Path(__file__).resolve().parents[2] / "README.md"


def _block() -> str:
    text = README.read_text()
    match = re.search(r"<!-- tested: evidence-standard-tools -->\n```sh\n(.*?)```", text, re.S)
    assert match, "the README's tested block is missing"
    return match.group(1)


def _run(workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _block()], cwd=workdir, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def workdir(package, tmp_path):
    _, path = package
    work = tmp_path / "auditor"
    work.mkdir()
    shutil.copy(path, work / "package.zip")
    (work / "portal-key.pem").write_text(signing.current_key().public.pem)
    return work


def test_the_readme_commands_verify_a_package(workdir):
    result = _run(workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert signing.current_key().public.fingerprint in result.stdout
    assert "Signature Verified Successfully" in result.stdout
    assert "items.csv: OK" in result.stdout and "audit/events.jsonl: OK" in result.stdout
    assert "SHA256SUMS: OK (in the signed manifest)" in result.stdout
    assert "no file added" in result.stdout


def test_they_fail_on_a_changed_file(workdir):
    rewrite(workdir / "package.zip", workdir / "forged.zip", replace={"items.jsonl": b"{}\n"})
    (workdir / "forged.zip").replace(workdir / "package.zip")
    result = _run(workdir)
    assert result.returncode != 0
    assert "items.jsonl: FAILED" in result.stdout


def test_they_fail_on_a_removed_file(workdir):
    rewrite(workdir / "package.zip", workdir / "forged.zip", replace={"population.json": None})
    (workdir / "forged.zip").replace(workdir / "package.zip")
    result = _run(workdir)
    assert result.returncode != 0
    assert "population.json: FAILED open or read" in result.stdout


def test_they_fail_on_an_added_file(workdir):
    rewrite(workdir / "package.zip", workdir / "forged.zip", add={"extra.csv": b"x"})
    (workdir / "forged.zip").replace(workdir / "package.zip")
    result = _run(workdir)
    assert result.returncode != 0
    assert "> extra.csv" not in result.stdout and "< extra.csv" in result.stdout


def test_they_fail_on_an_altered_manifest_or_signature(workdir):
    rewrite(workdir / "package.zip", workdir / "forged.zip", replace={"manifest.sig": bytes(64)})
    (workdir / "forged.zip").replace(workdir / "package.zip")
    result = _run(workdir)
    assert result.returncode != 0
    assert "Signature Verified Successfully" not in result.stdout
    assert "Signature Verification Failure" in result.stdout + result.stderr


def test_they_fail_on_a_manifest_altered_to_match_a_changed_file(workdir):
    """items.csv changed and its line in SHA256SUMS and the manifest rewritten to match: only the
    signature gives it away, and openssl refuses before sha256sum runs."""
    import hashlib
    import json
    import zipfile

    new_items = b"item_id,decision\r\n1,keep\r\n"
    digest = hashlib.sha256(new_items).hexdigest()
    with zipfile.ZipFile(workdir / "package.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        sums = archive.read("SHA256SUMS").decode()
    old = next(e for e in manifest["files"] if e["path"] == "items.csv")["sha256"]
    sums = sums.replace(old, digest).encode()
    for entry in manifest["files"]:
        if entry["path"] == "items.csv":
            entry.update(sha256=digest, size=len(new_items))
        if entry["path"] == "SHA256SUMS":
            entry.update(sha256=hashlib.sha256(sums).hexdigest(), size=len(sums))
    forged = json.dumps(manifest, sort_keys=True, indent=2).encode() + b"\n"
    rewrite(workdir / "package.zip", workdir / "forged.zip",
            replace={"items.csv": new_items, "SHA256SUMS": sums, "manifest.json": forged})  # fmt: skip
    (workdir / "forged.zip").replace(workdir / "package.zip")
    result = _run(workdir)
    assert result.returncode != 0
    assert "Signature Verification Failure" in result.stdout + result.stderr
    assert "items.csv: OK" not in result.stdout
