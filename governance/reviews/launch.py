"""Launching a campaign: one INSERT .. SELECT of every entitlement in scope, with its context.

Each kind of entitlement is one SELECT built with the ORM (so the SQL is right on PostgreSQL and
SQLite alike), the five are joined with UNION ALL, and the database copies them into
`reviews_item` in a single statement: the risk context, the reviewer (the template's rules in
order, then the fallback; never the person themself) and the recommendation with its reason are
all computed in that SELECT. Nothing passes through Python row by row, which is what lets a
million-item campaign launch in seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, Lower, NullIf
from django.db.models.lookups import IsNull
from django.utils import timezone

from governance.audit.services import record
from governance.findings.selectors import open_findings_per_principal
from governance.inventory.models import (
    AccessKey,
    AccessKeyStatus,
    Account,
    AccountAssignment,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    OrganizationalUnit,
    PermissionSetPolicy,
    Policy,
    Principal,
    PrincipalKind,
    SyncRun,
)
from governance.reviews import partitions, providers
from governance.reviews.models import (
    Campaign,
    CampaignTemplate,
    ItemKind,
    Recommendation,
    ReviewerRule,
    ReviewItem,
    Risk,
    TriggerFilter,
    TriggerKind,
)

UNUSED_DAYS = 90
RECENT_DAYS = 30


class LaunchError(ValueError):
    """The template cannot be launched as it stands; nothing was written."""


@dataclass(frozen=True)
class LaunchResult:
    campaign: Campaign
    created: bool
    items: int
    reviewers: int
    accounts: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.pk,
            "items": self.items,
            "reviewers": self.reviewers,
            "accounts": self.accounts,
            "seconds": round(self.seconds, 3),
        }


def current_period(now: datetime) -> str:
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def _quarter_index(moment: datetime) -> int:
    return moment.year * 4 + (moment.month - 1) // 3


def last_fire(template: CampaignTemplate, now: datetime) -> datetime:
    """When the template's cron last fired before `now` (LaunchError for a bad expression)."""
    try:
        return croniter(template.recurrence_cron, now).get_prev(datetime)
    except (ValueError, KeyError) as exc:
        cron = template.recurrence_cron
        raise LaunchError(f"The template {template.name} has a bad cron expression: {cron!r}.") from exc


def fires_once_a_quarter(template: CampaignTemplate, fired: datetime) -> bool:
    """Whether the cron fires exactly once per calendar quarter around `fired` (the default)."""
    before = croniter(template.recurrence_cron, fired).get_prev(datetime)
    after = croniter(template.recurrence_cron, fired).get_next(datetime)
    return _quarter_index(fired) - _quarter_index(before) == 1 == _quarter_index(after) - _quarter_index(fired)


def template_period(template: CampaignTemplate, now: datetime) -> str:
    """The period a launch of `template` at `now` belongs to: the calendar quarter ("2026-Q4") for
    an event-driven template or a cron that fires once a quarter (the default), otherwise the cron's
    last fire ("2026-12-01", with the time when it fires more than once a day), so a monthly or
    weekly template gets a campaign per month or week."""
    if template.trigger != TriggerKind.SCHEDULED:
        return current_period(now)
    fired = last_fire(template, now)
    if fires_once_a_quarter(template, fired):
        return current_period(now)
    after = croniter(template.recurrence_cron, fired).get_next(datetime)
    return fired.strftime("%Y-%m-%dT%H:%M" if after - fired < timedelta(days=1) else "%Y-%m-%d")


class DaysSince(models.Func):
    """Whole days from `expression` to `now` (a parameter), on PostgreSQL and SQLite."""

    output_field = models.IntegerField()

    def __init__(self, expression: Any, now: datetime) -> None:
        super().__init__(expression)
        self.now = now

    def as_sql(self, compiler, connection, **extra):  # type: ignore[override]
        inner, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            # date_part, not EXTRACT: EXTRACT returns numeric, whose arithmetic cost a million-item
            # launch about a second; seconds as a double are exact to the microsecond here.
            sql = f"CAST(FLOOR(date_part('epoch', %s::timestamptz - {inner}) / 86400) AS integer)"
        else:
            sql = f"CAST(julianday(%s) - julianday({inner}) AS integer)"
        return sql, [connection.ops.adapt_datetimefield_value(self.now), *params]


def scope_accounts(template: CampaignTemplate):
    """The accounts a template covers: its OUs' subtrees plus its named accounts (all when none)."""
    accounts = Account.objects.present()
    if not (template.scope_ou_ids or template.scope_account_ids):
        return accounts
    wanted = Q(account_id__in=list(template.scope_account_ids))
    for path in OrganizationalUnit.objects.filter(ou_id__in=list(template.scope_ou_ids)).values_list("path", flat=True):
        wanted |= Q(parent__path__startswith=path)
    return accounts.filter(wanted)


def _reviewer(template: CampaignTemplate, rules: dict[str, Any]) -> tuple[Any, Any]:
    """The (reviewer e-mail, rule that chose it) expressions: the first rule with an answer."""
    candidates: list[tuple[str, Any]] = []
    for rule in template.reviewer_rules:
        if rule == ReviewerRule.NAMED and template.named_reviewer:
            candidates.append((rule, Value(template.named_reviewer.lower())))
        elif rules.get(rule) is not None:
            candidates.append((rule, NullIf(Lower(rules[rule]), Value(""))))
    fallback = Value(template.fallback_reviewer.lower())
    if not candidates:
        return fallback, Value(ReviewerRule.FALLBACK.value)
    email = Coalesce(*[expr for _, expr in candidates], fallback)
    chosen_by = Case(
        *[When(IsNull(expr, False), then=Value(str(rule))) for rule, expr in candidates],
        default=Value(ReviewerRule.FALLBACK.value),
    )
    return email, chosen_by


@dataclass
class _Source:
    """One kind of entitlement: the queryset it comes from and how each column is read there."""

    kinds: tuple[str, ...]
    queryset: Any
    kind: Any
    account: str
    principal: str  # the path to the Principal from the queryset's model ("" when it is one)
    target_name: Any
    target_arn: Any
    via: Any
    last_used: Any
    key_created: Any
    admin_access: Any
    manager: bool


def _p(prefix: str, field: str) -> F:
    return F(f"{prefix}__{field}" if prefix else field)


def _triggered(sources: list[_Source], template: CampaignTemplate, since: datetime) -> list[_Source]:
    """Only what is new since `since` and matches the template's trigger filter."""
    from governance.inventory.trust import trustees

    kept = []
    for source in sources:
        queryset = source.queryset.filter(first_seen__gte=since)
        if template.trigger_filter == TriggerFilter.ADMIN:
            queryset = queryset.annotate(t_admin=source.admin_access).exclude(t_admin="")
        elif template.trigger_filter == TriggerFilter.EXTERNAL_TRUST:
            if source.kinds != (ItemKind.ROLE_TRUST,):
                continue
            org_accounts = set(Account.objects.values_list("account_id", flat=True))
            external = [
                pk
                for pk, trust in queryset.values_list("pk", "trust_policy")
                if any(t.outside or t.kind == "anyone" for t in trustees(trust, organization_accounts=org_accounts))
            ]
            queryset = queryset.filter(pk__in=external)
        source.queryset = queryset
        kept.append(source)
    return kept


def has_new(template: CampaignTemplate, since: datetime) -> bool:
    sources = _triggered(_sources(template, scope_accounts(template)), template, since)
    return any(source.queryset.exists() for source in sources)


def _sources(template: CampaignTemplate, accounts) -> list[_Source]:
    kinds = set(template.kinds)
    none_dt = Cast(Value(None), models.DateTimeField())
    admin_of_group = Exists(
        Entitlement.objects.present().filter(principal_id=OuterRef("group_id")).exclude(policy__admin_access="")
    )
    admin_of_permission_set = Exists(
        PermissionSetPolicy.objects.present()
        .filter(permission_set_id=OuterRef("permission_set_id"))
        .exclude(policy__admin_access="")
    ) | Exists(
        Policy.objects.present().filter(permission_set_id=OuterRef("permission_set_id")).exclude(admin_access="")
    )
    sources = []
    if kinds & {ItemKind.USER_POLICY, ItemKind.ROLE_POLICY}:
        principal_kinds = [
            k
            for k, wanted in (
                (PrincipalKind.IAM_USER, ItemKind.USER_POLICY),
                (PrincipalKind.IAM_ROLE, ItemKind.ROLE_POLICY),
            )
            if wanted in kinds
        ]
        sources.append(
            _Source(
                kinds=(ItemKind.USER_POLICY, ItemKind.ROLE_POLICY),
                queryset=Entitlement.objects.present().filter(
                    account__in=accounts,
                    principal__kind__in=principal_kinds,
                    principal__removed_at__isnull=True,
                    via__in=[EntitlementVia.DIRECT, EntitlementVia.INLINE],
                ),
                kind=Case(
                    When(principal__kind=PrincipalKind.IAM_USER, then=Value(ItemKind.USER_POLICY.value)),
                    default=Value(ItemKind.ROLE_POLICY.value),
                ),
                account="account",
                principal="principal",
                target_name=F("policy__name"),
                target_arn=F("policy__arn"),
                via=F("via"),
                last_used=Coalesce(F("principal__last_used"), F("principal__password_last_used")),
                key_created=none_dt,
                admin_access=F("policy__admin_access"),
                manager=False,
            )
        )
    if ItemKind.GROUP_MEMBERSHIP in kinds:
        sources.append(
            _Source(
                kinds=(ItemKind.GROUP_MEMBERSHIP,),
                queryset=GroupMembership.objects.present().filter(
                    group__kind=PrincipalKind.IAM_GROUP,
                    group__account__in=accounts,
                    member__removed_at__isnull=True,
                ),
                kind=Value(ItemKind.GROUP_MEMBERSHIP.value),
                account="group__account",
                principal="member",
                target_name=F("group__name"),
                target_arn=F("group__arn"),
                via=Value("group"),
                last_used=Coalesce(F("member__last_used"), F("member__password_last_used")),
                key_created=none_dt,
                admin_access=Case(When(admin_of_group, then=Value("full")), default=Value("")),
                manager=False,
            )
        )
    if ItemKind.ROLE_TRUST in kinds:
        sources.append(
            _Source(
                kinds=(ItemKind.ROLE_TRUST,),
                queryset=Principal.objects.present().filter(
                    kind=PrincipalKind.IAM_ROLE, account__in=accounts, trust_policy__isnull=False
                ),
                kind=Value(ItemKind.ROLE_TRUST.value),
                account="account",
                principal="",
                target_name=Value("trust policy"),
                target_arn=F("arn"),
                via=Value("trust"),
                last_used=F("last_used"),
                key_created=none_dt,
                admin_access=Value(""),
                manager=False,
            )
        )
    if ItemKind.ACCESS_KEY in kinds:
        sources.append(
            _Source(
                kinds=(ItemKind.ACCESS_KEY,),
                queryset=AccessKey.objects.present().filter(
                    account__in=accounts, status=AccessKeyStatus.ACTIVE, principal__removed_at__isnull=True
                ),
                kind=Value(ItemKind.ACCESS_KEY.value),
                account="account",
                principal="principal",
                target_name=Concat(Value("access key "), Cast("slot", models.CharField())),
                target_arn=F("access_key_id"),
                via=Value("key"),
                last_used=F("last_used_date"),
                key_created=F("created"),
                admin_access=Value(""),
                manager=False,
            )
        )
    if ItemKind.SSO_ASSIGNMENT in kinds:
        sources.append(
            _Source(
                kinds=(ItemKind.SSO_ASSIGNMENT,),
                queryset=AccountAssignment.objects.present().filter(
                    account__in=accounts, principal__isnull=False, principal__removed_at__isnull=True
                ),
                kind=Value(ItemKind.SSO_ASSIGNMENT.value),
                account="account",
                principal="principal",
                target_name=F("permission_set__name"),
                target_arn=F("permission_set__arn"),
                via=Value("permission_set"),
                last_used=none_dt,
                key_created=none_dt,
                admin_access=Case(When(admin_of_permission_set, then=Value("full")), default=Value("")),
                manager=True,
            )
        )
    return sources


# The columns the SELECT produces, in the INSERT's order.
SELECTED = (
    "kind",
    "source_id",
    "account_id",
    "aws_account_id",
    "account_name",
    "principal_id",
    "principal_arn",
    "principal_name",
    "principal_kind",
    "principal_email",
    "target_name",
    "target_arn",
    "via",
    "last_used",
    "mfa_enabled",
    "key_created",
    "admin_access",
    "reviewer_email",
    "routed_by",
    "self_review_rerouted",
    "recommendation",
    "recommendation_reason",
    "risk",
)


# What the recommendation rules read, computed once per row in the inner SELECT (see `_select`).
_RULE_INPUTS = ("r_kind", "r_last_used", "r_days", "r_key_days", "r_created_days", "r_admin", "r_target")


def _recommendation_sql() -> tuple[str, str, str]:
    """(recommendation, reason, risk) as SQL over `_RULE_INPUTS`: the first rule that applies, as
    the README lists. Written over columns rather than ORM expressions so that each row's ages
    are computed once, not once per rule (at a million rows that was most of the launch)."""

    def is_kind(*kinds: str) -> str:
        return "r_kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"

    never = "r_last_used IS NULL"
    unused = f"r_last_used IS NOT NULL AND r_days > {UNUSED_DAYS}"
    old_key = f"r_key_days > {UNUSED_DAYS}"
    old_principal = f"r_created_days > {UNUSED_DAYS}"
    days = "CAST(r_days AS TEXT)"
    roles = is_kind(ItemKind.ROLE_POLICY, ItemKind.ROLE_TRUST)
    users = is_kind(ItemKind.USER_POLICY, ItemKind.GROUP_MEMBERSHIP)
    key = is_kind(ItemKind.ACCESS_KEY)
    revoke, review, keep = Recommendation.REVOKE.value, Recommendation.REVIEW.value, Recommendation.KEEP.value
    stale = [
        (f"{key} AND {never} AND {old_key}", revoke,
         "'revoke: key never used in ' || CAST(r_key_days AS TEXT) || ' days'"),
        (f"{key} AND {unused}", revoke, f"'revoke: key unused for ' || {days} || ' days'"),
        (f"{roles} AND {never} AND {old_principal}", revoke, "'revoke: role never used'"),
        (f"{roles} AND {unused}", revoke, f"'revoke: role unused for ' || {days} || ' days'"),
        (f"{users} AND {never} AND {old_principal}", revoke, "'revoke: user never signed in or used a key'"),
        (f"{users} AND {unused}", revoke, f"'revoke: user unused for ' || {days} || ' days'"),
    ]  # fmt: skip
    admin = "r_admin <> ''"
    rules = [
        *stale,
        (admin, review, "'review: grants ' || COALESCE(r_target, '')"),
        ("r_days < 1", keep, "'keep: used today'"),
        ("r_days = 1", keep, "'keep: used yesterday'"),
        (f"r_days <= {RECENT_DAYS}", keep, f"'keep: used ' || {days} || ' days ago'"),
        ("r_last_used IS NOT NULL", review, f"'review: last used ' || {days} || ' days ago'"),
    ]
    recommendation = "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r, _ in rules) + f" ELSE '{review}' END"
    reason = (
        "CASE "
        + " ".join(f"WHEN {c} THEN {text}" for c, _, text in rules)
        + " ELSE 'review: the portal has no record of its use' END"
    )
    medium = " OR ".join(f"({c})" for c, _, _ in stale)
    high, medium_risk, low = Risk.HIGH.value, Risk.MEDIUM.value, Risk.LOW.value
    risk = f"CASE WHEN {admin} THEN '{high}' WHEN {medium} THEN '{medium_risk}' ELSE '{low}' END"
    return recommendation, reason, risk


def _select(source: _Source, template: CampaignTemplate, now: datetime) -> tuple[str, list]:
    p = source.principal
    email_rules = {
        ReviewerRule.MANAGER: _p(p, "manager__email") if source.manager else None,
        ReviewerRule.ACCOUNT_OWNER: F(f"{source.account}__owner"),
        ReviewerRule.PRINCIPAL_OWNER: _p(p, "owner"),
    }
    chosen, routed_by = _reviewer(template, email_rules)
    columns = {
        "kind": source.kind,
        "source_id": F("id"),
        "account_id": F(f"{source.account}_id") if "__" not in source.account else F(f"{source.account}__id"),
        "aws_account_id": F(f"{source.account}__account_id"),
        "account_name": F(f"{source.account}__name"),
        "principal_id": F(f"{p}_id") if p else F("id"),
        "principal_arn": _p(p, "arn"),
        "principal_name": _p(p, "name"),
        "principal_kind": _p(p, "kind"),
        "principal_email": Lower(_p(p, "email")),
        "target_name": source.target_name,
        "target_arn": Coalesce(source.target_arn, Value("")),
        "via": source.via,
        "last_used": source.last_used,
        "mfa_enabled": _p(p, "mfa_enabled"),
        "key_created": source.key_created,
        "admin_access": Coalesce(source.admin_access, Value("")),
    }
    inputs = {
        "r_reviewer": chosen,
        "r_routed_by": routed_by,
        "r_kind": source.kind,
        "r_last_used": source.last_used,
        "r_days": DaysSince(source.last_used, now),
        "r_key_days": DaysSince(source.key_created, now),
        "r_created_days": DaysSince(_p(p, "created"), now),
        "r_admin": Coalesce(source.admin_access, Value("")),
        "r_target": source.target_name,
    }
    aliases = {f"c_{name}": expr for name, expr in columns.items()} | inputs
    inner, params = source.queryset.order_by().annotate(**aliases).values_list(*aliases).query.sql_with_params()
    # OFFSET 0 keeps PostgreSQL from pulling the inner SELECT up into the outer one, which would
    # put the age expressions back into every rule.
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    recommendation, reason, risk = _recommendation_sql()
    outer = ", ".join(f"c_{name}" for name in columns)
    # The reviewer the rules chose is computed once, inside; a self-review goes to the fallback.
    fallback_rule = ReviewerRule.FALLBACK.value
    own = "c_principal_email = r_reviewer"
    reviewer = (
        f"CASE WHEN {own} THEN %s ELSE r_reviewer END AS c_reviewer_email, "
        f"CASE WHEN {own} THEN '{fallback_rule}' ELSE r_routed_by END AS c_routed_by, "
        f"CASE WHEN {own} THEN true ELSE false END AS c_self_review_rerouted"
    )
    sql = (
        f"SELECT {outer}, {reviewer}, {recommendation} AS c_recommendation, "  # noqa: S608
        f"{reason} AS c_recommendation_reason, {risk} AS c_risk FROM ({inner}{fence}) AS r"
    )
    return sql, [template.fallback_reviewer.lower(), *params]


# Columns the INSERT fills with one value for every row (the rest of the item's fields).
CONSTANTS = {
    "open_findings": 0,
    "context": "{}",
    "delegated_from": "",
    "delegation_reason": "",
    "decision": "",
    "justification": "",
    "decided_in_bulk": False,
    "defaulted_at_close": False,
    "flagged": False,
    "locked": False,
    "version": 0,
    "remediation_status": "",
    "remediation_request_id": "",
    "remediation_error": "",
    "remediation_attempts": 0,
    "remediation_ticket": "",
}


# What a launch counts of the items it wrote: the manifest's counts and the reviewers to tell.
_COUNTED = ("aws_account_id", "kind", "reviewer_email")


def _insert_items(
    campaign: Campaign, template: CampaignTemplate, accounts, now: datetime, new_since: datetime | None
) -> tuple[list[_Source], list[tuple[str, str, str, int]]]:
    """Copy the entitlements in scope into the campaign's items; returns the sources and the
    items written counted by (account, kind, reviewer).

    A full launch on PostgreSQL writes into a bare table of the campaign's own, counts it, and
    attaches it as the campaign's partition (`partitions`). An event-driven one (`new_since`) is
    small and goes into the shared DEFAULT partition, so frequent syncs do not make a partition
    each; its counts come from the INSERT itself (a data-modifying WITH whose RETURNING is
    grouped). Elsewhere they are counted after the INSERT."""
    sources = _sources(template, accounts)
    if new_since is not None:
        sources = _triggered(sources, template, new_since)
    if not sources:
        return sources, []
    parts, params = [], []
    for source in sources:
        sql, part_params = _select(source, template, now)
        parts.append(f"SELECT * FROM ({sql}) AS s{len(parts)}")  # noqa: S608 - the ORM's own SQL
        params.extend(part_params)
    quote = connection.ops.quote_name
    columns = ["campaign_id", *SELECTED, *CONSTANTS]
    postgresql = connection.vendor == "postgresql"
    dedicated = partitions.supported() and new_since is None
    table = partitions.create(campaign.pk) if dedicated else ReviewItem._meta.db_table
    constants = ["%s::jsonb" if postgresql and name == "context" else "%s" for name in CONSTANTS]
    union = " UNION ALL ".join(parts)
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT %s, u.*, {', '.join(constants)} FROM ({union}) AS u"
    )
    counted = ", ".join(quote(c) for c in _COUNTED)
    arguments = [campaign.pk, *CONSTANTS.values(), *params]
    with connection.cursor() as cursor:
        if dedicated:
            # Counted by reading the bare table back (a sequential scan, 0.3 s for a million rows):
            # a RETURNING into the WITH below keeps every row in a tuple store, which cost 1.1 s.
            cursor.execute(sql, arguments)
            cursor.execute(
                f"SELECT {counted}, COUNT(*) FROM {quote(table)} GROUP BY {counted}"  # noqa: S608 - our names
            )
            written = cursor.fetchall()
            partitions.attach(campaign.pk)
            return sources, written
        if postgresql:
            cursor.execute(
                f"WITH written AS ({sql} RETURNING {counted}) "  # noqa: S608
                f"SELECT {counted}, COUNT(*) FROM written GROUP BY {counted}",
                arguments,
            )
            return sources, cursor.fetchall()
        cursor.execute(sql, arguments)
    items = ReviewItem.objects.filter(campaign=campaign).order_by()
    return sources, list(items.values(*_COUNTED).annotate(n=Count("id")).values_list(*_COUNTED, "n"))


def _add_open_findings(items) -> None:
    """Copy each principal's open findings count: one UPDATE per distinct count, for the few
    principals that have any (a correlated count on every one of a million rows would not do)."""
    counted = open_findings_per_principal(items.exclude(principal_id=None).values("principal_id"))
    by_count: dict[int, list[int]] = {}
    for principal_id, n in counted:
        by_count.setdefault(n, []).append(principal_id)
    for n, ids in by_count.items():
        chosen = items.filter(principal_id__in=ids)
        chosen.update(open_findings=n)
        chosen.filter(risk=Risk.LOW).update(risk=Risk.MEDIUM)


def _manifest(
    campaign: Campaign,
    template: CampaignTemplate,
    sources: list[_Source],
    run: SyncRun | None,
    written: list[tuple[str, str, str, int]],
) -> dict:
    """The population manifest: what was in scope, what was copied (`written`, the INSERT's
    counts by account, kind and reviewer), and that the two agree."""
    per_account: dict[str, dict[str, int]] = {}
    for account_id, kind, _reviewer, n in written:
        kinds = per_account.setdefault(account_id, {})
        kinds[kind] = kinds.get(kind, 0) + n
    copied: dict[str, int] = {}
    for kinds in per_account.values():
        for kind, n in kinds.items():
            copied[kind] = copied.get(kind, 0) + n
    in_inventory: dict[str, int] = {}
    for source in sources:
        rows = source.queryset.order_by().annotate(c_kind=source.kind).values("c_kind").annotate(n=Count("id"))
        for row in rows:
            if row["n"]:  # a constant kind groups to one row, even over nothing
                in_inventory[row["c_kind"]] = in_inventory.get(row["c_kind"], 0) + row["n"]
    return {
        "template": template.name,
        "period": campaign.period,
        "sync_run": run.pk if run else None,
        "sync_finished_at": run.finished_at.isoformat() if run and run.finished_at else None,
        "scope": {
            "ou_ids": list(template.scope_ou_ids),
            "account_ids": list(template.scope_account_ids),
            "kinds": list(template.kinds),
            "accounts": sorted(per_account),
        },
        "counts": {"total": sum(copied.values()), "by_kind": copied, "by_account": per_account},
        "inventory_counts": in_inventory,
        "reconciled": in_inventory == copied,
    }


def launch(
    *,
    template: CampaignTemplate,
    actor: Any,
    period: str | None = None,
    now: datetime | None = None,
    accounts: Any = None,
    new_since: datetime | None = None,
) -> LaunchResult:
    """Launch `template` for `period` (by default `template_period`: the quarter, or the cron's
    period), or find it launched.

    Idempotent per (template, period): a second launch returns the existing campaign with
    `created=False` and writes nothing. `accounts` replaces the template's account scope;
    `new_since` keeps only entitlements first seen since then that match the template's trigger
    filter (event-driven reviews).
    """
    started = time.monotonic()
    now = now or timezone.now()
    period = period or template_period(template, now)
    if not template.active:
        raise LaunchError(f"The template {template.name} is not active.")
    if not template.fallback_reviewer:
        raise LaunchError(f"The template {template.name} names no fallback reviewer.")
    unknown = set(template.kinds) - set(ItemKind.values)
    if unknown or not template.kinds:
        raise LaunchError(f"The template {template.name} has unknown or no kinds: {', '.join(sorted(unknown))}.")
    existing = Campaign.objects.filter(template=template, period=period).first()
    if existing is not None:
        return _result(existing, created=False, started=started)
    run = SyncRun.objects.exclude(finished_at=None).order_by("-finished_at").first()
    scope = scope_accounts(template) if accounts is None else accounts
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                template=template,
                name=f"{template.name} {period}",
                period=period,
                launched_at=now,
                launched_by=actor if getattr(actor, "pk", None) else None,
                due_at=now + timedelta(days=template.due_days),
                sync_run_id=run.pk if run else None,
                attestation=template.attestation,
                close_action=template.close_action,
                remediation_mode=template.remediation_mode,
            )
            sources, written = _insert_items(campaign, template, scope, now, new_since)
            items = ReviewItem.objects.filter(campaign=campaign)
            _add_open_findings(items)
            providers.run_all(campaign=campaign, items=items)
            campaign.manifest = _manifest(campaign, template, sources, run, written)
            campaign.item_count = campaign.manifest["counts"]["total"]
            campaign.save(update_fields=["manifest", "item_count"])
            reviewers = sorted({reviewer for _, _, reviewer, _ in written})
            record(
                actor=actor,
                action="reviews.campaign_launched",
                obj=campaign,
                after={
                    "template": template.name,
                    "period": period,
                    "items": campaign.item_count,
                    "reviewers": len(reviewers),
                    "reconciled": campaign.manifest["reconciled"],
                },
            )
            _notify_launch(campaign, reviewers)
    except IntegrityError:
        # Another launch of the same period won the race: that one is the campaign.
        existing = Campaign.objects.filter(template=template, period=period).first()
        if existing is None:
            raise
        return _result(existing, created=False, started=started)
    # The manifest already counted the accounts, and the launch listed the reviewers to notify.
    return LaunchResult(
        campaign=campaign,
        created=True,
        items=campaign.item_count,
        reviewers=len(reviewers),
        accounts=len(campaign.manifest["counts"]["by_account"]),
        seconds=time.monotonic() - started,
    )


def _notify_launch(campaign: Campaign, reviewers: list[str]) -> None:
    from django.urls import reverse

    from governance.notify.services import notify

    notify(
        event="reviews.campaign_launched",
        recipients=reviewers,
        context={
            "campaign": campaign.name,
            "due": campaign.due_at.date(),
            "link": reverse("reviews:campaign_inbox", args=[campaign.pk]),
        },
        dedupe_key=f"reviews.launch:{campaign.pk}",
    )


def _result(campaign: Campaign, *, created: bool, started: float) -> LaunchResult:
    items = ReviewItem.objects.filter(campaign=campaign).order_by()
    return LaunchResult(
        campaign=campaign,
        created=created,
        items=campaign.item_count,
        reviewers=items.values("reviewer_email").distinct().count(),
        accounts=items.values("aws_account_id").distinct().count(),
        seconds=time.monotonic() - started,
    )
