"""The test suite leaves nothing behind: its databases are dropped even when a thread kept a connection.

A small suite run in a subprocess leaves a connection open on a thread that is still alive when
the session ends (what a live-server request thread or a write-behind thread does when it is
slow to finish). Without `tests.fixtures.database` the drop fails with "being accessed by other
users" and the database stays; with it the run passes and the database is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]

LEAKY_SUITE = """
import threading

import pytest
from django.db import connection

pytest_plugins = ["tests.fixtures.database"]
release = threading.Event()


@pytest.mark.django_db(transaction=True)
def test_a_thread_keeps_its_connection():
    opened = threading.Event()

    def hold():
        connection.ensure_connection()
        opened.set()
        release.wait(60)  # still alive, connection open, when the session ends

    threading.Thread(target=hold, daemon=True).start()
    assert opened.wait(30)
"""

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite test databases are files or memory; nothing refuses a drop"
)


def _database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


@pytest.mark.django_db
def test_the_test_database_is_dropped_although_a_thread_still_holds_a_connection(tmp_path):
    suite = tmp_path / "test_leaky.py"
    suite.write_text(LEAKY_SUITE)
    name = f"test_teardown_{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "TEST_DATABASE_NAME": name, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "no:xdist", "-p", "no:playwright", "-q",
         "--no-migrations", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output
    assert "being accessed by other users" not in output
    assert not _database_exists(name)
