from __future__ import annotations

import json
import subprocess
import zipfile

import pytest
from django.core.management import CommandError, call_command

from governance.audit import signing
from governance.audit.models import AuditEvent
from governance.audit.services import record
from governance.evidence import sources
from tests.evidence.conftest import sample_files

pytestmark = pytest.mark.django_db


def sample_source(subject_id: str) -> sources.Source:
    if subject_id != "7":
        raise sources.NotFound(f"No sample {subject_id}.")
    events = AuditEvent.objects.filter(object_type="tests.sample", object_id="7")
    return sources.Source(
        subject_type="tests.sample", subject_id="7", subject_repr="Sample 7", subject={"type": "sample", "id": 7},
        files=[*sample_files(), *sources.audit_files(events, prefix="campaign-audit/")],
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _sample_kind():
    sources.register("sample", "tests.evidence.test_export.sample_source")
    yield
    sources._BUILDERS.pop("sample", None)


def test_the_command_writes_a_package_that_verifies_with_its_audit_events_and_checkpoint(tmp_path, capsys):
    first = record(actor=None, action="sample.launch", object_type="tests.sample", object_id="7")
    record(actor=None, action="other.thing")
    last = record(actor=None, action="sample.close", object_type="tests.sample", object_id="7")

    call_command("export_evidence", "7", out=str(tmp_path / "out.zip"), kind="sample")
    summary = json.loads(capsys.readouterr().out)
    assert summary["out"] == str(tmp_path / "out.zip") and summary["key_id"] == "test-key-1"

    call_command("verify_evidence", str(tmp_path / "out.zip"))
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        events = [json.loads(line) for line in archive.read("campaign-audit/events.jsonl").splitlines()]
        statement = archive.read("campaign-audit/checkpoint.json")
        signature = archive.read("campaign-audit/checkpoint.sig")
    assert [(e["sequence"], e["hash"]) for e in events] == [(first.sequence, first.hash), (last.sequence, last.hash)]
    checkpoint = json.loads(statement)
    assert checkpoint["sequence"] >= last.sequence and checkpoint["key_id"] == "test-key-1"
    # The checkpoint verifies with the standard tool too.
    (tmp_path / "key.pem").write_text(signing.current_key().public.pem)
    (tmp_path / "cp.json").write_bytes(statement)
    (tmp_path / "cp.sig").write_bytes(signature)
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "key.pem"), "-rawin",
         "-in", str(tmp_path / "cp.json"), "-sigfile", str(tmp_path / "cp.sig")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "Signature Verified Successfully" in result.stdout


def test_an_unknown_campaign_or_kind_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No sample 8") as excinfo:
        call_command("export_evidence", "8", out=str(tmp_path / "out.zip"), kind="sample")
    assert excinfo.value.returncode == 2
    with pytest.raises(CommandError, match="No evidence source for 'nothing'"):
        call_command("export_evidence", "1", out=str(tmp_path / "out.zip"), kind="nothing")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_evidence", "7", out=str(tmp_path / "missing" / "out.zip"), kind="sample")
    assert not (tmp_path / "out.zip").exists()
