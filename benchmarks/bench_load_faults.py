"""Load and faults, against loopback only and bounded in time (issue 16, "Load and faults").

In a scratch PostgreSQL database (`<name>_bench_load_faults`, created and dropped here), with the
emulator in its own process holding the 12-account demo organization:

- throttling: a clean sync, then the same sync with the emulator answering every
  BENCH_FAULTS_THROTTLE_EVERY-th AWS request (default 4) with the service's throttling error. The
  throttled sync must succeed (the clients retry) and leave the same inventory; it is slower.
- killed sync: 20 IAM users are added in AWS and `manage.py qcluster` (the portal's settings,
  Q_WORKERS as set) starts on the scratch database. The sync is queued as "Sync now" queues it
  (`request_sync`), and the cluster's worker process running it (the one talking to AWS) is
  SIGKILLed once the sync has run half as long as a clean one. The cluster's guard starts another
  worker; while the dead run's heartbeat is fresh "Sync now" is refused and the hourly schedule's
  task is skipped by the new worker. The cluster is stopped; the web phases below run while the
  heartbeat ages in real time; then a new qcluster starts, and once the heartbeat is DEAD_AFTER old
  "Sync now" runs again: the dead run is marked failed, the sync succeeds and holds the new users,
  and a further sync changes nothing (the state converged).
- reviewers: BENCH_LOAD_REVIEWERS (default 50) threads, each a reviewer with its own API token,
  decide their items through `POST /api/v1/review-items/{id}/decision/` against gunicorn
  (GUNICORN_WORKERS, default 4, x 2 threads) for BENCH_LOAD_SECONDS (default 60). Every tenth
  decision is sent twice with the same Idempotency-Key (a double submit). Afterwards every accepted
  decision must be in the database with exactly one audit event, and the audit chain must verify.
- database restart: a PostgreSQL of its own (initdb into a temporary directory with the machine's
  binaries, a free loopback port, run as the `postgres` OS user when root; removed afterwards, also
  on failure, Ctrl-C or SIGTERM) gets a copy of the scratch database (pg_dump), and a second
  gunicorn serves it to 10 reviewers. 5 s in, that server is stopped (`pg_ctl stop -m fast`) and
  started again BENCH_FAULTS_OUTAGE_SECONDS (default 10) later. Requests must fail cleanly (an HTTP
  error answer, none hanging past the client's timeout), `/health/` must say 503, requests must
  succeed again once it is back, and every accepted decision must be in that database with one
  audit event. The machine's own server is only asked to create, dump and drop the scratch database.

Figures are JSON (benchmarks/results/bench_load_faults.json) with the load average beside them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from governance.aws import emulator, session
from governance.inventory.models.sync import DEAD_AFTER

ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 1)


def _database_url(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_load_faults needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    # A SIGTERM unwinds like Ctrl-C, so the finally blocks stop what was started and remove the private server.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    load_start = os.getloadavg()
    port = _free_port()
    process = emulator.start_subprocess(port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    override = override_settings(AWS_ENDPOINT_URL=url)
    override.enable()
    session.reset()
    settings_dict = connection.settings_dict
    scratch = f"{settings_dict['NAME']}_bench_load_faults"
    settings_dict.setdefault("TEST", {})["NAME"] = scratch
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    var = ROOT / "var" / "bench_load_faults"
    var.mkdir(parents=True, exist_ok=True)
    result: dict = {}
    killed = None
    try:
        from governance.aws.demo import build

        build(accounts=12, seed=42)
        result["throttling"] = _throttling(url)
        killed = _KilledSync(url, scratch, result["throttling"]["clean_sync"]["seconds"], var)
        killed.kill()
        # The dead run's heartbeat ages in real time while the web phases run; then the cluster restarts.
        work = _campaign(
            int(os.environ.get("BENCH_LOAD_REVIEWERS", "50")), int(os.environ.get("BENCH_LOAD_ITEMS", "400"))
        )
        result["reviewers"], accepted = _reviewers(scratch, work, var)
        result["database_restart"] = _database_restart(scratch, work, accepted, var)
        killed.resume()
        result["killed_sync"] = killed.result
    finally:
        if killed is not None:
            killed.close()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        override.disable()
        session.reset()
        process.terminate()
        process.wait(timeout=10)
        signal.signal(signal.SIGTERM, previous)
    result["load_average_start"] = [round(x, 2) for x in load_start]
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu_count"] = os.cpu_count()
    result["machine"] = "shared with other engineers' work; figures vary with the load average"
    return result


def _exit_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt("SIGTERM")


# --- inventory state ------------------------------------------------------------------------------


def _state() -> str:
    """A digest of every present inventory row (its natural key and content hash)."""
    from django.apps import apps

    digest = hashlib.sha256()
    for model in sorted(apps.get_app_config("inventory").get_models(), key=lambda m: m._meta.db_table):
        names = {f.name for f in model._meta.get_fields()}
        if not {"key", "content_hash", "removed_at"} <= names:
            continue
        rows = model.objects.filter(removed_at__isnull=True).order_by("key").values_list("key", "content_hash")
        digest.update(model._meta.db_table.encode())
        for key, content_hash in rows:
            digest.update(f"{key}:{content_hash};".encode())
    return digest.hexdigest()


def _sync() -> dict:
    from governance.inventory.sync import sync_organization

    started = time.perf_counter()
    run = sync_organization()
    return {
        "status": run.status,
        "seconds": round(time.perf_counter() - started, 2),
        "api_calls": run.api_calls,
        "errors": len(run.errors),
    }


def _throttling(url: str) -> dict:
    every = int(os.environ.get("BENCH_FAULTS_THROTTLE_EVERY", "4"))
    clean = _sync()
    before = _state()
    emulator.throttle(url, every=every)
    try:
        throttled = _sync()
    finally:
        counts = emulator.throttle(url, every=0)
    return {
        "every_nth_request_throttled": every,
        "clean_sync": clean,
        "throttled_sync": {**throttled, "throttled_answers": counts["throttled"], "aws_requests": counts["requests"]},
        "completed": throttled["status"] == "succeeded" and not throttled["errors"],
        "same_inventory": _state() == before,
        "slowdown": round(throttled["seconds"] / clean["seconds"], 2) if clean["seconds"] else None,
    }


# --- a task-cluster worker killed mid-sync -----------------------------------------------------------


def _start_cluster(url: str, scratch: str, log_path: Path) -> subprocess.Popen:
    """`manage.py qcluster` with the portal's settings (Q_WORKERS etc. as set) on the scratch database."""
    env = {**os.environ, "DATABASE_URL": _database_url(scratch), "AWS_ENDPOINT_URL": url, "LOG_LEVEL": "INFO"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _stop_cluster(cluster: subprocess.Popen | None) -> None:
    if cluster is None or cluster.poll() is not None:
        return
    os.killpg(cluster.pid, signal.SIGTERM)  # as a deploy stops it: the current tasks finish
    try:
        cluster.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)


def _processes_under(root: int) -> list[int]:
    """Every live descendant of `root`, from /proc (no psutil here)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def _talking_to(pids: list[int], port: int) -> list[int]:
    """Those of `pids` holding a TCP connection to 127.0.0.1:`port` (here: the emulator, AWS)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                inodes.add(f"socket:[{fields[9]}]")
    out = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    out.append(pid)
                    break
            except OSError:
                continue
    return out


def _wait_for(condition, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    return None


def _finished_run(after_id: int, timeout: float):
    from governance.inventory.models import SyncRun, SyncStatus

    return _wait_for(
        lambda: SyncRun.objects.filter(pk__gt=after_id).exclude(status=SyncStatus.RUNNING).order_by("pk").first(),
        timeout,
        every=0.25,
    )


def _run_figures(run) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "seconds": round(run.seconds, 2) if run.seconds is not None else None,
        "api_calls": run.api_calls,
        "changes": run.changes,
        "errors": len(run.errors),
    }


class _KilledSync:
    """A sync queued as "Sync now" queues it, run by `manage.py qcluster`, its worker SIGKILLed midway.

    `kill()` does the first half; `resume()`, called once the web phases have let the dead run's
    heartbeat age for real, restarts the cluster and runs the sync twice more.
    """

    def __init__(self, url: str, scratch: str, clean_seconds: float, var: Path) -> None:
        self.url, self.scratch, self.clean_seconds = url, scratch, clean_seconds
        self.port = int(url.rsplit(":", 1)[1])
        self.log_path = var / "qcluster.log"
        self.log_path.write_bytes(b"")
        self.cluster: subprocess.Popen | None = None
        self.result: dict = {
            "how": "qcluster worker SIGKILLed mid-sync; the cluster restarted (SIGTERM, then a new qcluster)"
        }

    def kill(self) -> None:
        from django_q.models import Task
        from django_q.tasks import async_task

        from governance.authz.models import User
        from governance.inventory.models import SyncRun, SyncStatus, SyncTrigger
        from governance.inventory.services.sync_requests import SyncAlreadyRequested, request_sync

        iam = session.management_client("iam")
        for n in range(20):
            iam.create_user(UserName=f"bench-killed-sync-{n}")
        self.operator = User.objects.create(username="bench-operator", email="operator@example.com")
        self.before_id = SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        connection.close()
        self.cluster = _start_cluster(self.url, self.scratch, self.log_path)
        request_sync(actor=self.operator)  # what the "Sync now" button does: queued once this commits
        queued_at = time.monotonic()
        run = _wait_for(lambda: SyncRun.objects.filter(pk__gt=self.before_id, status=SyncStatus.RUNNING).first(), 60)
        if run is None:
            raise RuntimeError("the cluster did not start the sync: " + self.log_path.read_text()[-2000:])
        seen = time.monotonic()
        # The worker running the sync is the cluster's process talking to AWS (the emulator).
        workers = _wait_for(lambda: _talking_to(_processes_under(self.cluster.pid), self.port), 10, every=0.05)
        cluster_processes = _processes_under(self.cluster.pid)

        # Killed once it has written some accounts and not all (or, if its batches are too large to
        # catch that, halfway through as long as a clean sync takes once the accounts are counted).
        def midway():
            done, total = SyncRun.objects.filter(pk=run.pk).values_list("accounts_done", "accounts_total").get()
            if done and done == total:
                return "finished"
            if total and (done or time.monotonic() - seen >= self.clean_seconds / 2):
                return (done, total)
            return None

        where = _wait_for(midway, 120, every=0.02)
        killed_at = None
        if workers and isinstance(where, tuple):
            os.kill(workers[0], signal.SIGKILL)
            killed_at = {
                "after_seconds": round(time.monotonic() - seen, 2),
                "seconds_from_queued": round(time.monotonic() - queued_at, 2),
                "accounts_done": where[0],
                "accounts_total": where[1],
                "worker_pid": workers[0],
                "cluster_processes": len(cluster_processes),
            }
        self.killed_id = run.pk
        # The cluster's guard notices the dead worker and starts another in its place.
        reincarnated = _wait_for(lambda: "reincarnated worker" in self.log_path.read_text(errors="replace"), 15)
        respawned = _wait_for(
            lambda: (
                workers
                and workers[0] not in (now := _processes_under(self.cluster.pid))
                and len(now) >= len(cluster_processes)
            ),
            15,
        )
        run.refresh_from_db()
        # While the dead run's heartbeat is fresh: "Sync now" is refused, and the hourly schedule's
        # task (as the scheduler queues it) is taken by the reincarnated worker and skipped.
        try:
            request_sync(actor=self.operator)
            refused = False
        except SyncAlreadyRequested:
            refused = True
        task_id = async_task("governance.inventory.tasks.sync_org", trigger=SyncTrigger.SCHEDULE)
        task = _wait_for(lambda: Task.objects.filter(id=task_id).first(), 60, every=0.25)
        self.stale_at = run.heartbeat_at + DEAD_AFTER
        self.result.update(
            {
                "killed_mid_sync": killed_at is not None,
                "killed_at": killed_at,
                "cluster_reincarnated_worker": bool(reincarnated and respawned),
                "killed_run_after_kill": run.status,
                "next_sync_refused_while_heartbeat_fresh": refused,
                "scheduled_task_while_heartbeat_fresh": task.result if task is not None else "not run in 60 s",
            }
        )
        _stop_cluster(self.cluster)
        self.cluster = None

    def resume(self) -> None:
        from governance.inventory.models import Principal, SyncRun
        from governance.inventory.services.sync_requests import request_sync

        connection.close()
        self.cluster = _start_cluster(self.url, self.scratch, self.log_path)
        # The dead run blocks until its heartbeat is DEAD_AFTER old, in real time.
        waited = max(0.0, (self.stale_at - timezone.now()).total_seconds() + 1)
        time.sleep(waited)
        killed = SyncRun.objects.get(pk=self.killed_id)
        age = (timezone.now() - killed.heartbeat_at).total_seconds()
        request_sync(actor=self.operator)
        resumed = _finished_run(self.killed_id, 300)
        after_resume = _state()
        request_sync(actor=self.operator)
        again = _finished_run(resumed.pk, 300) if resumed else None
        killed.refresh_from_db()
        self.result.update(
            {
                "waited_for_heartbeat_seconds": round(waited, 1),
                "heartbeat_age_at_next_sync_seconds": round(age, 1),
                "killed_run_marked": killed.status,
                "killed_run_error": (killed.errors or [{}])[0].get("error", ""),
                "resumed_sync": _run_figures(resumed) if resumed else None,
                "further_sync": _run_figures(again) if again else None,
                "converged": bool(
                    resumed
                    and again
                    and resumed.status == "succeeded"
                    and again.status == "succeeded"
                    and again.changes == 0
                    and _state() == after_resume
                ),
                "new_users_present": Principal.objects.present().filter(name__startswith="bench-killed-sync-").count(),
            }
        )
        _stop_cluster(self.cluster)
        self.cluster = None

    def close(self) -> None:
        if self.cluster is not None and self.cluster.poll() is None:
            os.killpg(self.cluster.pid, signal.SIGKILL)
            self.cluster.wait(timeout=10)


# --- reviewers over HTTP --------------------------------------------------------------------------


def _campaign(reviewers: int, per_reviewer: int) -> list[tuple[str, list[int]]]:
    """A campaign with `per_reviewer` items for each reviewer; (token, item ids) per reviewer."""
    from governance.api.services import create_token
    from governance.authz.models import User
    from governance.reviews.models import Campaign, CampaignTemplate, ReviewItem

    template = CampaignTemplate.objects.create(name="bench-load", fallback_reviewer="fallback@example.com")
    now = timezone.now()
    campaign = Campaign.objects.create(
        template=template,
        name="Load",
        period="bench",
        launched_at=now,
        due_at=now + timedelta(days=14),
        attestation=template.attestation,
        close_action=template.close_action,
        remediation_mode=template.remediation_mode,
        item_count=reviewers * per_reviewer,
    )
    out = []
    for r in range(reviewers):
        email = f"reviewer{r}@example.com"
        user = User.objects.create(username=f"reviewer{r}", email=email)
        _, token = create_token(user=user, name="load", days=1, with_mfa=True, actor=user)
        items = ReviewItem.objects.bulk_create(
            ReviewItem(
                campaign=campaign,
                kind="role_policy",
                source_id=r * per_reviewer + n,
                principal_arn=f"arn:aws:iam::000000000000:role/r{r}-{n}",
                principal_name=f"r{r}-{n}",
                principal_kind="role",
                target_name="ReadOnlyAccess",
                reviewer_email=email,
                routed_by="account_owner",
                risk="low",
            )
            for n in range(per_reviewer)
        )
        out.append((token, [i.pk for i in items]))
    return out


class _Reviewer(threading.Thread):
    def __init__(self, port: int, token: str, items: list[int], until: float, log: _Log) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.items, self.until, self.log = port, token, items, until, log

    def _post(self, conn, path: str, body: dict, key: str) -> int:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        headers["Idempotency-Key"] = key
        started = time.perf_counter()
        try:
            conn.request("POST", path, json.dumps(body), headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status = -1 if isinstance(exc, TimeoutError) else 0
        self.log.add(status, time.perf_counter() - started, key)
        return status

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        n = 0
        while time.monotonic() < self.until and self.items:
            item = self.items.pop()
            decision = "revoke" if item % 2 else "keep"
            path = f"/api/v1/review-items/{item}/decision/"
            body = {"decision": decision, "justification": "load bench", "version": 0}
            key = f"bench-{item}"
            status = self._post(conn, path, body, key)
            if status == 200:
                self.log.accept(item)
                n += 1
                if n % 10 == 0:  # a double submit: same key, same body
                    self.log.double(self._post(conn, path, body, key))
            else:  # retried later with the same key: replayed if it was written, run again if not
                self.items.append(item)
                time.sleep(0.2)
        conn.close()


class _Log:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.latencies: list[float] = []
        self.accepted: set[int] = set()
        self.doubles: Counter = Counter()
        self.timeline: list[tuple[float, int, str]] = []

    def add(self, status: int, seconds: float, key: str = "") -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)
            self.timeline.append((time.monotonic(), status, key))

    def accept(self, item: int) -> None:
        with self.lock:
            self.accepted.add(item)

    def double(self, status: int) -> None:
        with self.lock:
            self.doubles[status] += 1


def _start_gunicorn(database_url: str, port: int, log_path: Path) -> subprocess.Popen:
    metrics = log_path.with_suffix(".metrics")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": os.environ.get("GUNICORN_WORKERS", "4"),
        "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "2"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",  # as in production: one JSON line per error, not a rendered traceback
    }
    shutil.rmtree(metrics, ignore_errors=True)  # counters of an earlier run would be added in
    metrics.mkdir(parents=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "portal.wsgi:application"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _get(port, "/healthz")[0] == 200:
            return server
        if server.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not start: " + log_path.read_text()[-2000:])


def _get(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, time.perf_counter() - started
    except (OSError, http.client.HTTPException):
        return 0, time.perf_counter() - started


# --- a PostgreSQL of this benchmark's own, restarted under load ---------------------------------------


def _postgres_bin() -> Path | None:
    """The newest of the machine's PostgreSQL binaries (/usr/lib/postgresql/<version>/bin)."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")]
    found = [p for p in found if p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


class _PrivatePostgres:
    """initdb into a temporary directory, serve it on a free loopback port, remove it afterwards.

    Run as the `postgres` OS user when this process is root (initdb refuses root). Never the
    machine's main server: only the scratch database is read from that one (pg_dump).
    """

    def __init__(self, binaries: Path, user: str) -> None:
        self.bin, self.user = binaries, user
        owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="bench-load-faults-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        if owner is not None:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.started = False

    def _run(self, tool: str, *args: str, timeout: float = 120) -> float:
        started = time.perf_counter()
        subprocess.run(
            [*self.prefix, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=timeout,
            start_new_session=True,  # Ctrl-C reaches this process only; the finally below stops the server
        )
        return round(time.perf_counter() - started, 2)

    def create(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                "max_connections = 100\n"
            )
        self.start()

    def start(self) -> float:
        self.started = True
        return self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> float:
        took = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.started = False
        return took

    def version(self) -> str:
        return subprocess.run(
            [str(self.bin / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()

    def remove(self) -> None:
        try:
            if self.started or (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        except (subprocess.SubprocessError, OSError):
            pass
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def copy_database(self, scratch: str) -> float:
        """The scratch database (schema and rows, as the reviewers left it) into this server."""
        s = connection.settings_dict
        env = {**os.environ, **({"PGPASSWORD": s["PASSWORD"]} if s.get("PASSWORD") else {})}
        dump = self.dir / "scratch.dump"
        started = time.perf_counter()
        subprocess.run(
            [str(self.bin / "pg_dump"), "-Fc", "-f", str(dump), "-h", s["HOST"] or "127.0.0.1",
             "-p", str(s["PORT"] or 5432), "-U", s["USER"], scratch],
            check=True, capture_output=True, timeout=300, env=env,
        )  # fmt: skip
        local = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        subprocess.run([str(self.bin / "createdb"), *local, scratch], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [str(self.bin / "pg_restore"), *local, "-d", scratch, "--no-owner", str(dump)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        dump.unlink()
        return round(time.perf_counter() - started, 2)

    def url(self, name: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{name}"


@contextmanager
def _default_database_on(port: int, name: str) -> Iterator[None]:
    """Point this process's default connection at another server for a while."""
    s = connection.settings_dict
    saved = {k: s.get(k) for k in ("HOST", "PORT", "NAME", "PASSWORD")}
    connection.close()
    s.update(HOST="127.0.0.1", PORT=str(port), NAME=name, PASSWORD="")
    try:
        yield
    finally:
        connection.close()
        s.update(saved)


def _stop_gunicorn(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def _reviewers(scratch: str, work: list[tuple[str, list[int]]], var: Path) -> tuple[dict, set[int]]:
    reviewers = len(work)
    seconds = int(os.environ.get("BENCH_LOAD_SECONDS", "60"))
    port = _free_port()
    connection.close()
    server = _start_gunicorn(_database_url(scratch), port, var / "gunicorn.log")
    try:
        load_log = _Log()
        started = time.monotonic()
        threads = [_Reviewer(port, token, items, started + seconds, load_log) for token, items in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        _stop_gunicorn(server)
    check = _check(load_log.accepted)
    load = {
        "reviewers": reviewers,
        "seconds": round(elapsed, 1),
        "decisions_accepted": len(load_log.accepted),
        "decisions_per_second": round(len(load_log.accepted) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(load_log.statuses.items())},
        "server_errors": sum(v for k, v in load_log.statuses.items() if k >= 500),
        "p50_ms": _percentile(load_log.latencies, 50),
        "p95_ms": _percentile(load_log.latencies, 95),
        "double_submits": {str(k): v for k, v in load_log.doubles.items()},
        **check,
        "gunicorn": {
            "workers": os.environ.get("GUNICORN_WORKERS", "4"),
            "threads": os.environ.get("GUNICORN_THREADS", "2"),
        },
    }
    return load, load_log.accepted


def _database_restart(scratch: str, work: list[tuple[str, list[int]]], accepted: set[int], var: Path) -> dict:
    """10 reviewers against gunicorn on a private PostgreSQL, which is stopped and started again."""
    binaries = _postgres_bin()
    if binaries is None:
        return {"skipped": "no PostgreSQL binaries under /usr/lib/postgresql/*/bin"}
    outage = int(os.environ.get("BENCH_FAULTS_OUTAGE_SECONDS", "10"))
    pg = _PrivatePostgres(binaries, connection.settings_dict["USER"])
    try:
        pg.create()
        connection.close()
        copy_seconds = pg.copy_database(scratch)
        port = _free_port()
        server = _start_gunicorn(pg.url(scratch), port, var / "gunicorn-restart.log")
        try:
            fault_log = _Log()
            started = time.monotonic()
            until = started + 5 + outage + 20
            threads = [_Reviewer(port, token, items, until, fault_log) for token, items in work[:10]]
            for t in threads:
                t.start()
            time.sleep(5)
            down_at = time.monotonic()
            stop_seconds = pg.stop("fast")  # clients' connections are cut, a checkpoint, the server exits
            health_down = []
            while time.monotonic() - down_at < outage:
                health_down.append(_get(port, "/health/"))
                time.sleep(1)
            start_seconds = pg.start()  # returns once the server accepts connections
            up_at = time.monotonic()
            health_ok = _wait_for(lambda: _get(port, "/health/")[0] == 200, 30, every=0.1)
            health_ok_after = round(time.monotonic() - up_at, 2) if health_ok else None
            for t in threads:
                t.join()
            health_up = _get(port, "/health/")
        finally:
            _stop_gunicorn(server)
        with _default_database_on(pg.port, scratch):
            from governance.api.models import IdempotentWrite

            check = _check(accepted | fault_log.accepted)
            # Keys claimed by a request the restart cut off and never given back (status 0).
            stuck = sorted(IdempotentWrite.objects.filter(status_code=0).values_list("key", flat=True))
        version = pg.version()
    finally:
        pg.remove()
    during = [s for at, s, _key in fault_log.timeline if down_at <= at < up_at]
    after = [(at, s, key) for at, s, key in fault_log.timeline if at >= up_at]
    first_ok = next((at - up_at for at, s, _key in after if s == 200), None)
    late = [s for at, s, _key in after if at >= up_at + 10]
    late_other_keys = [s for at, s, key in after if at >= up_at + 10 and key not in stuck]
    return {
        "how": "a private PostgreSQL (initdb in a temporary directory) stopped with pg_ctl -m fast, started again",
        "postgres": version,
        "outage_seconds": outage,
        "stop_seconds": stop_seconds,
        "start_seconds": start_seconds,
        "copy_seconds": copy_seconds,
        "statuses_during_outage": dict(Counter(str(s) for s in during)),
        "hung_requests": sum(1 for s in during if s == -1),
        "max_latency_during_outage_ms": _percentile(
            [
                lat
                for (at, _s, _key), lat in zip(fault_log.timeline, fault_log.latencies, strict=True)
                if down_at <= at < up_at
            ],
            100,
        ),
        "health_during_outage": dict(Counter(str(s) for s, _lat in health_down)),
        "health_after": health_up[0],
        "seconds_to_health_ok_after": health_ok_after,
        "seconds_to_first_success_after": round(first_ok, 2) if first_ok is not None else None,
        "statuses_from_10s_after": dict(Counter(str(s) for s in late)),
        "recovered": bool(late) and all(s == 200 for s in late),
        "idempotency_keys_left_claimed": stuck,
        "statuses_from_10s_after_for_other_keys": dict(Counter(str(s) for s in late_other_keys)),
        "recovered_apart_from_those_keys": bool(late_other_keys) and all(s == 200 for s in late_other_keys),
        "decisions_accepted": len(fault_log.accepted),
        **check,
        "private_server_removed": not pg.dir.exists(),
    }


def _check(accepted: set[int]) -> dict:
    from governance.audit.models import AuditEvent
    from governance.audit.verify import verify_chain
    from governance.reviews.models import ReviewItem

    connection.close()
    decided = set(ReviewItem.objects.exclude(decision="").values_list("pk", flat=True))
    events = Counter(
        int(i) for i in AuditEvent.objects.filter(action="reviews.item_decided").values_list("object_id", flat=True)
    )
    report = verify_chain(checkpoints=False)
    return {
        "decisions_lost": len(accepted - decided),
        "decided_without_an_accepted_answer": len(decided - accepted),
        "accepted_without_exactly_one_audit_event": sum(1 for i in accepted if events.get(i) != 1),
        "audit_events": report.events,
        "audit_chain_intact": report.intact,
    }
