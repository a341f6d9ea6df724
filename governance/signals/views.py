"""Pages of AWS's own signals: the activity feed, Access Analyzer findings, Config compliance, and
where each source stands (with "not available from this endpoint" where the endpoint lacks it).

Every view declares its capability; rows come through scoped selectors. Asking for a refresh is
a sync-runner's action, audited by the service.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from governance.authz.capabilities import Capability, capabilities, visible_accounts
from governance.authz.decorators import requires
from governance.signals import selectors, services
from governance.signals.models import AnalyzerFindingStatus, Source


@require_GET
@requires(Capability.INVENTORY_VIEW)
def activity(request: HttpRequest) -> HttpResponse:
    filters = selectors.ActivityFilters.from_query(request.GET)
    page = selectors.activity_page(
        request.user, filters, after=request.GET.get("after", ""), before=request.GET.get("before", "")
    )
    context = {
        "filters": filters,
        "page": page,
        "sources": selectors.event_sources(),
        "accounts": visible_accounts(request.user).present().order_by("name").values_list("account_id", "name"),
        "status": selectors.source_status(Source.CLOUDTRAIL),
        "section": "activity",
    }
    return render(request, "signals/activity.html", context)


@require_GET
@requires(Capability.FINDINGS_VIEW)
def analyzer(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", AnalyzerFindingStatus.ACTIVE)
    page = selectors.analyzer_page(
        request.user, status=status, after=request.GET.get("after", ""), before=request.GET.get("before", "")
    )
    context = {
        "page": page,
        "status_filter": status,
        "statuses": AnalyzerFindingStatus.choices,
        "status": selectors.source_status(Source.ACCESS_ANALYZER),
        "section": "analyzer",
    }
    return render(request, "signals/analyzer.html", context)


@require_GET
@requires(Capability.FINDINGS_VIEW)
def config(request: HttpRequest) -> HttpResponse:
    summary = selectors.config_summary(
        request.user,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        non_compliant_only=request.GET.get("non_compliant") == "1",
    )
    context = {**summary, "non_compliant_only": request.GET.get("non_compliant") == "1", "section": "config"}
    return render(request, "signals/config.html", context)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def sources(request: HttpRequest) -> HttpResponse:
    context = {
        "rows": selectors.statuses(),
        "can_refresh": capabilities(request.user).has(Capability.SYNC_RUN),
        "section": "sources",
    }
    return render(request, "signals/sources.html", context)


@require_POST
@requires(Capability.SYNC_RUN)
def refresh(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.getlist("source") or list(Source.values)
    try:
        services.request_refresh(sources=wanted, actor=request.user, request=request)
    except services.requests.UnknownSource as exc:
        messages.error(request, str(exc))
        return redirect("signals:sources")
    messages.success(request, "Refresh requested. It starts as soon as a task worker picks it up.")
    return redirect("signals:sources")
