from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from governance.audit import signing
from governance.audit.models import AuditEvent
from governance.evidence.models import EvidencePackage
from governance.evidence.package import DeflateAhead, PackageError, PackageFile, PackageResult, stream_package
from governance.evidence.verify import verify_package
from tests.evidence.conftest import HOSTILE, rewrite

pytestmark = pytest.mark.django_db


def test_a_package_holds_the_files_sums_and_a_signed_manifest(package):
    stored, path = package
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest_data = archive.read("manifest.json")
        sums = archive.read("SHA256SUMS").decode()
        items = archive.read("items.csv")
        signature = archive.read("manifest.sig")
    assert names == ["items.csv", "items.jsonl", "population.json", "audit/events.jsonl", "SHA256SUMS",
                     "manifest.json", "manifest.sig"]  # fmt: skip
    manifest = json.loads(manifest_data)
    assert manifest["format"] == "governance-evidence/1"
    assert manifest["package_id"] == str(stored.pk)
    assert manifest["generator"] == {"name": "iam-governance-portal", "version": "0.1.0"}
    assert manifest["subject"] == {"type": "sample", "id": 7}
    assert manifest["key_id"] == "test-key-1"
    assert manifest["key_fingerprint_sha256"] == signing.current_key().public.fingerprint
    listed = {f["path"]: f for f in manifest["files"]}
    assert listed["items.csv"] == {"path": "items.csv", "sha256": hashlib.sha256(items).hexdigest(), "size": len(items)}
    assert f"{hashlib.sha256(items).hexdigest()}  items.csv\n" in sums
    assert "SHA256SUMS" in listed
    assert signing.current_key().public.verify(signature, manifest_data)
    # What the portal recorded is what it wrote.
    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stored.manifest_sha256 == hashlib.sha256(manifest_data).hexdigest()
    event = AuditEvent.objects.get(action="evidence.generate")
    assert event.after["sha256"] == stored.sha256 and event.object_id == str(stored.pk)


def test_hostile_names_are_neutralized_in_csv_and_kept_in_jsonl(package):
    _, path = package
    with zipfile.ZipFile(path) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("items.csv").decode("utf-8"), newline="")))
        lines = [json.loads(line) for line in archive.read("items.jsonl").splitlines()]
    names = [row[1] for row in rows[1:]]
    for cell in names:
        assert cell[:1] not in "=+-@\t\r＝", cell
    assert names[0] == "'" + HOSTILE[0] and names[4] == "'\tTabbed" and names[5] == "'\rReturn"
    assert "plain-role" in names and "evil\u202egnp.exe" in names  # untouched when harmless
    assert rows[1][3] == "0"  # numbers stay numbers
    assert [line["principal_name"] for line in lines[: len(HOSTILE)]] == HOSTILE


def test_it_verifies_and_says_what_it_checked(package, capsys):
    stored, path = package
    report = verify_package(path)
    assert report.ok, report.findings
    assert set(report.files_checked) == {
        "items.csv",
        "items.jsonl",
        "population.json",
        "audit/events.jsonl",
        "SHA256SUMS",
    }
    call_command("verify_evidence", str(path))
    out = capsys.readouterr().out
    assert f"package {stored.pk} verified" in out
    assert "manifest.json signature: valid, Ed25519, key test-key-1" in out
    assert "5 files match the manifest's SHA-256 and size; none missing, none added" in out


def test_it_verifies_against_a_public_key_given_apart(package, tmp_path, capsys):
    _, path = package
    (tmp_path / "portal.pem").write_text(signing.current_key().public.pem)
    call_command("verify_evidence", str(path), public_key=str(tmp_path / "portal.pem"))
    assert "verified" in capsys.readouterr().out


def _fails(path, *args, **kwargs) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_evidence", str(path), *args, **kwargs)
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def test_it_names_a_changed_file(package, tmp_path):
    _, path = package
    forged = rewrite(path, tmp_path / "forged.zip", replace={"items.csv": b"id,decision\n1,keep\n"})
    message = _fails(forged)
    assert "changed: items.csv: SHA-256" in message and "1 problem(s)" in message


def test_it_names_a_removed_file(package, tmp_path):
    _, path = package
    forged = rewrite(path, tmp_path / "forged.zip", replace={"population.json": None})
    assert "removed: population.json: listed in the manifest but missing" in _fails(forged)


def test_it_names_an_added_file(package, tmp_path):
    _, path = package
    forged = rewrite(path, tmp_path / "forged.zip", add={"extra/decisions.csv": b"x"})
    assert "added: extra/decisions.csv: in the zip but not in the manifest" in _fails(forged)


def test_it_names_an_altered_manifest(package, tmp_path):
    """items.csv changed and its hash in the manifest updated to match: the signature gives it away."""
    stored, path = package
    new_items = b"id,decision\n1,keep\n"
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        if entry["path"] == "items.csv":
            entry.update(sha256=hashlib.sha256(new_items).hexdigest(), size=len(new_items))
    forged = rewrite(path, tmp_path / "forged.zip",
                     replace={"items.csv": new_items, "manifest.json": json.dumps(manifest).encode()})  # fmt: skip
    message = _fails(forged)
    assert (
        f"manifest: manifest.json: altered: SHA-256 {hashlib.sha256(json.dumps(manifest).encode()).hexdigest()}"
        in message
    )
    assert f"the portal recorded {stored.manifest_sha256}" in message
    # Without the portal's record (an auditor with only the public key), still refused.
    (tmp_path / "portal.pem").write_text(signing.current_key().public.pem)
    assert "bad signature or altered manifest" in _fails(forged, public_key=str(tmp_path / "portal.pem"))


def test_it_names_a_bad_signature(package, tmp_path):
    _, path = package
    forged = rewrite(path, tmp_path / "forged.zip", replace={"manifest.sig": bytes(64)})
    assert "signature: manifest.sig: bad signature: manifest.json is the one recorded" in _fails(forged)
    truncated = rewrite(path, tmp_path / "short.zip", replace={"manifest.sig": b"\x01\x02"})
    assert "signature: manifest.sig" in _fails(truncated)


def test_it_refuses_a_package_signed_by_an_unknown_key(package, tmp_path, settings):
    _, path = package
    signing.generate_key_file(tmp_path / "other.pem")
    settings.SIGNING_KEY_FILE = str(tmp_path / "other.pem")
    settings.SIGNING_KEY_ID = "another-portal"
    message = _fails(path)
    assert "unknown_key: manifest.sig: signed with key id 'test-key-1', which is neither" in message


def test_a_wrong_public_key_is_a_bad_signature(package, tmp_path):
    _, path = package
    signing.generate_key_file(tmp_path / "other.pem")
    other = signing._load_private(tmp_path / "other.pem").public_key()
    (tmp_path / "other-public.pem").write_text(signing.PublicKey("x", other, False).pem)
    assert "does not verify" in _fails(path, public_key=str(tmp_path / "other-public.pem"))


def test_a_missing_manifest_or_non_zip_is_refused(package, tmp_path):
    _, path = package
    assert "removed: manifest.json" in _fails(
        rewrite(path, tmp_path / "no-manifest.zip", replace={"manifest.json": None})
    )
    (tmp_path / "not.zip").write_bytes(b"PK? no")
    assert "unreadable" in _fails(tmp_path / "not.zip")
    with pytest.raises(CommandError, match="does not exist") as excinfo:
        call_command("verify_evidence", str(tmp_path / "absent.zip"))
    assert excinfo.value.returncode == 2


def test_the_zip_streams_before_the_rows_end():
    """The first bytes leave before the file's last row is produced: nothing waits for the whole."""
    produced = []

    def rows():
        for n in range(200_000):
            produced.append(n)
            yield f"{n},{'x' * 40}\n".encode()

    stream = stream_package([PackageFile("big.csv", rows)], subject={})
    next(stream)
    assert 0 < len(produced) < 200_000
    result = PackageResult()
    assert sum(len(c) for c in stream_package([PackageFile("big.csv", rows)], subject={}, result=result)) == result.size


@pytest.mark.parametrize("path", ["manifest.json", "../etc/passwd", "/abs", "a//b", "SHA256SUMS", ""])
def test_bad_paths_are_refused(path):
    with pytest.raises(PackageError):
        list(stream_package([PackageFile(path, lambda: [b"x"])], subject={}))


def test_a_failed_generation_records_nothing_and_leaves_no_file(evidence_dir):
    from governance.evidence.services import generate_package

    def broken():
        yield b"a"
        raise RuntimeError("the database went away")

    before = set(evidence_dir.iterdir())
    with pytest.raises(RuntimeError):
        generate_package(subject_type="t", subject_id="1", subject_repr="t", subject={},
                         files=[PackageFile("a.csv", broken)], actor=None)  # fmt: skip
    assert set(evidence_dir.iterdir()) == before
    assert not EvidencePackage.objects.exists()


def test_a_file_deflated_ahead_is_the_same_file_in_the_package(db):
    data = [f"row {n}, ö\n".encode() * 50 for n in range(200)]
    ahead = DeflateAhead(lambda: iter(data))
    result = PackageResult()
    files = [PackageFile("ahead.csv", ahead.result), PackageFile("plain.csv", lambda: data)]
    with zipfile.ZipFile(io.BytesIO(b"".join(stream_package(files, subject={}, result=result)))) as archive:
        assert archive.read("ahead.csv") == archive.read("plain.csv") == b"".join(data)
    assert result.files[0].sha256 == result.files[1].sha256 and result.files[0].size == result.files[1].size


def test_a_failure_deflating_ahead_is_raised_by_the_file_and_a_cancel_drops_the_file():
    def broken():
        yield b"a"
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        DeflateAhead(broken).result()
    ahead = DeflateAhead(lambda: iter([b"x"] * 10))
    ahead.cancel()
    assert ahead._file.closed and not ahead.running()
