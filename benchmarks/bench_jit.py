"""Just-in-time grants against the emulator: grant latency (approval → assignment provisioned) and
revoke latency (expiry → assignment deleted), p50 and p95 over 100 grants, with a real django-q
cluster doing the work and never more than ten assignment operations outstanding.

The emulator runs in its own process, the demo organization (12 accounts) is synced into a scratch
database, and `manage.py qcluster` (BENCH_JIT_WORKERS workers, default 10) runs against both. The
requests are submitted and approved through the services, one after another as approvers would;
each approval queues its grant task. Once every grant is active, their ends are moved to 20 s from
now (as if their time had run; the one-off expiry schedules move with them), so the revocations
go through the same path as in production: the cluster's scheduler pass (about every 30 s) finds the
due schedules, the workers delete the assignments. A monitor samples the held operation slots
every 20 ms for the largest number outstanding.

All of it runs three times from nothing (BENCH_JIT_ROUNDS), each run's figures and load average kept;
the medians of the runs' p50 and p95 are reported.

Targets: grant p95 <= 10 s, revoke p95 <= 60 s. BENCH_JIT_GRANTS changes the count (default 100).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
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
from governance.aws.demo import build

GRANT_TARGET_P95 = 10.0
REVOKE_TARGET_P95 = 60.0
ROUNDS = 3
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((emulator.DEFAULT_HOST, 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def _database_url(name: str) -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"
    return f"sqlite:///{name}"


def run() -> dict:
    count = int(os.environ.get("BENCH_JIT_GRANTS", "100"))
    workers = int(os.environ.get("BENCH_JIT_WORKERS", "10"))
    rounds = int(os.environ.get("BENCH_JIT_ROUNDS", str(ROUNDS)))
    runs = [_run_once(count, workers) for _ in range(rounds)]
    medians = {
        key: statistics.median(r[key] for r in runs)
        for key in (
            "grant_latency_p50_seconds",
            "grant_latency_p95_seconds",
            "revoke_latency_p50_seconds",
            "revoke_latency_p95_seconds",
            "max_outstanding_operations",
            "grant_samples",
            "revoke_samples",
        )
    }
    return {
        "grants": count,
        "workers": workers,
        "runs": runs,
        "median": medians,
        "grant_target_p95_seconds": GRANT_TARGET_P95,
        "revoke_target_p95_seconds": REVOKE_TARGET_P95,
        "operation_limit": runs[0]["operation_limit"],
        "meets_targets": all(r["meets_targets"] for r in runs)
        and medians["grant_latency_p95_seconds"] <= GRANT_TARGET_P95
        and medians["revoke_latency_p95_seconds"] <= REVOKE_TARGET_P95,
        "cpu_count": os.cpu_count(),
    }


def _run_once(count: int, workers: int) -> dict:
    """One measurement from nothing: a new emulator, scratch database and cluster."""
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = _free_port()
    process = emulator.start_subprocess(port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{emulator.DEFAULT_HOST}:{port}"
    override = override_settings(AWS_ENDPOINT_URL=url)
    override.enable()
    session.reset()
    settings_dict = connection.settings_dict
    scratch = (
        f"{settings_dict['NAME']}_bench_jit"
        if connection.vendor == "postgresql"
        else str(ROOT / "var" / "bench_jit.sqlite3")
    )
    settings_dict.setdefault("TEST", {})["NAME"] = scratch
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    cluster = None
    try:
        build(accounts=12, seed=42)
        grants = _prepare(count)
        cluster = _start_cluster(url, scratch, workers)
        result = _measure(grants, count)
    finally:
        if cluster is not None:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait(timeout=10)
        connection.creation.destroy_test_db(old_name, verbosity=0)
        override.disable()
        session.reset()
        process.terminate()
        process.wait(timeout=10)
    result.update({"load_average_at_start": load_at_start, "load_average": [round(x, 2) for x in os.getloadavg()]})
    return result


def _prepare(count: int) -> list[tuple]:
    """Sync the demo, personas and a policy; the (requester, account, set) triples to request."""
    from governance.authz.linking import LinkFacts
    from governance.authz.models import User
    from governance.authz.services import link_user
    from governance.aws.demo.personas import PERSONAS
    from governance.inventory.models import (
        Account,
        GroupMembership,
        PermissionSet,
        Principal,
        PrincipalKind,
    )
    from governance.inventory.sync import sync_organization
    from governance.jit.models import EligibilityPolicy
    from portal.schedules import declared_schedules, sync_schedules

    run = sync_organization()
    assert not run.errors, run.errors
    users = {}
    for persona in PERSONAS:
        users[persona.key] = User.objects.create(username=persona.user_name, email=persona.email)
        link_user(user=users[persona.key], facts=LinkFacts(provider="demo", verified_email=persona.email))
    groups = {p.name: p for p in Principal.objects.present().filter(kind=PrincipalKind.SSO_GROUP)}
    accounts = list(Account.objects.present().filter(is_management=False).order_by("name"))
    sets = list(PermissionSet.objects.present().exclude(name__startswith="Governance").order_by("name"))
    policy = EligibilityPolicy.objects.create(
        name="bench",
        requester_group=groups["jit-requesters"],
        approver_group=groups["jit-approvers"],
        grantor=users["campaign_admin"],
        max_duration_minutes=240,
    )
    policy.permission_sets.set(sets)
    policy.accounts.set(accounts)
    requesters = [users["requester"], *_extra_requesters(groups["jit-requesters"], GroupMembership, Principal)]
    triples = [(u, a, s) for u in requesters for a in accounts for s in sets]
    # Only JIT's schedules: a scheduled sync or findings run would share the cluster with the measurement.
    sync_schedules([d for d in declared_schedules() if d.name.startswith("code:jit.")])
    return [(policy, *t) for t in triples][: count * 2]


def _extra_requesters(group, GroupMembership, Principal) -> list:
    """Two more linked Identity Center users in jit-requesters (inventory rows: the emulator does not
    check the principal of an assignment), so 100 distinct grants exist."""
    import hashlib

    from governance.authz.linking import LinkFacts
    from governance.authz.models import User
    from governance.authz.services import link_user

    now = timezone.now()
    made = []
    for n in (1, 2):
        name = f"bench.requester{n}"
        arn = f"arn:aws:identitystore:::user/bench-{n}"
        digest = hashlib.md5(arn.encode(), usedforsecurity=False).hexdigest()
        principal = Principal.objects.create(
            kind="sso_user",
            account=group.account,
            arn=arn,
            name=name,
            aws_id=f"bench-{n}",
            identity_store_id=group.identity_store_id,
            identity_store_principal_id=f"bench-{n}",
            user_name=name,
            display_name=name,
            email=f"{name}@example.com",
            key=digest,
            scope="sso",
            content_hash=digest,
            first_seen=now,
            last_seen=now,
        )
        GroupMembership.objects.create(
            group=group,
            member=principal,
            account=group.account,
            key=digest[::-1],
            scope="sso",
            content_hash=digest,
            first_seen=now,
            last_seen=now,
        )
        user = User.objects.create(username=name, email=f"{name}@example.com")
        link_user(user=user, facts=LinkFacts(provider="demo", verified_email=f"{name}@example.com"))
        made.append(user)
    return made


def _start_cluster(url: str, scratch: str, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(scratch),
        "AWS_ENDPOINT_URL": url,
        "Q_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",
    }
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3)
    return cluster


class _Monitor(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak = 0

    def run(self) -> None:
        from django.db import connections

        from governance.jit.models import AssignmentSlot

        try:
            while not self.stop.is_set():
                self.peak = max(self.peak, AssignmentSlot.objects.filter(grant__isnull=False).count())
                time.sleep(0.02)
        finally:
            connections.close_all()


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def _measure(triples: list[tuple], count: int) -> dict:
    from django.db import transaction
    from django_q.models import Schedule

    from governance.jit import lifecycle, services
    from governance.jit.models import Grant, GrantStatus

    monitor = _Monitor()
    monitor.start()
    approved = 0
    skipped: Counter[str] = Counter()
    started = time.perf_counter()
    for policy, user, account, permission_set in triples:
        if approved >= count:
            break
        try:
            access_request = services.submit_request(
                actor=user,
                policy=policy,
                account=account,
                permission_set=permission_set,
                duration_minutes=60,
                justification="benchmark",
            )
        except services.JitError as exc:
            skipped[exc.message[:80]] += 1  # standing access (the demo's developers group) is not requested
            continue
        services.decide_request(actor=_approver(), access_request=access_request, decision="approve")
        approved += 1
    approve_seconds = time.perf_counter() - started
    granted = _wait(
        lambda: not Grant.objects.exclude(status__in=[GrantStatus.ACTIVE, GrantStatus.FAILED]).exists(), 300
    )
    grant_latency = [
        (g.provisioned_at - g.approved_at).total_seconds() for g in Grant.objects.filter(status=GrantStatus.ACTIVE)
    ]
    failed = Grant.objects.filter(status=GrantStatus.FAILED).count()

    ends = timezone.now() + timedelta(seconds=20)
    with transaction.atomic():
        Grant.objects.filter(status=GrantStatus.ACTIVE).update(ends_at=ends)
        Schedule.objects.filter(name__startswith="jit:grant:").update(next_run=ends)
    revoked = _wait(
        lambda: not Grant.objects.filter(status__in=[GrantStatus.ACTIVE, GrantStatus.REVOKING]).exists(), 300
    )
    revoke_latency = [
        (g.revoked_at - g.ends_at).total_seconds() for g in Grant.objects.filter(status=GrantStatus.ENDED)
    ]
    monitor.stop.set()
    monitor.join(timeout=5)
    everyone = len(grant_latency) == approved == count and len(revoke_latency) == count
    return {
        "tasks": _task_seconds(),
        "approved": approved,
        # How many grants each latency is over: the percentiles are over all `count` grants only when
        # these equal it (a grant that failed or was never revoked has no latency).
        "grant_samples": len(grant_latency),
        "revoke_samples": len(revoke_latency),
        "skipped": dict(skipped.most_common(3)),
        "approve_seconds": round(approve_seconds, 2),
        "all_granted": granted,
        "failed": failed,
        "grant_latency_p50_seconds": _percentile(grant_latency, 50),
        "grant_latency_p95_seconds": _percentile(grant_latency, 95),
        "grant_latency_max_seconds": _percentile(grant_latency, 100),
        "grant_target_p95_seconds": GRANT_TARGET_P95,
        "all_revoked": revoked,
        "revoke_latency_p50_seconds": _percentile(revoke_latency, 50),
        "revoke_latency_p95_seconds": _percentile(revoke_latency, 95),
        "revoke_latency_max_seconds": _percentile(revoke_latency, 100),
        "revoke_target_p95_seconds": REVOKE_TARGET_P95,
        "max_outstanding_operations": monitor.peak,
        "operation_limit": lifecycle.MAX_OUTSTANDING_OPERATIONS,
        "meets_targets": bool(
            granted
            and revoked
            and everyone
            and _percentile(grant_latency, 95) <= GRANT_TARGET_P95
            and _percentile(revoke_latency, 95) <= REVOKE_TARGET_P95
            and monitor.peak <= lifecycle.MAX_OUTSTANDING_OPERATIONS
        ),
        "mean_grant_latency_seconds": round(statistics.fmean(grant_latency), 3) if grant_latency else None,
    }


def _task_seconds() -> dict:
    """What the cluster ran, per function: how many, and their median and longest run in seconds.

    A grant's row says "ended" as soon as its task's work commits, before the cluster's monitor saves
    the task's result; the result is saved before its queue row is deleted, so an empty queue (waited
    for, up to 30 s) means every task so far is counted."""
    from django_q.models import OrmQ, Task

    _wait(lambda: not OrmQ.objects.exists(), 30)
    spans: dict[str, list[float]] = {}
    for func, started, stopped in Task.objects.values_list("func", "started", "stopped"):
        spans.setdefault(func.rsplit(".", 1)[-1], []).append((stopped - started).total_seconds())
    return {
        func: {"count": len(s), "median_seconds": _percentile(s, 50), "max_seconds": _percentile(s, 100)}
        for func, s in sorted(spans.items())
    }


def _approver():
    from governance.authz.models import User

    return User.objects.get(username="anna.approver")
