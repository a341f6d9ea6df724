"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py portal.wsgi:application`.

Sizing (README, "Scaling"): `GUNICORN_WORKERS` processes of `GUNICORN_THREADS` threads each; every
thread may hold a database connection, so workers x threads x machines must stay under PostgreSQL's
`max_connections` with room for the task cluster (each sync holds two).

Metrics: prometheus-client's multiprocess mode adds up the counters of every process that shares
`PROMETHEUS_MULTIPROC_DIR` (the web workers and, started with the same variable, the `qcluster`
processes on this machine). At start the files of processes that are gone are removed: their counts
start again from zero, which Prometheus reads as a counter reset.

Start-up: the master runs the system checks (portal/startup.py) before it binds the port and refuses
to start when they fail. They run in a child process: a master that imported Django would hand its
modules to every worker it forks, and a HUP would no longer reload the code.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Django logs each request as a JSON line with its request id (governance.ops.middleware); gunicorn's
# own access log would say the same without it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Workers are not recycled: each process leaves its counters in the metrics directory until restart.
max_requests = 0

metrics_dir = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "governance-portal-metrics"))
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    checked = subprocess.run([sys.executable, "-m", "portal.startup", "gunicorn"], cwd=ROOT, check=False)
    if checked.returncode != 0:
        # gunicorn prints a RuntimeError from this hook as "Error: ..." and exits 1.
        raise RuntimeError("gunicorn does not start: the system checks failed (above).")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for path in metrics_dir.glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def post_worker_init(worker):
    # The application is loaded: the rest of what requests import, then out of the collector's way.
    from portal.warm import warm_and_freeze

    warm_and_freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
