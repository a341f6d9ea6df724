"""Reads of AWS's signals: the pages', the panels', and what other apps ask through here.

Other feature apps call these, never this app's models:
- reviews: `last_accessed_hints(principal_ids)`, the decision hint ("never used EC2 in 400 days");
- scp (impact analysis): `action_usage(account_ids, actions)`, who last used which action where;
- scp (drift) and inventory pages: `changes_to(target)`, who changed a policy or principal, and
  whether they did it through the portal;
- findings rules: `active_analyzer_findings(kind, account_pks)`.
Every list a person sees is scoped to the accounts (and principals) they may see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from governance.authz.capabilities import Capability, capabilities, visible_accounts
from governance.inventory.pagination import Page, paginate
from governance.signals.models import (
    ActionLastUsed,
    ActivityEvent,
    AnalyzerFinding,
    AnalyzerFindingStatus,
    Compliance,
    ConfigRuleCompliance,
    LastAccessedFetch,
    ServiceLastAccessed,
    Source,
    SourceState,
    SourceStatus,
)

ACTIVITY_ORDER = ("-event_time", "-id")
PER_PAGE = 50
PANEL_ROWS = 5
# AWS tracks service last accessed for about this long; "never" means "not within it".
TRACKING_DAYS = 400
UNUSED_DAYS = 90


# Scopes ------------------------------------------------------------------------------------------


def visible_activity(user: Any) -> QuerySet:
    """Events in accounts the user may see, and events by principals they own."""
    caps = capabilities(user)
    if caps.has(Capability.INVENTORY_VIEW_ALL):
        return ActivityEvent.objects.all()
    if not caps.has(Capability.INVENTORY_VIEW):
        return ActivityEvent.objects.none()
    return ActivityEvent.objects.filter(
        Q(account__account_id__in=caps.owned_account_ids) | Q(actor_id__in=caps.owned_principal_ids)
    )


def visible_analyzer_findings(user: Any) -> QuerySet:
    caps = capabilities(user)
    if not caps.has(Capability.FINDINGS_VIEW):
        return AnalyzerFinding.objects.none()
    if caps.has(Capability.INVENTORY_VIEW_ALL):
        return AnalyzerFinding.objects.all()
    return AnalyzerFinding.objects.filter(
        Q(account__account_id__in=caps.owned_account_ids) | Q(principal_id__in=caps.owned_principal_ids)
    )


def visible_config_rules(user: Any) -> QuerySet:
    if not capabilities(user).has(Capability.FINDINGS_VIEW):
        return ConfigRuleCompliance.objects.none()
    return ConfigRuleCompliance.objects.filter(account__in=visible_accounts(user))


# Source statuses ---------------------------------------------------------------------------------


def source_status(source: str, account=None) -> SourceStatus | None:
    """The last read of `source` for the account (falling back to the organization-wide row)."""
    rows = {
        s.scope: s
        for s in SourceStatus.objects.filter(source=source, scope__in=["", getattr(account, "account_id", "")])
    }
    if account is not None and account.account_id in rows:
        own = rows[account.account_id]
        org = rows.get("")
        # The endpoint said it lacks the API after this account's last read: that is the news.
        if org is not None and org.state == SourceState.NOT_AVAILABLE and org.checked_at > own.checked_at:
            return org
        return own
    return rows.get("")


def statuses() -> list[dict]:
    """Each source with its organization-wide status (None: never read)."""
    rows = {s.source: s for s in SourceStatus.objects.filter(scope="")}
    return [{"source": value, "label": label, "status": rows.get(value)} for value, label in Source.choices]


# Activity feed -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityFilters:
    account: str = ""
    principal: int | None = None
    out_of_band: bool = False
    writes: bool = False
    source: str = ""

    @classmethod
    def from_query(cls, query: Any) -> ActivityFilters:
        principal = query.get("principal", "")
        return cls(
            account=query.get("account", "")[:12],
            principal=int(principal) if principal.isdigit() else None,
            out_of_band=query.get("out_of_band") == "1",
            writes=query.get("writes") == "1",
            source=query.get("source", "")[:64],
        )


def activity_page(user: Any, filters: ActivityFilters, *, after: str = "", before: str = "") -> Page:
    queryset = visible_activity(user).select_related("account", "actor")
    if filters.account:
        queryset = queryset.filter(account__account_id=filters.account)
    if filters.principal is not None:
        queryset = queryset.filter(actor_id=filters.principal)
    if filters.out_of_band:
        queryset = queryset.filter(out_of_band=True)
    if filters.writes:
        queryset = queryset.filter(read_only=False)
    if filters.source:
        queryset = queryset.filter(event_source=filters.source)
    return paginate(queryset, order=ACTIVITY_ORDER, after=after, before=before, per_page=PER_PAGE)


def event_sources() -> list[str]:
    from governance.aws.readers.cloudtrail import EVENT_SOURCES

    return list(EVENT_SOURCES)


def changes_to(target: str, *, since: datetime | None = None, limit: int = 20) -> list[ActivityEvent]:
    """Successful changes naming `target` (a policy id or ARN, a role or user name), newest first:
    who made them, and whether through the portal's writer role. For SCP drift and out-of-band
    IAM changes. Not scoped: callers show it only on objects the person may already see."""
    queryset = ActivityEvent.objects.filter(target=target, read_only=False, error_code="")
    if since is not None:
        queryset = queryset.filter(event_time__gte=since)
    return list(queryset.order_by(*ACTIVITY_ORDER)[:limit])


# Last use of actions (impact analysis) -----------------------------------------------------------


@dataclass(frozen=True)
class ActionUse:
    account_id: str
    principal_arn: str
    principal_id: int | None
    action: str
    last_used_at: datetime
    source: str


def action_usage(
    *, account_ids: Iterable[str] | None = None, actions: Iterable[str] | None = None, since: datetime | None = None
) -> list[ActionUse]:
    """Who used which action in which account, and when last; `actions` may end in "*" (a prefix)."""
    queryset = ActionLastUsed.objects.select_related("account")
    if account_ids is not None:
        queryset = queryset.filter(account__account_id__in=list(account_ids))
    if actions is not None:
        condition = Q()
        for action in actions:
            if action == "*":
                condition = Q()
                break
            condition |= Q(action__istartswith=action[:-1]) if action.endswith("*") else Q(action__iexact=action)
        queryset = queryset.filter(condition)
    if since is not None:
        queryset = queryset.filter(last_used_at__gte=since)
    return [
        ActionUse(
            account_id=row.account.account_id,
            principal_arn=row.principal_arn,
            principal_id=row.principal_id,
            action=row.action,
            last_used_at=row.last_used_at,
            source=row.source,
        )
        for row in queryset.order_by("action", "-last_used_at")[:5000]
    ]


# Service last accessed (review hints) ------------------------------------------------------------


@dataclass(frozen=True)
class ServiceUse:
    namespace: str
    name: str
    last_used: datetime | None

    def days_unused(self, now: datetime) -> int | None:
        return None if self.last_used is None else (now - self.last_used).days


@dataclass(frozen=True)
class LastAccessedHint:
    """What AWS says a principal used: the decision hint a reviewer sees beside keep/revoke."""

    principal_id: int
    fetched_at: datetime | None
    services: tuple[ServiceUse, ...] = ()
    state: str = ""
    never_used: tuple[str, ...] = field(default=())
    unused_90d: tuple[str, ...] = field(default=())
    used: tuple[str, ...] = field(default=())

    @property
    def suggests_revoke(self) -> bool:
        """Nothing it may use was used in 90 days (AWS tracked it and found nothing)."""
        return bool(self.services) and not self.used

    @property
    def text(self) -> str:
        if not self.services:
            return "Service last accessed: not fetched yet." if not self.fetched_at else "No services allowed."
        parts = []
        if self.never_used:
            names = ", ".join(self.never_used[:4]) + (
                f" and {len(self.never_used) - 4} more" if len(self.never_used) > 4 else ""
            )
            parts.append(f"never used {names} in {TRACKING_DAYS} days")
        if self.unused_90d:
            parts.append(f"not used {', '.join(self.unused_90d[:4])} in {UNUSED_DAYS} days")
        if self.used:
            parts.append(f"used {', '.join(self.used[:4])} recently")
        sentence = "; ".join(parts)
        return sentence[:1].upper() + sentence[1:] + "."


def last_accessed_hints(principal_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, LastAccessedHint]:
    """One hint per principal (two queries whatever the number of principals)."""
    now = now or timezone.now()
    ids = sorted(set(principal_ids))
    fetches = {f.principal_id: f for f in LastAccessedFetch.objects.filter(principal_id__in=ids)}
    services: dict[int, list[ServiceUse]] = defaultdict(list)
    for row in ServiceLastAccessed.objects.filter(principal_id__in=ids).order_by("principal_id", "service_name"):
        services[row.principal_id].append(ServiceUse(row.namespace, row.service_name, row.last_authenticated))
    cutoff = now - timedelta(days=UNUSED_DAYS)
    hints = {}
    for pk in ids:
        uses = services.get(pk, [])
        fetch = fetches.get(pk)
        hints[pk] = LastAccessedHint(
            principal_id=pk,
            fetched_at=fetch.completed_at if fetch else None,
            state=fetch.state if fetch else "",
            services=tuple(uses),
            never_used=tuple(_short(u) for u in uses if u.last_used is None),
            unused_90d=tuple(_short(u) for u in uses if u.last_used is not None and u.last_used < cutoff),
            used=tuple(_short(u) for u in uses if u.last_used is not None and u.last_used >= cutoff),
        )
    return hints


def _short(use: ServiceUse) -> str:
    return use.namespace.upper() if len(use.namespace) <= 3 else use.name


# Access Analyzer ---------------------------------------------------------------------------------


def active_analyzer_findings(kind: str, account_pks: Iterable[int] | None = None) -> QuerySet:
    """Active findings of one kind (external, unused) for the findings rules, in scope accounts."""
    queryset = AnalyzerFinding.objects.filter(status=AnalyzerFindingStatus.ACTIVE, kind=kind, account__isnull=False)
    if account_pks is not None:
        queryset = queryset.filter(account_id__in=list(account_pks))
    return queryset.order_by("id")


def analyzer_page(user: Any, *, status: str = AnalyzerFindingStatus.ACTIVE, after: str = "", before: str = "") -> Page:
    queryset = visible_analyzer_findings(user).select_related("account", "principal")
    if status in AnalyzerFindingStatus.values:
        queryset = queryset.filter(status=status)
    return paginate(queryset, order=("-updated_at", "-id"), after=after, before=before, per_page=PER_PAGE)


# AWS Config --------------------------------------------------------------------------------------


def config_summary(user: Any, *, after: str = "", before: str = "", non_compliant_only: bool = False) -> dict:
    """Accounts (a keyset page) with their IAM rules' compliance, plus totals over what the user sees."""
    rules = visible_config_rules(user)
    totals = dict(rules.values_list("compliance").annotate(n=Count("id")).order_by())
    accounts_qs = visible_accounts(user).present().filter(pk__in=rules.values("account_id"))
    if non_compliant_only:
        accounts_qs = accounts_qs.filter(pk__in=rules.filter(compliance=Compliance.NON_COMPLIANT).values("account_id"))
    page = paginate(
        accounts_qs.only("id", "name", "account_id"), order=("name", "id"), after=after, before=before, per_page=25
    )
    by_account: dict[int, list[ConfigRuleCompliance]] = defaultdict(list)
    for row in rules.filter(account_id__in=[a.pk for a in page]).order_by("account_id", "-compliance", "rule_name"):
        by_account[row.account_id].append(row)
    return {
        "page": page,
        "rows": [(account, by_account.get(account.pk, [])) for account in page],
        "totals": {label: totals.get(value, 0) for value, label in Compliance.choices},
        "status": source_status(Source.CONFIG),
    }


# Panels on inventory pages -----------------------------------------------------------------------


def account_panel(request, account) -> dict | None:
    caps = capabilities(request.user)
    if not caps.has(Capability.INVENTORY_VIEW):
        return None
    events = list(
        visible_activity(request.user)
        .filter(account=account, out_of_band=True)
        .select_related("actor")
        .order_by(*ACTIVITY_ORDER)[:PANEL_ROWS]
    )
    config = []
    if caps.has(Capability.FINDINGS_VIEW):
        config = list(
            ConfigRuleCompliance.objects.filter(account=account, compliance=Compliance.NON_COMPLIANT).order_by(
                "rule_name"
            )[:PANEL_ROWS]
        )
    return {
        "signals_events": events,
        "signals_config": config,
        "signals_activity_status": source_status(Source.CLOUDTRAIL, account),
        "signals_show_config": caps.has(Capability.FINDINGS_VIEW),
        "signals_config_status": source_status(Source.CONFIG, account) if caps.has(Capability.FINDINGS_VIEW) else None,
    }


def principal_panel(request, principal) -> dict | None:
    caps = capabilities(request.user)
    if not caps.has(Capability.INVENTORY_VIEW):
        return None
    events = list(
        visible_activity(request.user)
        .filter(actor=principal)
        .select_related("account")
        .order_by(*ACTIVITY_ORDER)[:PANEL_ROWS]
    )
    hint = last_accessed_hints([principal.pk]).get(principal.pk)
    analyzer = []
    if caps.has(Capability.FINDINGS_VIEW):
        analyzer = list(
            AnalyzerFinding.objects.filter(principal=principal, status=AnalyzerFindingStatus.ACTIVE).order_by("id")[
                :PANEL_ROWS
            ]
        )
    return {
        "signals_events": events,
        "signals_hint": hint,
        "signals_analyzer": analyzer,
        "signals_activity_status": source_status(Source.CLOUDTRAIL, principal.account),
        "signals_last_accessed_status": source_status(Source.LAST_ACCESSED),
    }


def policy_panel(request, policy) -> dict | None:
    """Who changed this policy in AWS (CloudTrail), and whether through the portal: SCP drift's author."""
    if not capabilities(request.user).has(Capability.INVENTORY_VIEW):
        return None
    targets = [t for t in (policy.arn, policy.aws_policy_id) if t]
    events = list(
        ActivityEvent.objects.filter(target__in=targets, read_only=False, error_code="").order_by(*ACTIVITY_ORDER)[
            :PANEL_ROWS
        ]
    )
    return {"signals_events": events, "signals_activity_status": source_status(Source.CLOUDTRAIL)}
