"""Load and faults, against loopback only and bounded in time (issue 16, "Load and faults").

In a scratch PostgreSQL database (`<name>_bench_load_faults`, created and dropped here), with the
emulator in its own process holding the 12-account demo organization:

- throttling: a clean sync, then the same sync with the emulator answering every
  BENCH_FAULTS_THROTTLE_EVERY-th AWS request (default 4) with the service's throttling error. The
  throttled sync must succeed (the clients retry) and leave the same inventory; it is slower.
- killed sync: 20 IAM users are added in AWS, `manage.py sync_aws` starts in a process of its own
  and is SIGKILLed once it has written some accounts and not all. While its heartbeat is fresh the
  next sync is refused (one running run); once the heartbeat is as old as a dead worker's (moved
  back here, instead of waiting DEAD_AFTER), the next sync runs, and a further sync changes
  nothing: the state converged, and holds the new users.
- reviewers: BENCH_LOAD_REVIEWERS (default 50) threads, each a reviewer with its own API token,
  decide their items through `POST /api/v1/review-items/{id}/decision/` against gunicorn
  (GUNICORN_WORKERS, default 4, x 2 threads) for BENCH_LOAD_SECONDS (default 60). Every tenth
  decision is sent twice with the same Idempotency-Key (a double submit). Afterwards every accepted
  decision must be in the database with exactly one audit event, and the audit chain must verify.
- database restart: 10 reviewers keep deciding while the scratch database refuses connections
  and every connection to it is terminated for BENCH_FAULTS_OUTAGE_SECONDS (default 10; the shared
  server itself is not restarted: other databases live on it). Requests must fail cleanly (an HTTP
  error answer, none hanging past the client's timeout), `/health/` must say 503, and requests
  must succeed again after the database is back.

Figures are JSON (benchmarks/results/bench_load_faults.json) with the load average beside them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from governance.aws import emulator, session

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
    result: dict = {}
    try:
        from governance.aws.demo import build

        build(accounts=12, seed=42)
        result["throttling"] = _throttling(url)
        result["killed_sync"] = _killed_sync(url, scratch, result["throttling"]["clean_sync"]["seconds"])
        result["reviewers"], result["database_restart"] = _web_phases(scratch)
    finally:
        connection.close()
        _allow_connections(scratch, True)
        connection.creation.destroy_test_db(old_name, verbosity=0)
        override.disable()
        session.reset()
        process.terminate()
        process.wait(timeout=10)
    result["load_average_start"] = [round(x, 2) for x in load_start]
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu_count"] = os.cpu_count()
    result["machine"] = "shared with other engineers' work; figures vary with the load average"
    return result


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


def _killed_sync(url: str, scratch: str, clean_seconds: float) -> dict:
    from governance.inventory.models import Principal, SyncRun, SyncStatus
    from governance.inventory.models.sync import DEAD_AFTER
    from governance.inventory.sync import SyncAlreadyRunning, start_run

    iam = session.management_client("iam")
    for n in range(20):
        iam.create_user(UserName=f"bench-killed-sync-{n}")
    env = {**os.environ, "DATABASE_URL": _database_url(scratch), "AWS_ENDPOINT_URL": url, "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "sync_aws", "--no-after-sync"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Killed halfway through as long as a clean sync takes, counted from when its run row appears.
    killed_at = None
    deadline = time.monotonic() + 120
    seen = None
    while worker.poll() is None and time.monotonic() < deadline:
        run = SyncRun.objects.filter(status=SyncStatus.RUNNING).order_by("-id").first()
        if run is not None and seen is None:
            seen = time.monotonic()
        if run is not None and time.monotonic() - seen >= clean_seconds / 2:
            os.killpg(worker.pid, signal.SIGKILL)
            run.refresh_from_db()
            killed_at = {"after_seconds": round(time.monotonic() - seen, 2), "accounts_done": run.accounts_done}
            break
        time.sleep(0.02)
    worker.wait(timeout=30)
    killed = SyncRun.objects.order_by("-id").first()
    try:
        start_run().delete()  # not refused: the killed run did not block (it should have)
        refused = False
    except SyncAlreadyRunning:
        refused = True
    # As if DEAD_AFTER had passed with no heartbeat from the killed worker.
    SyncRun.objects.filter(pk=killed.pk, status=SyncStatus.RUNNING).update(
        heartbeat_at=timezone.now() - DEAD_AFTER - timedelta(seconds=1)
    )
    resumed = _sync()
    after_resume = _state()
    again = _sync()
    killed.refresh_from_db()
    return {
        "killed_mid_sync": killed_at is not None,
        "killed_at": killed_at,
        "next_sync_refused_while_heartbeat_fresh": refused,
        "killed_run_marked": killed.status,
        "resumed_sync": resumed,
        "further_sync": again,
        "converged": after_resume == _state() and resumed["status"] == "succeeded",
        "new_users_present": Principal.objects.present().filter(name__startswith="bench-killed-sync-").count(),
    }


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
        self.log.add(status, time.perf_counter() - started)
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
        self.timeline: list[tuple[float, int]] = []

    def add(self, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)
            self.timeline.append((time.monotonic(), status))

    def accept(self, item: int) -> None:
        with self.lock:
            self.accepted.add(item)

    def double(self, status: int) -> None:
        with self.lock:
            self.doubles[status] += 1


def _start_gunicorn(scratch: str, port: int, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(scratch),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": os.environ.get("GUNICORN_WORKERS", "4"),
        "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "2"),
        "PROMETHEUS_MULTIPROC_DIR": str(log_path.parent / "metrics"),
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",  # as in production: one JSON line per error, not a rendered traceback
    }
    (log_path.parent / "metrics").mkdir(parents=True, exist_ok=True)
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


def _allow_connections(scratch: str, allow: bool) -> None:
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], password=s.get("PASSWORD") or None,
        dbname="postgres", autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute(f'ALTER DATABASE "{scratch}" WITH ALLOW_CONNECTIONS {"true" if allow else "false"}')
        if not allow:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [scratch],
            )


def _web_phases(scratch: str) -> tuple[dict, dict]:
    reviewers = int(os.environ.get("BENCH_LOAD_REVIEWERS", "50"))
    seconds = int(os.environ.get("BENCH_LOAD_SECONDS", "60"))
    outage = int(os.environ.get("BENCH_FAULTS_OUTAGE_SECONDS", "10"))
    work = _campaign(reviewers, int(os.environ.get("BENCH_LOAD_ITEMS", "400")))
    port = _free_port()
    var = ROOT / "var" / "bench_load_faults"
    var.mkdir(parents=True, exist_ok=True)
    connection.close()
    server = _start_gunicorn(scratch, port, var / "gunicorn.log")
    try:
        load_log = _Log()
        started = time.monotonic()
        threads = [_Reviewer(port, token, items, started + seconds, load_log) for token, items in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        fault_log = _Log()
        phase = 5 + outage + 20
        started = time.monotonic()
        threads = [_Reviewer(port, token, items, started + phase, fault_log) for token, items in work[:10]]
        for t in threads:
            t.start()
        time.sleep(5)
        _allow_connections(scratch, False)
        down_at = time.monotonic()
        health_down = []
        while time.monotonic() - down_at < outage:
            health_down.append(_get(port, "/health/"))
            time.sleep(1)
        _allow_connections(scratch, True)
        up_at = time.monotonic()
        for t in threads:
            t.join()
        health_up = _get(port, "/health/")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    accepted = load_log.accepted | fault_log.accepted
    check = _check(accepted)
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
    during = [s for at, s in fault_log.timeline if down_at <= at < up_at]
    after = [(at, s) for at, s in fault_log.timeline if at >= up_at]
    first_ok = next((at - up_at for at, s in after if s == 200), None)
    late = [s for at, s in after if at >= up_at + 10]
    restart = {
        "outage_seconds": outage,
        "statuses_during_outage": dict(Counter(str(s) for s in during)),
        "hung_requests": sum(1 for s in during if s == -1),
        "max_latency_during_outage_ms": _percentile(
            [
                lat
                for (at, _s), lat in zip(fault_log.timeline, fault_log.latencies, strict=True)
                if down_at <= at < up_at
            ],
            100,
        ),
        "health_during_outage": dict(Counter(str(s) for s, _lat in health_down)),
        "health_after": health_up[0],
        "seconds_to_first_success_after": round(first_ok, 2) if first_ok is not None else None,
        "statuses_from_10s_after": dict(Counter(str(s) for s in late)),
        "recovered": bool(late) and all(s == 200 for s in late),
        "decisions_accepted": len(fault_log.accepted),
    }
    return load, restart


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
