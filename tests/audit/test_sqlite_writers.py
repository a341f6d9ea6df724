"""Separate processes writing to one SQLite file keep a single chain (BEGIN IMMEDIATE serializes them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from governance.audit.models import AuditCheckpoint, AuditEvent
# Only the tables the writers touch (the user table because SQLite checks the foreign key's table).
with connection.schema_editor() as editor:
    editor.create_model(get_user_model())
    editor.create_model(AuditEvent)
    editor.create_model(AuditCheckpoint)
"""

WRITER = """
import sys, time
import django
django.setup()
from governance.audit.services import record
start_at, worker, count = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))
for number in range(count):
    record(actor=None, action="test.concurrent", object_type="t", object_id=f"{worker}-{number}")
"""

VERIFY = """
import django
django.setup()
from governance.audit.models import AuditEvent
from governance.audit.verify import verify_chain
report = verify_chain(chunk_size=7)
print(report.events, report.intact, report.problem)
print(sorted(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, report.events + 1)))
"""


def _python(code: str, env: dict, *args: str) -> subprocess.Popen:
    pipe = subprocess.PIPE
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=pipe, stderr=pipe, text=True)


def _finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def test_processes_writing_to_one_sqlite_file_keep_a_single_chain(tmp_path):
    workers, per_worker = 4, 15
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        "SIGNING_KEY_FILE": str(tmp_path / "signing-key.pem"),
    }
    _finish(_python(SETUP, env))

    start_at = str(time.time() + 3)  # every writer has started Python and Django by then
    writers = [_python(WRITER, env, start_at, str(index), str(per_worker)) for index in range(workers)]
    for writer in writers:
        _finish(writer)

    assert _finish(_python(VERIFY, env)).split("\n")[:2] == [f"{workers * per_worker} True None", "True"]
