"""Reads over findings, always scoped to what the user may see.

Auditors, policy and campaign admins (inventory.view_all) see every finding; an owner sees the
findings on the accounts and principals they own. Other apps read findings through this module:
`open_findings_per_principal` (review campaigns), `findings_for_principal` and `history`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.http import QueryDict
from django.utils import timezone

from governance.authz.capabilities import (
    Capability,
    capabilities,
    get_object_for_user_or_404,
    visible_accounts,
    visible_principals,
)
from governance.findings import rules as registry
from governance.findings.models import (
    EvaluationRun,
    EventKind,
    Finding,
    FindingEvent,
    FindingStatus,
    Severity,
    Suppression,
)
from governance.inventory.models import Account, OrganizationalUnit
from governance.inventory.pagination import Page, paginate

PER_PAGE = 50
PANEL_SHOWN = 10
TREND_DAYS = 90
RISK_WEIGHTS = {Severity.CRITICAL: 10, Severity.HIGH: 5, Severity.MEDIUM: 2, Severity.LOW: 1}
ORDER = ("-severity_rank", "id")


def visible_findings(user: Any) -> QuerySet:
    """Findings the user may see: all with inventory.view_all; an owner those on what they own."""
    caps = capabilities(user)
    if not caps.has(Capability.FINDINGS_VIEW):
        return Finding.objects.none()
    if caps.has(Capability.INVENTORY_VIEW_ALL):
        return Finding.objects.all()
    return Finding.objects.filter(
        Q(account__in=visible_accounts(user), principal__isnull=True) | Q(principal__in=visible_principals(user))
    )


def open_findings_per_principal(principal_ids: Any) -> QuerySet:
    """(principal id, open findings) for those of `principal_ids` (ids, or a queryset of them)
    that have any: driven from the findings, so a hundred thousand principals without one cost
    nothing each."""
    return (
        Finding.objects.filter(status=FindingStatus.OPEN, principal_id__in=principal_ids)
        .order_by()
        .values("principal_id")
        .annotate(n=Count("id"))
        .values_list("principal_id", "n")
    )


def finding_for_user(user: Any, finding_id: int) -> Finding:
    """The finding, or 404 when it does not exist or the user may not see it."""
    return get_object_for_user_or_404(
        user,
        visible_findings(user).select_related("account__parent", "principal", "policy", "permission_set"),
        pk=finding_id,
    )


# The findings list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    rule: str = ""
    severity: str = ""
    account: str = ""  # AWS account id
    ou: str = ""  # OU id: the OU and everything below it
    status: str = FindingStatus.OPEN

    @classmethod
    def from_query(cls, query: QueryDict) -> Filters:
        """Filters from the query string; a value that names nothing known is ignored."""
        rule = query.get("rule", "")
        severity = query.get("severity", "")
        account = query.get("account", "")
        status = query.get("status", FindingStatus.OPEN)
        return cls(
            rule=rule if registry.get(rule) else "",
            severity=severity if severity in Severity.values else "",
            account=account if account.isdigit() and len(account) == 12 else "",
            ou=query.get("ou", "")[:68],
            status=status if status in (*FindingStatus.values, "all") else FindingStatus.OPEN,
        )

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def filtered(user: Any, filters: Filters) -> QuerySet:
    queryset = visible_findings(user)
    if filters.rule:
        queryset = queryset.filter(rule_id=filters.rule)
    if filters.severity:
        queryset = queryset.filter(severity=filters.severity)
    if filters.account:
        queryset = queryset.filter(account__account_id=filters.account)
    if filters.ou:
        unit = OrganizationalUnit.objects.filter(ou_id=filters.ou).only("path").first()
        queryset = queryset.filter(account__parent__path__startswith=unit.path) if unit else queryset.none()
    if filters.status != "all":
        queryset = queryset.filter(status=filters.status)
    return queryset


def finding_page(user: Any, filters: Filters, *, after: str = "", before: str = "") -> Page:
    queryset = filtered(user, filters).select_related("account").defer("evidence")
    page = paginate(queryset, order=ORDER, after=after, before=before, per_page=PER_PAGE)
    for finding in page:
        finding.rule = registry.get(finding.rule_id)
    return page


def filter_choices(user: Any) -> dict[str, Any]:
    """What the filter form offers: rules, severities, statuses, and the accounts and OUs the user sees."""
    return {
        "rules": [(r.id, r.title) for r in registry.all_rules()],
        "severities": Severity.choices,
        "statuses": [*FindingStatus.choices, ("all", "Any status")],
        "accounts": list(visible_accounts(user).present().order_by("name").values_list("account_id", "name")[:500]),
        "ous": list(
            OrganizationalUnit.objects.present().filter(is_root=False).order_by("path").values_list("ou_id", "name")
        )
        if capabilities(user).has(Capability.INVENTORY_VIEW_ALL)
        else [],
    }


# The finding page -------------------------------------------------------------------------------


def history(finding: Finding) -> list[FindingEvent]:
    """The finding's events, its opening first (kept on the finding itself, not as an event row)."""
    opened = FindingEvent(finding=finding, kind=EventKind.OPENED, at=finding.first_seen, run_id=finding.first_run_id)
    return [opened, *finding.events.order_by("at", "id")]


def suppressions(finding: Finding) -> list[Suppression]:
    return list(finding.suppressions.order_by("-created_at", "-id"))


def pretty(value: Any) -> str:
    """Evidence for reading: JSON indented, keys as the rule wrote them."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# Dashboard --------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    by_severity: dict[str, int]
    by_account: list[dict[str, Any]]
    by_ou: list[dict[str, Any]]
    riskiest: list[dict[str, Any]]
    trend: dict[str, Any]
    by_rule: list[tuple[Any, int]]
    last_run: EvaluationRun | None
    scoped: bool
    total: int = field(init=False)

    def __post_init__(self) -> None:
        self.total = sum(self.by_severity.values())


def _severity_counts() -> dict[str, Count]:
    return {s: Count("id", filter=Q(severity=s)) for s in Severity.values}


def dashboard(user: Any) -> Dashboard:
    """Open findings by severity, by account and OU, by rule; the riskiest principals; the trend."""
    open_findings = visible_findings(user).filter(status=FindingStatus.OPEN)
    counts = dict(open_findings.order_by().values_list("severity").annotate(n=Count("id")))
    by_severity = {s: counts.get(s, 0) for s in Severity.values}
    by_account = list(
        open_findings.filter(account__isnull=False)
        .order_by()
        .values("account__account_id", "account__name", "account__parent__name", "account__parent__is_root")
        .annotate(total=Count("id"), **_severity_counts())
        .order_by("-total", "account__name")[:20]
    )
    by_ou = list(
        open_findings.filter(account__parent__isnull=False)
        .order_by()
        .values("account__parent__ou_id", "account__parent__name", "account__parent__is_root")
        .annotate(total=Count("id"), **_severity_counts())
        .order_by("-total", "account__parent__name")[:20]
    )
    weight = Case(*[When(severity=s, then=Value(w)) for s, w in RISK_WEIGHTS.items()], output_field=IntegerField())
    riskiest = list(
        open_findings.filter(principal__isnull=False)
        .order_by()
        .values("principal_id", "principal__name", "principal__kind", "account__name")
        .annotate(score=Sum(weight), total=Count("id"))
        .order_by("-score", "principal__name")[:10]
    )
    rule_counts = dict(open_findings.order_by().values_list("rule_id").annotate(n=Count("id")))
    by_rule = sorted(
        ((rule, rule_counts.get(rule.id, 0)) for rule in registry.all_rules()),
        key=lambda item: (-item[1], item[0].id),
    )
    scoped = not capabilities(user).has(Capability.INVENTORY_VIEW_ALL)
    return Dashboard(
        by_severity=by_severity,
        by_account=by_account,
        by_ou=by_ou,
        riskiest=riskiest,
        trend={} if scoped else trend(),
        by_rule=by_rule,
        last_run=EvaluationRun.objects.filter(finished_at__isnull=False).order_by("-started_at", "-id").first(),
        scoped=scoped,
    )


def trend(days: int = TREND_DAYS) -> dict[str, Any]:
    """Open findings by severity at the end of each day that had an evaluation (organization-wide)."""
    since = timezone.now() - timedelta(days=days)
    last_by_day: OrderedDict[str, dict[str, int]] = OrderedDict()
    runs = EvaluationRun.objects.filter(started_at__gte=since, finished_at__isnull=False).order_by("started_at", "id")
    for started_at, totals in runs.values_list("started_at", "open_by_severity"):
        last_by_day[started_at.date().isoformat()] = totals or {}
    return {
        "labels": list(last_by_day),
        "series": [
            {"severity": s, "label": label, "data": [day.get(s, 0) for day in last_by_day.values()]}
            for s, label in Severity.choices
        ],
    }


def dashboard_card(request) -> dict | None:
    """The findings card on the portal's dashboard: open counts by severity."""
    if not capabilities(request.user).has(Capability.FINDINGS_VIEW):
        return None
    counts = dict(
        visible_findings(request.user)
        .filter(status=FindingStatus.OPEN)
        .order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    return {"findings_by_severity": [(s, label, counts.get(s, 0)) for s, label in Severity.choices]}


# Panels on inventory pages ----------------------------------------------------------------------


def _panel(request, queryset: QuerySet, filter_query: dict[str, str]) -> dict | None:
    if not capabilities(request.user).has(Capability.FINDINGS_VIEW):
        return None
    open_findings = queryset.filter(status=FindingStatus.OPEN)
    counts = dict(open_findings.order_by().values_list("severity").annotate(n=Count("id")))
    shown = list(open_findings.defer("evidence").order_by(*ORDER)[: PANEL_SHOWN + 1])
    for finding in shown:
        finding.rule = registry.get(finding.rule_id)
    return {
        "panel_counts": [(s, label, counts.get(s, 0)) for s, label in Severity.choices],
        "panel_findings": shown[:PANEL_SHOWN],
        "panel_more": len(shown) > PANEL_SHOWN,
        "panel_total": sum(counts.values()),
        "panel_query": filter_query,
    }


def account_panel(request, account: Account) -> dict | None:
    return _panel(request, visible_findings(request.user).filter(account=account), {"account": account.account_id})


def principal_panel(request, principal) -> dict | None:
    return _panel(request, findings_for_principal(request.user, principal), {})


def findings_for_principal(user: Any, principal) -> QuerySet:
    """The findings on one principal that the user may see (for inventory and review pages)."""
    return visible_findings(user).filter(principal=principal)
