"""Prometheus metrics: what happens in a process, counted there; what the database knows, read at scrape.

Two sources, so the figures stay right however many gunicorn workers and `qcluster` processes run:

- **Process counters** (HTTP requests, AWS calls and throttled attempts) live in each process. Under
  gunicorn and the task cluster they use prometheus-client's multiprocess mode: set
  `PROMETHEUS_MULTIPROC_DIR` to one empty directory per machine for every process there
  (deploy/gunicorn.conf.py and the Procfile do), and `/metrics` on that machine adds them all up.
- **Database figures** (sync runs, their duration and AWS calls, the task queue, failed tasks, review
  campaigns, active JIT grants) are read by `DatabaseCollector` when Prometheus scrapes, so every web
  worker on every machine reports the same totals, and delivery at least once cannot count twice.
  Sync duration and calls per run are summaries (`_sum` and `_count` over finished runs).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from governance.aws.errors import THROTTLED_CODES

logger = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "governance_http_requests", "HTTP requests answered, by view and status class.", ["view", "method", "status"]
)
HTTP_DURATION = Histogram(
    "governance_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
AWS_CALLS = Counter("governance_aws_calls", "AWS API calls made (retries not counted).", ["service"])
AWS_THROTTLES = Counter(
    "governance_aws_throttled_attempts", "AWS API attempts answered with a throttling error.", ["service"]
)


def observe_aws_call(event: str, **kwargs: Any) -> None:
    """`governance.aws.calls` observer: one call counted per call, one throttle per throttled attempt."""
    if event == "before-call":
        AWS_CALLS.labels(kwargs["model"].service_model.service_name).inc()
    elif event == "response-received":
        parsed = kwargs.get("parsed_response") or {}
        status = (kwargs.get("response_dict") or {}).get("status_code")
        code = (parsed.get("Error") or {}).get("Code", "") if isinstance(parsed, dict) else ""
        if code in THROTTLED_CODES or status == 429:
            service = str(kwargs.get("event_name", "response-received.unknown")).split(".")[1]
            AWS_THROTTLES.labels(service).inc()


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time (see the module docstring)."""

    def collect(self) -> Iterator[Any]:
        started = time.perf_counter()
        up = GaugeMetricFamily("governance_database_up", "Whether the metrics could read the database.")
        try:
            families = [*_sync_families(), *_queue_families(), *_feature_families()]
        except DatabaseError:
            logger.exception("metrics: the database could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        took = GaugeMetricFamily("governance_metrics_scrape_seconds", "Time spent reading the database figures.")
        took.add_metric([], time.perf_counter() - started)
        yield took


def _sync_families() -> list[Any]:
    from governance.inventory.models import SyncRun, SyncStatus

    runs = CounterMetricFamily("governance_sync_runs", "Inventory sync runs, by final status.", labels=["status"])
    by_status = dict(SyncRun.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    for status in SyncStatus.values:
        runs.add_metric([status], by_status.get(status, 0))
    finished = SyncRun.objects.exclude(status=SyncStatus.RUNNING).filter(seconds__isnull=False)
    totals = finished.aggregate(n=Count("id"), seconds=Sum("seconds"), calls=Sum("api_calls"))
    duration = SummaryMetricFamily("governance_sync_duration_seconds", "Duration of finished sync runs.")
    duration.add_metric([], count_value=totals["n"], sum_value=totals["seconds"] or 0.0)
    calls = SummaryMetricFamily("governance_sync_aws_calls", "AWS API calls per finished sync run.")
    calls.add_metric([], count_value=totals["n"], sum_value=float(totals["calls"] or 0))
    last = finished.order_by("-started_at", "-id").only("seconds", "api_calls", "accounts_failed").first()
    last_success = SyncRun.objects.filter(status=SyncStatus.SUCCEEDED).aggregate(t=Max("finished_at"))["t"]
    running = SyncRun.objects.filter(status=SyncStatus.RUNNING).count()
    gauges = [
        ("governance_sync_last_duration_seconds", "Duration of the last finished sync run.", last and last.seconds),
        ("governance_sync_last_aws_calls", "AWS API calls of the last finished sync run.", last and last.api_calls),
        (
            "governance_sync_last_failed_accounts",
            "Accounts the last finished run could not read.",
            last and last.accounts_failed,
        ),
        (
            "governance_sync_last_success_timestamp_seconds",
            "When the last fully successful sync finished (Unix time).",
            last_success and last_success.timestamp(),
        ),
        ("governance_sync_running", "Sync runs in progress.", running),
    ]
    families: list[Any] = [runs, duration, calls]
    for name, documentation, value in gauges:
        if value is not None:
            gauge = GaugeMetricFamily(name, documentation)
            gauge.add_metric([], float(value))
            families.append(gauge)
    return families


def _queue_families() -> list[Any]:
    from django_q.models import Failure, OrmQ

    now = timezone.now()
    queue = OrmQ.objects.aggregate(
        waiting=Count("id", filter=Q(lock__lte=now)),
        running=Count("id", filter=Q(lock__gt=now)),
        oldest=Min("lock", filter=Q(lock__lte=now)),
    )
    depth = GaugeMetricFamily("governance_task_queue_depth", "Tasks in the queue.", labels=["state"])
    depth.add_metric(["waiting"], queue["waiting"])
    depth.add_metric(["running"], queue["running"])
    oldest = GaugeMetricFamily(
        "governance_task_queue_oldest_seconds", "How long the oldest waiting task has waited (0: none waits)."
    )
    oldest.add_metric([], (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0.0)
    failed = GaugeMetricFamily(
        "governance_task_failures_24h", "Tasks that failed in the last 24 hours, by function.", labels=["func"]
    )
    recent = Failure.objects.filter(stopped__gte=now - timedelta(hours=24))
    for func, n in recent.values_list("func").annotate(n=Count("id")).values_list("func", "n"):
        failed.add_metric([func], n)
    return [depth, oldest, failed]


def _feature_families() -> list[Any]:
    """Campaign progress and active JIT grants, from the feature apps' selectors when they are installed."""
    from governance.ops import feature_metrics

    return list(feature_metrics.families())


DATABASE_REGISTRY = CollectorRegistry(auto_describe=False)
DATABASE_REGISTRY.register(DatabaseCollector())


def exposition() -> bytes:
    """The text of `/metrics`: this machine's process counters and the database figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(DATABASE_REGISTRY)
