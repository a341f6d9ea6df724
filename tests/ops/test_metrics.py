"""/metrics: database figures read at scrape time, process counters for HTTP and AWS calls."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Task

from governance.aws import emulator
from governance.inventory.models import SyncRun, SyncStatus
from governance.inventory.sync import sync_organization

pytestmark = pytest.mark.django_db


def _sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _labels_sorted(text: str) -> str:
    """prometheus-client writes labels in declaration order; sort them so `_sample` can match."""

    def sort(match: re.Match) -> str:
        return "{" + ",".join(sorted(match.group(1).split(","))) + "}"

    return re.sub(r"\{([^}]*)\}", sort, text)


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return _labels_sorted(response.content.decode())


def test_it_reads_sync_runs_queue_and_failures_from_the_database(client, django_assert_max_num_queries):
    now = timezone.now()
    for seconds, calls, status in ((100.0, 40, SyncStatus.SUCCEEDED), (50.0, 20, SyncStatus.PARTIAL)):
        SyncRun.objects.create(
            status=status, started_at=now - timedelta(minutes=10), finished_at=now, seconds=seconds, api_calls=calls
        )
    SyncRun.objects.create(status=SyncStatus.RUNNING, started_at=now)
    OrmQ.objects.create(key="governance", payload="x", lock=now - timedelta(seconds=90))
    Task.objects.create(
        id="t1", name="t1", func="governance.inventory.tasks.sync_org", started=now, stopped=now, success=False
    )
    with django_assert_max_num_queries(12):
        text = scrape(client)
    assert _sample(text, "governance_database_up") == 1
    assert _sample(text, "governance_sync_runs_total", status="succeeded") == 1
    assert _sample(text, "governance_sync_runs_total", status="partial") == 1
    assert _sample(text, "governance_sync_runs_total", status="failed") == 0
    assert _sample(text, "governance_sync_duration_seconds_count") == 2
    assert _sample(text, "governance_sync_duration_seconds_sum") == 150
    assert _sample(text, "governance_sync_aws_calls_sum") == 60
    assert _sample(text, "governance_sync_running") == 1
    assert _sample(text, "governance_task_queue_depth", state="waiting") == 1
    assert 89 <= _sample(text, "governance_task_queue_oldest_seconds") < 120
    assert _sample(text, "governance_task_failures_24h", func="governance.inventory.tasks.sync_org") == 1


def test_it_counts_requests_by_view_and_status_class(client):
    before = _sample(scrape(client), "governance_http_requests_total", view="ops:health", method="GET", status="2xx")
    client.get("/health/")
    client.get("/health/")
    client.get("/no-such-page/")
    text = scrape(client)
    after = _sample(text, "governance_http_requests_total", view="ops:health", method="GET", status="2xx")
    assert after - (before or 0) == 2
    assert _sample(text, "governance_http_requests_total", view="unmatched", method="GET", status="4xx") >= 1


def test_it_asks_for_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-token-for-prometheus"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-prometheus").status_code == 200


def test_it_counts_the_syncs_aws_calls_and_throttled_attempts(client, demo_org):
    text = scrape(client)
    calls_before = _sample(text, "governance_aws_calls_total", service="iam") or 0
    throttles_before = _throttled(text)
    emulator.throttle(emulator_url(), every=7)
    try:
        run = sync_organization(only_account_id=demo_org.accounts["payments-prod"])
    finally:
        figures = emulator.throttle(emulator_url(), every=0)
    assert run.status == SyncStatus.SUCCEEDED, run.errors  # retried through the throttling
    assert figures["throttled"] > 0
    text = scrape(client)
    assert (_sample(text, "governance_aws_calls_total", service="iam") or 0) > calls_before
    assert _throttled(text) - throttles_before == figures["throttled"]


def _throttled(text: str) -> float:
    """Throttled attempts over every service a sync calls: the counters are the process's, and an
    earlier test in it may have been throttled by another service than IAM."""
    return sum(
        (_sample(text, "governance_aws_throttled_attempts_total", service=s) or 0)
        for s in ("iam", "sts", "organizations", "sso-admin", "identitystore")
    )


def emulator_url() -> str:
    from django.conf import settings

    return settings.AWS_ENDPOINT_URL


def test_it_reports_open_campaigns_progress_and_live_jit_grants(client):
    text = scrape(client)
    assert "# TYPE governance_campaign_items gauge" in text
    assert _sample(text, "governance_jit_grants", status="active") == 0
