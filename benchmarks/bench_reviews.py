"""Access reviews: launching a big campaign, the reviewer's inbox, a bulk decision.

In a scratch database (`<name>_bench_reviews`, created and dropped here) an inventory is
generated with set-based SQL: BENCH_REVIEWS_ACCOUNTS accounts (default 200) x
BENCH_REVIEWS_ROLES roles (default 500) x BENCH_REVIEWS_POLICIES attached policies (default 10)
= 1,000,000 role-policy entitlements, plus each role's trust (100,000): a 1,100,000-item
campaign (about 30 s to generate; lower the knobs for a quicker, smaller run). Accounts are owned
by BENCH_REVIEWS_OWNERS people (default 200, one account each), so each reviewer gets
items / owners of them: 5,500, the issue's "5,000 for this reviewer".

- launch: `launch()` of a template over everything (one INSERT .. SELECT). Target 10 s at 1M.
  Launching the same period again must create nothing (`relaunch_created`, `relaunch_items`).
  `prioritize_task`: the background task the launch's commit queues (the campaign's principals
  first in the fetch queue of AWS's service last accessed), timed apart.
- inbox: the campaign inbox page for one reviewer, 20 requests through the test client; query
  count and server time p95, after the start-up objects are frozen as a gunicorn worker freezes
  them (portal/warm.py). Targets ≤ 8 queries of its own, p95 ≤ 100 ms.
- bulk: `decide_bulk` over 2,000 of a reviewer's items, each audited and marked as bulk
  (checked), three times, by three other reviewers; each run and the median. Target 300 ms.

PostgreSQL only. Wall times come with the CPU seconds of this process (Python) and of the
scratch database's PostgreSQL backends and their parallel workers, and the load average before
and after: the machine may be shared.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from contextlib import contextmanager

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment
from django.urls import reverse

from benchmarks.bench_audit_verify import _backends_cpu

TARGET_LAUNCH_SECONDS = 10
TARGET_INBOX_P95_MS = 100
TARGET_INBOX_QUERIES = 8
TARGET_BULK_MS = 300
BULK_RUNS = 3
BULK_ITEMS = 2000


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_reviews needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    accounts = int(os.environ.get("BENCH_REVIEWS_ACCOUNTS", "200"))
    roles = int(os.environ.get("BENCH_REVIEWS_ROLES", "500"))
    policies = int(os.environ.get("BENCH_REVIEWS_POLICIES", "10"))
    owners = int(os.environ.get("BENCH_REVIEWS_OWNERS", "200"))
    load_start = os.getloadavg()
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_reviews"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        _inventory(accounts, roles, policies, owners)
        result = _measure(owners)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return {
        "accounts": accounts,
        "roles_per_account": roles,
        "policies_per_role": policies,
        **result,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }


def _inventory(accounts: int, roles: int, policies: int, owners: int) -> None:
    synced = "md5(%(k)s), 'bench', md5(%(k)s), now(), now()"
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO inventory_organization (org_id, arn, feature_set, management_account_id, "
            "management_account_email, key, scope, content_hash, first_seen, last_seen) "
            "VALUES ('o-bench', 'arn:org', 'ALL', '000000000000', '', md5('org'), 'org', md5('org'), now(), now())"
        )
        c.execute(
            "INSERT INTO inventory_account (organization_id, account_id, arn, name, email, status, joined_method, "
            "tags, owner, is_management, iam_digest, key, scope, content_hash, first_seen, last_seen) "
            "SELECT o.id, lpad(a::text, 12, '0'), 'arn:account:' || a, 'account-' || a, 'a' || a || '@example.com', "
            "'ACTIVE', '', '{}', 'owner' || (a %% %s) || '@example.com', false, '', "
            + synced % {"k": "'account' || a"}
            + " FROM generate_series(1, %s) a, inventory_organization o",
            [owners, accounts],
        )
        c.execute(
            "INSERT INTO inventory_policy (kind, arn, name, path, description, aws_policy_id, aws_version_id, "
            "document_hash, version, admin_access, key, scope, content_hash, first_seen, last_seen) "
            "SELECT 'aws_managed', 'arn:aws:iam::aws:policy/P' || n, 'P' || n, '/', '', '', 'v1', '', 1, "
            "CASE WHEN n = 1 THEN 'full' ELSE '' END, "
            + synced % {"k": "'policy' || n"}
            + " FROM generate_series(1, %s) n",
            [policies],
        )
        c.execute(
            "INSERT INTO inventory_principal (kind, account_id, arn, name, path, aws_id, created, last_used, "
            "last_used_region, trust_policy, tags, owner, identity_store_id, identity_store_principal_id, user_name, "
            "display_name, email, manager_user_id, external_ids, key, scope, content_hash, first_seen, last_seen) "
            "SELECT 'iam_role', a.id, 'arn:aws:iam::' || a.account_id || ':role/r' || r, 'role-' || r, '/', '', "
            "now() - interval '400 days', now() - (r %% 200) * interval '1 day', '', '{\"Statement\": []}', '{}', '', "
            "'', '', '', '', '', '', '[]', "
            + synced % {"k": "a.account_id || ':r' || r"}
            + " FROM inventory_account a, generate_series(1, %s) r",
            [roles],
        )
        c.execute(
            "INSERT INTO inventory_entitlement (principal_id, policy_id, via, account_id, key, scope, content_hash, "
            "first_seen, last_seen) SELECT p.id, pol.id, 'direct', p.account_id, "
            + synced % {"k": "p.id || ':' || pol.id"}
            + " FROM inventory_principal p, inventory_policy pol"
        )
        c.execute("ANALYZE")


def _measure(owners: int) -> dict:
    from governance.audit.models import AuditEvent
    from governance.authz.models import User
    from governance.reviews import services
    from governance.reviews.launch import launch
    from governance.reviews.models import CampaignTemplate, ReviewItem
    from governance.signals import tasks as signals_tasks
    from portal.warm import warm_and_freeze

    setup_test_environment()  # the test client's host, e-mail kept in memory
    template = CampaignTemplate.objects.create(
        name="bench", fallback_reviewer="fallback@example.com", kinds=["role_policy", "role_trust"]
    )
    load_before = _loadavg()
    with _cost() as launch_cost:
        result = launch(template=template, actor=None, period="bench")
    campaign = result.campaign
    # What the launch's commit queued: the campaign's principals put first in the fetch queue of
    # AWS's service last accessed (a background task; a worker would run it a moment later).
    with _cost() as prioritize_cost:
        prioritized = signals_tasks.prioritize_campaign(campaign_id=campaign.pk)["prioritized"]
    again = launch(template=template, actor=None, period="bench")

    reviewer = User.objects.create(username="owner1", email="owner1@example.com")
    mine = ReviewItem.objects.filter(campaign=campaign, reviewer_email=reviewer.email)
    reviewer_items = mine.count()
    client = Client()
    client.force_login(reviewer, backend="allauth.account.auth_backends.AuthenticationBackend")
    url = reverse("reviews:campaign_inbox", args=[campaign.pk])
    client.get(url)
    # As a gunicorn worker does after loading the application (deploy/gunicorn.conf.py): what
    # start-up (and here the benchmark's set-up) left is frozen out of the full collections,
    # which otherwise walk it in the middle of one request in twenty (a 90-100 ms pause).
    warm_and_freeze()
    timings, queries = [], 0
    inbox_load = _loadavg()
    for _ in range(20):
        with CaptureQueriesContext(connection) as captured:
            t = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.status_code
        own = [q for q in captured.captured_queries if "reviews_" in q["sql"]]
        queries = max(queries, len(own))
        total_queries = len(captured.captured_queries)
    gc.unfreeze()  # the benchmarks after this one run in the same process
    p95 = statistics.quantiles(timings, n=20)[18]

    bulk_runs = []
    for run in range(BULK_RUNS):
        deciding = User.objects.create(username=f"owner{run + 2}", email=f"owner{run + 2}@example.com")
        theirs = ReviewItem.objects.filter(campaign=campaign, reviewer_email=deciding.email)
        chosen = list(theirs.order_by("id").values_list("id", flat=True)[:BULK_ITEMS])
        first = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
        load = _loadavg()
        with _cost() as cost:
            count = services.decide_bulk(
                campaign=campaign,
                items=ReviewItem.objects.filter(pk__in=chosen),
                decision="revoke",
                justification="bench",
                actor=deciding,
            )
        events = AuditEvent.objects.filter(sequence__gt=first, action="reviews.item_decided")
        audited = events.filter(after__bulk=True).values_list("object_id", flat=True)
        assert count == len(chosen) and sorted(map(int, audited)) == sorted(chosen), "every item audited as bulk"
        bulk_runs.append({"items": count, "ms": round(cost["wall"] * 1000, 1), **_cpu_ms(cost), "load_average": load})
    return {
        "launch": {
            "items": result.items,
            "reviewers": result.reviewers,
            "seconds": round(launch_cost["wall"], 3),
            "python_cpu_seconds": round(launch_cost["python_cpu"], 2),
            "postgres_cpu_seconds": round(launch_cost["postgres_cpu"], 2),
            "target_seconds": TARGET_LAUNCH_SECONDS,
            "reconciled": campaign.manifest.get("reconciled"),
            "relaunch_created": again.created,
            "relaunch_items": ReviewItem.objects.filter(campaign__template=template).count(),
            "load_average_before": load_before,
            "load_average_after": _loadavg(),
            "prioritize_task": {
                "principals": prioritized,
                "seconds": round(prioritize_cost["wall"], 3),
                "postgres_cpu_seconds": round(prioritize_cost["postgres_cpu"], 2),
            },
        },
        "inbox": {
            "reviewer_items": reviewer_items,
            "queries_of_its_own": queries,
            "queries_total": total_queries,
            "p95_ms": round(p95, 1),
            "median_ms": round(statistics.median(timings), 1),
            "target_p95_ms": TARGET_INBOX_P95_MS,
            "target_queries": TARGET_INBOX_QUERIES,
            "load_average": inbox_load,
        },
        "bulk": {
            "items": BULK_ITEMS,
            "median_ms": statistics.median(r["ms"] for r in bulk_runs),
            "runs": bulk_runs,
            "target_ms": TARGET_BULK_MS,
        },
    }


@contextmanager
def _cost():
    """Wall seconds, and CPU seconds of this process and of the scratch database's PostgreSQL
    backends with the parallel workers they lead (a launch's ATTACH builds its indexes with
    some), of the block.

    The backends are sampled from /proc while the block runs: a launch's commit hands a task to
    the queue, which closes the connection (CONN_MAX_AGE 0), and its backend's CPU would go with
    it. A backend or worker that started meanwhile counts in full."""
    measured: dict[str, float] = {}
    database = connection.settings_dict["NAME"]
    _backend_pid()  # connected, so the backend is there to count from
    before = _backends_cpu(database)
    latest = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            latest.update(_backends_cpu(database))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu, started = time.process_time(), time.perf_counter()
    yield measured
    measured["wall"] = time.perf_counter() - started
    measured["python_cpu"] = time.process_time() - cpu
    done.set()
    sampler.join()
    _backend_pid()
    latest.update(_backends_cpu(database))
    measured["postgres_cpu"] = sum(value - before.get(pid, 0.0) for pid, value in latest.items())


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _cpu_ms(cost: dict[str, float]) -> dict[str, float]:
    return {
        "python_cpu_ms": round(cost["python_cpu"] * 1000, 1),
        "postgres_cpu_ms": round(cost["postgres_cpu"] * 1000, 1),
    }


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
