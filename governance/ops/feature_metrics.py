"""Metrics of the feature apps, read when Prometheus scrapes: open campaigns' progress, live JIT grants.

Each family is there only when its app is installed, so the portal runs (and /metrics answers)
with any set of feature apps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily


def families() -> Iterator[Any]:
    if apps.is_installed("governance.reviews"):
        yield from _campaigns()
    if apps.is_installed("governance.jit"):
        yield from _jit_grants()


def _campaigns() -> Iterator[Any]:
    from governance.reviews.models import Campaign, CampaignStatus, Decision

    items = GaugeMetricFamily(
        "governance_campaign_items",
        "Review items of open campaigns, decided or not.",
        labels=["campaign", "state"],
    )
    rows = Campaign.objects.filter(status=CampaignStatus.OPEN).annotate(
        total=Count("items"), undecided=Count("items", filter=Q(items__decision=Decision.NONE))
    )
    for campaign in rows.values("id", "total", "undecided"):
        items.add_metric([str(campaign["id"]), "decided"], campaign["total"] - campaign["undecided"])
        items.add_metric([str(campaign["id"]), "undecided"], campaign["undecided"])
    yield items


def _jit_grants() -> Iterator[Any]:
    from governance.jit.models import Grant, GrantStatus

    grants = GaugeMetricFamily(
        "governance_jit_grants", "Just-in-time grants not yet ended, by status.", labels=["status"]
    )
    counts = dict(Grant.objects.live().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    for status in (GrantStatus.SCHEDULED, GrantStatus.PROVISIONING, GrantStatus.ACTIVE, GrantStatus.REVOKING):
        grants.add_metric([status], counts.get(status, 0))
    yield grants
