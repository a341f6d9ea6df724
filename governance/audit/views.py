"""The audit trail in the portal, read-only, for holders of `audit.view` (auditors among them).

Filters by actor, action (exact, or a prefix ending in "."), object and time range; keyset pages by
sequence; an event's before and after; a spreadsheet-safe CSV of the filtered events (streamed).
"""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from governance.audit import selectors
from governance.audit.models import AuditEvent
from governance.audit.spreadsheet import csv_chunks
from governance.authz.capabilities import Capability
from governance.authz.decorators import requires
from governance.inventory.pagination import paginate

PER_PAGE = 50


@require_GET
@requires(Capability.AUDIT_VIEW)
def event_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.Filters.from_query(request.GET)
    queryset = selectors.events(filters).select_related(None)
    page = paginate(
        queryset,
        order=selectors.ORDER,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
        per_page=PER_PAGE,
    )
    context = {"filters": filters, "page": page, "checkpoint": selectors.newest_checkpoint()}
    return render(request, "audit/list.html", context, status=400 if filters.errors else 200)


@require_GET
@requires(Capability.AUDIT_VIEW)
def event_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    event = AuditEvent.objects.filter(sequence=sequence).first() if sequence < 2**63 else None
    if event is None:
        raise Http404("No audit event with that sequence.")
    context = {
        "event": event,
        "before": None
        if event.before is None
        else json.dumps(event.before, indent=2, sort_keys=True, ensure_ascii=False),
        "after": None if event.after is None else json.dumps(event.after, indent=2, sort_keys=True, ensure_ascii=False),
        "covering": event.sequence <= getattr(selectors.newest_checkpoint(), "sequence", 0),
    }
    return render(request, "audit/detail.html", context)


@require_GET
@requires(Capability.AUDIT_VIEW)
def export_csv(request: HttpRequest) -> HttpResponse:
    filters = selectors.Filters.from_query(request.GET)
    if filters.errors:
        return HttpResponse(" ".join(filters.errors), status=400, content_type="text/plain; charset=utf-8")
    rows = selectors.csv_rows(selectors.events(filters))
    response = StreamingHttpResponse(csv_chunks(selectors.CSV_HEADER, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
