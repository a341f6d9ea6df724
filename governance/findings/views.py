"""Findings pages: dashboard, list (filters, keyset pages, exports), a finding, compliance frameworks.

Every view declares its rule; findings come through `selectors` (scoped: 404 for a finding the
user may not see). Suppressing is an administrator's decision and lives in the governance admin.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from governance.authz.capabilities import Capability, capabilities, visible_accounts
from governance.authz.decorators import requires
from governance.findings import compliance, exports, selectors
from governance.findings import rules as registry
from governance.inventory.pagination import paginate

EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ocsf": "application/json",
}
ACCOUNTS_PER_PAGE = 25


@require_GET
@requires(Capability.FINDINGS_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request, "findings/dashboard.html", {"board": selectors.dashboard(request.user), "section": "dashboard"}
    )


@require_GET
@requires(Capability.FINDINGS_VIEW)
def finding_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.Filters.from_query(request.GET)
    page = selectors.finding_page(
        request.user, filters, after=request.GET.get("after", ""), before=request.GET.get("before", "")
    )
    context = {"filters": filters, "page": page, "choices": selectors.filter_choices(request.user), "section": "list"}
    return render(request, "findings/list.html", context)


@require_GET
@requires(Capability.FINDINGS_VIEW)
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in EXPORTS:
        raise Http404("No such export format.")
    queryset = selectors.filtered(request.user, selectors.Filters.from_query(request.GET)).order_by(*selectors.ORDER)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "xlsx":
        return FileResponse(
            exports.xlsx_file(queryset),
            as_attachment=True,
            filename=f"findings-{stamp}.xlsx",
            content_type=EXPORTS[fmt],
        )
    stream = exports.csv_stream(queryset) if fmt == "csv" else exports.ocsf_stream(queryset)
    response = StreamingHttpResponse(stream, content_type=EXPORTS[fmt])
    extension = "csv" if fmt == "csv" else "ocsf.json"
    response["Content-Disposition"] = f'attachment; filename="findings-{stamp}.{extension}"'
    return response


@require_GET
@requires(Capability.FINDINGS_VIEW)
def finding_detail(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = selectors.finding_for_user(request.user, finding_id)
    caps = capabilities(request.user)
    context = {
        "finding": finding,
        "rule": registry.get(finding.rule_id),
        "evidence_text": selectors.pretty(finding.evidence),
        "history": selectors.history(finding),
        "suppressions": selectors.suppressions(finding),
        "controls": compliance.controls_for_rule(finding.rule_id),
        "can_suppress": caps.has_all(Capability.ADMIN_ACCESS, Capability.FINDINGS_MANAGE),
        "section": "list",
        "account_visible": finding.account is not None
        and (caps.has(Capability.INVENTORY_VIEW_ALL) or caps.owns_account(finding.account.account_id)),
    }
    return render(request, "findings/detail.html", context)


@require_GET
@requires(Capability.FINDINGS_VIEW)
def compliance_index(request: HttpRequest) -> HttpResponse:
    findings = selectors.visible_findings(request.user)
    accounts = dict(visible_accounts(request.user).present().values_list("pk", "account_id"))
    reviews = compliance.review_evidence(accounts) if accounts else {}
    frameworks = [(fw, compliance.summary(fw, findings, reviews)) for fw in compliance.frameworks().values()]
    context = {"frameworks": frameworks, "section": "compliance", "review_days": settings.ACCESS_REVIEW_MAX_AGE_DAYS}
    return render(request, "findings/compliance.html", context)


@require_GET
@requires(Capability.FINDINGS_VIEW)
def framework_detail(request: HttpRequest, framework: str) -> HttpResponse:
    found = compliance.frameworks().get(framework)
    if found is None:
        raise Http404("No such framework.")
    accounts = paginate(
        visible_accounts(request.user).present().only("id", "name", "account_id"),
        order=("name", "id"),
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        per_page=ACCOUNTS_PER_PAGE,
    )
    rows = compliance.matrix(
        found,
        selectors.visible_findings(request.user),
        [a.pk for a in accounts],
        accounts={a.pk: a.account_id for a in accounts},
    )
    table = [
        {
            "row": row,
            "organization": row.status_for(None) if row.failing.get(None) else "",
            "cells": [
                (account, row.status_for(account.pk), row.failing.get(account.pk, 0), row.reviews.get(account.pk))
                for account in accounts
            ],
        }
        for row in rows
    ]
    context = {
        "framework": found,
        "accounts": accounts,
        "table": table,
        "section": "compliance",
        "review_days": settings.ACCESS_REVIEW_MAX_AGE_DAYS,
    }
    return render(request, "findings/framework.html", context)
