"""Under gunicorn with several workers, /metrics adds up every worker's counters (multiprocess mode)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}" if not str(db["NAME"]).startswith(("file:", ":memory:")) else ""
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, response.read().decode()


def test_it_adds_up_the_counters_of_every_gunicorn_worker(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "3",
        "GUNICORN_THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "DATABASE_URL": _database_url() or "sqlite:///" + str(tmp_path / "none.sqlite3"),
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_999999.db").write_bytes(b"")  # left by a process that is gone
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "portal.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,  # a file: a pipe nobody reads would fill and block the workers
    )
    try:
        deadline = time.monotonic() + 120
        probes = 0
        while True:
            probes += 1
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.log").read_text()[-2000:])
                time.sleep(0.3)
        # Six at a time: one after another, a single idle worker may win every accept on a busy machine.
        # The first worker may answer before the others have booted, so batches go on (to a deadline)
        # until a second worker has counted something.
        sent = 0
        deadline = time.monotonic() + 90
        while True:
            with ThreadPoolExecutor(6) as pool:
                list(pool.map(lambda _n: _get(f"http://127.0.0.1:{port}/healthz"), range(30)))
            sent += 30
            pids = {p.stem.rsplit("_", 1)[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
            if len(pids) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "999999" not in pids
        assert len(pids) >= 2, "the requests should have reached more than one worker"
        for _ in range(5):  # whichever worker answers the scrape reports every worker's counts
            status, text = _get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            served = re.search(r'^governance_http_requests_total\{(?=[^}]*view="healthz")[^}]*\} (\S+)$', text, re.M)
            assert served is not None, text[-3000:]
            # what was sent, and the readiness probes that reached Django (one answered; a slow one may have timed out)
            assert sent + 1 <= float(served.group(1)) <= sent + probes
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
