"""The organization-wide lists a security team works from: IAM users, access keys, roles and their
trust, and who holds administrator power. Read-only, scoped, sortable, filtered, paged, exportable.

Each list is a `Listing`: the scoped rows (`visible_principals`, so an owner sees their own),
its django-filter form (governance/inventory/filtersets.py), the sort orders it offers (each ends
in `id`, so keyset pagination applies; a date is sorted through a string key, never-used last
when newest first) and its CSV columns. `browse()` gives one page, `export()` every row the same
filters select, streamed. Per-page work (the parsed trust of each role, how each admin holds
their power) is one query or pure Python per page, never per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Count, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce
from django.http import QueryDict

from governance.authz.capabilities import visible_principals
from governance.inventory import filtersets, trust
from governance.inventory.models import (
    AccessKey,
    AccessKeyStatus,
    Account,
    AdminAccess,
    Entitlement,
    PrincipalKind,
)
from governance.inventory.pagination import Page, paginate

PER_PAGE = 50


def _date(field_name: str) -> Coalesce:
    """A date as a sortable, never-null string key (keyset cursors are JSON strings)."""
    return Coalesce(Cast(field_name, output_field=CharField()), Value(""))


def _text(field_name: str) -> Coalesce:
    """A text column that may be null (through an optional relation) as a never-null sort key."""
    return Coalesce(field_name, Value(""), output_field=CharField())


@dataclass(frozen=True)
class Sort:
    label: str
    order: tuple[str, ...]
    keys: dict[str, Callable[[], Any]] = field(default_factory=dict)  # annotations the order uses


BY_ACCOUNT = Sort("Account", ("account_key", "name", "id"), {"account_key": lambda: _text("account__name")})


@dataclass(frozen=True)
class Listing:
    key: str
    title: str
    filterset: type
    sorts: dict[str, Sort]
    rows: Callable[[Any], QuerySet]  # user -> scoped queryset
    columns: tuple[tuple[str, Callable[[Any], Any]], ...]
    keep: Callable[[dict], Callable[[Any], bool] | None] = lambda data: None  # Python-only filters
    decorate: Callable[[list[Any], dict], None] = lambda items, data: None  # per page, set-based
    note: str = ""

    def sort(self, requested: str) -> tuple[str, Sort]:
        name = requested if requested in self.sorts else next(iter(self.sorts))
        return name, self.sorts[name]


@dataclass
class Browsed:
    listing: Listing
    form: Any
    sort: str
    page: Page
    valid: bool


def _filtered(listing: Listing, user: Any, params: QueryDict) -> tuple[Any, QuerySet | None, str, Sort]:
    sort_name, sort = listing.sort(params.get("sort", ""))
    filters = listing.filterset(params, queryset=listing.rows(user))
    if not filters.is_valid():
        return filters, None, sort_name, sort
    queryset = filters.qs
    if sort.keys:
        queryset = queryset.annotate(**{name: make() for name, make in sort.keys.items()})
    return filters, queryset, sort_name, sort


def browse(listing: Listing, user: Any, params: QueryDict) -> Browsed:
    filters, queryset, sort_name, sort = _filtered(listing, user, params)
    if queryset is None:
        return Browsed(listing, filters.form, sort_name, Page(), valid=False)
    data = filters.form.cleaned_data
    page = paginate(
        queryset,
        order=sort.order,
        after=params.get("after"),
        before=params.get("before"),
        per_page=PER_PAGE,
        keep=listing.keep(data),
    )
    listing.decorate(page.items, data)
    return Browsed(listing, filters.form, sort_name, page, valid=True)


def export(listing: Listing, user: Any, params: QueryDict) -> Iterator[Any] | None:
    """Every row the page's filters select, in its order (None when the filters do not validate)."""
    filters, queryset, _, sort = _filtered(listing, user, params)
    if queryset is None:
        return None
    data = filters.form.cleaned_data
    keep = listing.keep(data)

    def rows() -> Iterator[Any]:
        batch: list[Any] = []
        for row in queryset.order_by(*sort.order).iterator(chunk_size=1000):
            if keep is None or keep(row):
                batch.append(row)
            if len(batch) == 1000:
                listing.decorate(batch, data)
                yield from batch
                batch = []
        listing.decorate(batch, data)
        yield from batch

    return rows()


def _principals(user: Any, kind: str) -> QuerySet:
    return visible_principals(user).filter(kind=kind, removed_at__isnull=True).select_related("account")


def _account(p: Any) -> str:
    return p.account.account_id if p.account_id else ""


# IAM users ----------------------------------------------------------------------------------------


def _users(user: Any) -> QuerySet:
    active = Count(
        "access_keys", filter=Q(access_keys__removed_at__isnull=True, access_keys__status=AccessKeyStatus.ACTIVE)
    )
    return _principals(user, PrincipalKind.IAM_USER).annotate(active_keys=active)


IAM_USERS = Listing(
    key="users",
    title="IAM users",
    filterset=filtersets.IamUserFilter,
    sorts={
        "name": Sort("Name", ("name", "id")),
        "account": BY_ACCOUNT,
        "password_used": Sort(
            "Password last used (newest)",
            ("-password_used_key", "-id"),
            {"password_used_key": lambda: _date("password_last_used")},
        ),
        "last_used": Sort("Last used (oldest)", ("last_used_key", "id"), {"last_used_key": lambda: _date("last_used")}),
        "created": Sort("Created (oldest)", ("created_key", "id"), {"created_key": lambda: _date("created")}),
    },
    rows=_users,
    columns=(
        ("account", _account),
        ("account_name", lambda p: p.account.name if p.account_id else ""),
        ("user", lambda p: p.name),
        ("arn", lambda p: p.arn),
        ("mfa", lambda p: p.mfa_enabled),
        ("console_password", lambda p: p.password_enabled),
        ("password_last_used", lambda p: p.password_last_used),
        ("active_access_keys", lambda p: p.active_keys),
        ("last_used", lambda p: p.last_used),
        ("created", lambda p: p.created),
        ("owner", lambda p: p.owner),
    ),
)


# Access keys --------------------------------------------------------------------------------------


def _keys(user: Any) -> QuerySet:
    queryset = AccessKey.objects.filter(removed_at__isnull=True, principal__in=visible_principals(user))
    return queryset.select_related("principal", "account")


ACCESS_KEYS = Listing(
    key="access_keys",
    title="Access keys",
    filterset=filtersets.AccessKeyFilter,
    sorts={
        "age": Sort("Age (oldest first)", ("created_key", "id"), {"created_key": lambda: _date("created")}),
        "last_used": Sort(
            "Last used (longest ago first)", ("last_used_key", "id"), {"last_used_key": lambda: _date("last_used_date")}
        ),
        "user": Sort("User", ("principal__name", "id")),
    },
    rows=_keys,
    columns=(
        ("access_key_id", lambda k: k.masked_id),
        ("account", lambda k: k.account.account_id),
        ("user", lambda k: k.principal.name),
        ("user_arn", lambda k: k.principal.arn),
        ("slot", lambda k: k.slot),
        ("status", lambda k: k.status),
        ("created", lambda k: k.created),
        ("last_used", lambda k: k.last_used_date),
        ("last_used_service", lambda k: k.last_used_service),
        ("last_used_region", lambda k: k.last_used_region),
    ),
    note="Keys show the first and last four characters of their id, as CloudTrail's accessKeyId names them.",
)


# Roles and their trust ----------------------------------------------------------------------------


def _organization_accounts() -> frozenset[str]:
    return frozenset(Account.objects.values_list("account_id", flat=True))


def _role_keep(data: dict) -> Callable[[Any], bool] | None:
    wanted = data.get("trust")
    if not wanted:
        return None
    accounts = _organization_accounts()
    return lambda role: trust.matches(trust.trustees(role.trust_policy, organization_accounts=accounts), wanted)


def _role_trustees(items: list[Any], data: dict) -> None:
    if not items:
        return
    accounts = _organization_accounts()
    for role in items:
        role.trustees = trust.trustees(role.trust_policy, organization_accounts=accounts)
        role.trusts_outside = any(t.outside or t.kind == trust.TrustKind.ANYONE for t in role.trustees)


ROLES = Listing(
    key="roles",
    title="IAM roles and who can assume them",
    filterset=filtersets.RoleFilter,
    sorts={
        "name": Sort("Name", ("name", "id")),
        "account": BY_ACCOUNT,
        "last_used": Sort("Last used (oldest)", ("last_used_key", "id"), {"last_used_key": lambda: _date("last_used")}),
    },
    rows=lambda user: _principals(user, PrincipalKind.IAM_ROLE),
    columns=(
        ("account", _account),
        ("role", lambda r: r.name),
        ("arn", lambda r: r.arn),
        ("trusted", lambda r: "; ".join(t.label for t in r.trustees)),
        ("outside_the_organization", lambda r: r.trusts_outside),
        ("conditions", lambda r: "; ".join(sorted({c for t in r.trustees for c in t.conditions}))),
        ("last_used", lambda r: r.last_used),
        ("owner", lambda r: r.owner),
    ),
    keep=_role_keep,
    decorate=_role_trustees,
    note="Outside: an AWS account that is not one of the organization's, or anyone (*).",
)


# Administrator power ------------------------------------------------------------------------------


def _admin_entitlements(data: dict) -> QuerySet:
    levels = [data["level"]] if data.get("level") else [AdminAccess.FULL, AdminAccess.IAM]
    return Entitlement.objects.filter(
        removed_at__isnull=True, policy__removed_at__isnull=True, policy__admin_access__in=levels
    )


def _admins(user: Any) -> QuerySet:
    return visible_principals(user).filter(removed_at__isnull=True).select_related("account")


class _AdminFilter(filtersets.AdminPowerFilter):
    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        holders = _admin_entitlements(self.form.cleaned_data).values("principal_id")
        return super().filter_queryset(queryset).filter(pk__in=holders)


def _how_held(items: list[Any], data: dict) -> None:
    """Each admin's admin-granting entitlements (`principal.admin_grants`), in one query."""
    if not items:
        return
    grants = (
        _admin_entitlements(data)
        .filter(principal_id__in=[p.pk for p in items])
        .select_related("policy", "via_group", "permission_set", "account")
        .order_by("policy__name", "id")
        .defer("policy__document")
    )
    by_principal: dict[int, list[Entitlement]] = {}
    for grant in grants:
        by_principal.setdefault(grant.principal_id, []).append(grant)
    for principal in items:
        principal.admin_grants = by_principal.get(principal.pk, [])
        principal.admin_level = (
            AdminAccess.FULL
            if any(g.policy.admin_access == AdminAccess.FULL for g in principal.admin_grants)
            else AdminAccess.IAM
        )


ADMIN_POWER = Listing(
    key="admins",
    title="Who holds administrator power",
    filterset=_AdminFilter,
    sorts={
        "name": Sort("Name", ("name", "id")),
        "kind": Sort("Kind", ("kind", "name", "id")),
        "account": BY_ACCOUNT,
    },
    rows=_admins,
    columns=(
        ("kind", lambda p: p.get_kind_display()),
        ("account", _account),
        ("principal", lambda p: p.name),
        ("arn", lambda p: p.arn),
        ("power", lambda p: AdminAccess(p.admin_level).label),
        (
            "through",
            lambda p: "; ".join(
                f"{g.policy.name} ({g.get_via_display()}"
                + (f" {g.via_group.name}" if g.via_group_id else "")
                + (f", permission set {g.permission_set.name}" if g.permission_set_id else "")
                + (f", account {g.account.account_id}" if g.account_id else "")
                + ")"
                for g in p.admin_grants
            ),
        ),
    ),
    decorate=_how_held,
    note=(
        "Full administrator: a policy allowing every action on every resource. IAM administrator: every IAM "
        "action on every resource, enough to grant itself anything."
    ),
)

LISTINGS = {listing.key: listing for listing in (IAM_USERS, ACCESS_KEYS, ROLES, ADMIN_POWER)}
