"""What changed between two syncs: principals, entitlements, access keys and policies added, changed
or removed, for the organization or one account.

Every row a sync writes carries that sync's start time: `first_seen` when it was added,
`removed_at` when AWS stopped returning it, `last_seen` whenever it was written at all (added,
changed, removed or back). So "what changed after sync A, up to and including sync B" is three
range queries per kind on those columns, with no history table. Policies keep every document
they had (`PolicyVersion`), so a policy's document change is exact for any window. For the other
kinds a row keeps only its latest change: one changed in the window and changed again later is
listed under the later sync; the default window, the last two syncs, has no later sync.

The page shows a keyset page (governance/inventory/pagination.py, in `id` order) of each kind and
change; one of them (`focus`) is paged through on its own, so every row is reachable in the browser
with one query per page. The CSV export has every row of every section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from governance.authz.capabilities import capabilities, visible_principals
from governance.inventory.models import (
    AccessKey,
    Account,
    Entitlement,
    Policy,
    PolicyVersion,
    Principal,
    SyncRun,
    SyncStatus,
)
from governance.inventory.pagination import Page, paginate

SHOWN = 100  # rows per kind and change on a page; the pager goes on, the CSV export has them all
ORDER = ("id",)
RUNS_OFFERED = 50
COMPLETED = (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL)


class ChangeKind:
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    ALL = (ADDED, CHANGED, REMOVED)


@dataclass
class Section:
    """One kind of row (principals, ...) and what happened to its rows in the window."""

    key: str
    title: str
    rows: dict[str, list[Any]] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)  # on the page (not the CSV): each change's page
    described: dict[str, list[tuple[Any, tuple[str, str, str]]]] = field(default_factory=dict)

    @property
    def total_shown(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def slug(self, change: str) -> str:
        """The `section` query value that pages through this kind's `change` alone."""
        return f"{self.key}-{change}"

    @property
    def more(self) -> list[tuple[str, str, str]]:
        """(change, section value, next cursor) of each change with rows beyond its page."""
        return [(change, self.slug(change), page.next_cursor) for change, page in self.pages.items() if page.has_next]


@dataclass
class Window:
    runs: list[SyncRun]
    start: SyncRun | None  # changes after this sync...
    end: SyncRun | None  # ...up to and including this one

    @property
    def empty(self) -> bool:
        return self.end is None


def completed_runs() -> list[SyncRun]:
    return list(SyncRun.objects.filter(status__in=COMPLETED).order_by("-started_at", "-id")[:RUNS_OFFERED])


def window(start_id: int | None, end_id: int | None) -> Window:
    """The two syncs to compare; by default the latest completed one and the one before it."""
    runs = completed_runs()
    by_id = {r.pk: r for r in runs}
    end = by_id.get(end_id) if end_id else (runs[0] if runs else None)
    if end is None:
        return Window(runs, None, None)
    earlier = [r for r in runs if r.started_at < end.started_at]
    start = by_id.get(start_id) if start_id else (earlier[0] if earlier else None)
    if start is not None and start.started_at >= end.started_at:
        start, end = end, start
    return Window(runs, start, end)


def _since(start: SyncRun | None) -> datetime | None:
    return start.started_at if start is not None else None


def _in_window(column: str, start: datetime | None, end: datetime) -> Q:
    condition = Q(**{f"{column}__lte": end})
    return condition & Q(**{f"{column}__gt": start}) if start is not None else condition


def _querysets(user: Any, account: Account | None, sees_everything: bool) -> dict[str, QuerySet]:
    principals = Principal.objects.all() if sees_everything else visible_principals(user)
    querysets: dict[str, QuerySet] = {
        "principals": principals.select_related("account"),
        "entitlements": Entitlement.objects.select_related("principal", "policy", "account", "via_group",
                                                          "permission_set").defer("policy__document"),
        "access_keys": AccessKey.objects.select_related("principal", "account"),
        "policies": Policy.objects.select_related("account").defer("document"),
    }  # fmt: skip
    if not sees_everything:
        querysets["entitlements"] = querysets["entitlements"].filter(principal__in=visible_principals(user))
        querysets["access_keys"] = querysets["access_keys"].filter(principal__in=visible_principals(user))
        querysets["policies"] = querysets["policies"].filter(account__account_id__in=_owned(user))
    if account is not None:
        querysets = {key: qs.filter(account=account) for key, qs in querysets.items()}
    return querysets


def _owned(user: Any) -> list[str]:
    return list(capabilities(user).owned_account_ids)


TITLES = {
    "principals": "Principals",
    "entitlements": "Entitlements",
    "access_keys": "Access keys",
    "policies": "Policies",
}


def focus(value: str | None) -> tuple[str, str] | None:
    """The (kind, change) a `section` query value names ("principals-added"), or None (every section)."""
    key, _, change = (value or "").partition("-")
    return (key, change) if key in TITLES and change in ChangeKind.ALL else None


def change_rows(
    user: Any,
    chosen: Window,
    *,
    account: Account | None = None,
    sees_everything: bool = False,
    limit: int | None,
    focused: tuple[str, str] | None = None,
    after: str | None = None,
    before: str | None = None,
) -> list[Section]:
    """Per kind, the rows added, changed and removed in the window: without `limit` every row (the
    CSV); with it a keyset page of each, the first, or of the `focused` (kind, change) alone, the
    page the cursors `after`/`before` name (a cursor that does not decode is the first page)."""
    if chosen.end is None:
        return []
    start, end = _since(chosen.start), chosen.end.started_at
    sections = []
    for key, queryset in _querysets(user, account, sees_everything).items():
        if focused is not None and focused[0] != key:
            continue
        section = Section(key=key, title=TITLES[key])
        queries = {
            ChangeKind.ADDED: queryset.filter(_in_window("first_seen", start, end)),
            ChangeKind.REMOVED: queryset.filter(_in_window("removed_at", start, end)),
        }
        if start is not None:
            if key == "policies":
                changed_docs = PolicyVersion.objects.filter(_in_window("first_seen", start, end), version__gt=1)
                changed = queryset.filter(pk__in=changed_docs.values("policy_id"))
            else:
                changed = queryset.filter(_in_window("last_seen", start, end), first_seen__lte=start)
            queries[ChangeKind.CHANGED] = changed.exclude(_in_window("removed_at", start, end)).exclude(
                first_seen__gt=start
            )
        else:
            queries[ChangeKind.CHANGED] = queryset.none()  # before the first sync nothing existed to change
        for change in ChangeKind.ALL:
            if focused is not None and focused[1] != change:
                continue
            if limit is None:
                section.rows[change] = list(queries[change].order_by(*ORDER).iterator(chunk_size=2000))
                continue
            cursors = {"after": after, "before": before} if focused is not None else {}
            page = paginate(queries[change], order=ORDER, per_page=limit, **cursors)
            section.pages[change] = page
            section.rows[change] = page.items
        section.described = {change: [(row, describe(section.key, row)) for row in rows]
                             for change, rows in section.rows.items()}  # fmt: skip
        sections.append(section)
    return sections


CSV_COLUMNS = (
    ("kind", lambda r: r[0]),
    ("change", lambda r: r[1]),
    ("account", lambda r: r[2]),
    ("name", lambda r: r[3]),
    ("detail", lambda r: r[4]),
    ("arn", lambda r: getattr(r[5], "arn", "")),
)


def csv_rows(sections: list[Section]) -> list[tuple]:
    """(kind, change, account, name, detail, row) for each changed row, for `CSV_COLUMNS`."""
    return [
        (section.key, change, *describe(section.key, row), row)
        for section in sections
        for change in ChangeKind.ALL
        for row in section.rows.get(change, ())
    ]


def describe(key: str, row: Any) -> tuple[str, str, str]:
    """(account, name, detail) of a changed row, for the page and the CSV export."""
    account = row.account.account_id if getattr(row, "account_id", None) else ""
    if key == "principals":
        return account, row.name, row.get_kind_display()
    if key == "entitlements":
        how = row.get_via_display()
        if row.via_group_id:
            how += f" {row.via_group.name}"
        if row.permission_set_id:
            how += f", permission set {row.permission_set.name}"
        return account, f"{row.principal.name} \u2190 {row.policy.name}", how
    if key == "access_keys":
        return account, row.principal.name, f"{row.masked_id or f'slot {row.slot}'} ({row.status})"
    return account, row.name, f"{row.get_kind_display()}, version {row.version}"
