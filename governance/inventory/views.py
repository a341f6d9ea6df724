"""Inventory pages: the org tree, accounts, principals, policies, permission sets, the organization-wide
lists (users, keys, roles, admin power), credential reports, what changed, search, and the sync page.

Every view declares its rule with the authz decorators; objects come through the scoped
selectors, so an account or principal the user may not see answers 404, not 403.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from governance.authz.capabilities import Capability, capabilities
from governance.authz.decorators import requires, requires_mfa
from governance.inventory import changes, csv_export, reports, selectors
from governance.inventory.models import PolicyKind, PrincipalKind
from governance.inventory.pagination import paginate
from governance.inventory.services.sync_requests import SyncAlreadyRequested, request_sync

ACCOUNT_TABS = {"principals": "Principals", "entitlements": "Entitlements", "keys": "Access keys"}
# A sync requested from the page is waited for this long before the panel stops polling.
QUEUED_PATIENCE_SECONDS = 600


def _flag(request: HttpRequest, name: str) -> bool:
    return request.GET.get(name) == "1"


def _cursors(request: HttpRequest) -> dict[str, str]:
    return {"after": request.GET.get("after", ""), "before": request.GET.get("before", "")}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _render(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    caps = capabilities(request.user)
    context.setdefault("include_removed", _flag(request, "removed"))
    context["can_see_sync"] = caps.has(Capability.INVENTORY_VIEW_ALL)
    context["can_run_sync"] = caps.has(Capability.SYNC_RUN)
    return render(request, template, context)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def org_tree(request: HttpRequest) -> HttpResponse:
    tree = selectors.org_tree(request.user, include_removed=_flag(request, "removed"))
    return _render(request, "inventory/org_tree.html", {"tree": tree})


@require_GET
@requires(Capability.INVENTORY_VIEW)
def account_detail(request: HttpRequest, account_id: str) -> HttpResponse:
    account = selectors.account_for_user(request.user, account_id)
    include_removed = _flag(request, "removed")
    tab = request.GET.get("tab", "principals")
    if tab not in ACCOUNT_TABS:
        tab = "principals"
    kind = request.GET.get("kind", "")
    if tab == "entitlements":
        page = selectors.account_entitlements(
            request.user, account, include_removed=include_removed, **_cursors(request)
        )
    elif tab == "keys":
        page = selectors.account_access_keys(
            request.user, account, include_removed=include_removed, **_cursors(request)
        )
    else:
        page = selectors.account_principals(
            request.user, account, kind=kind, include_removed=include_removed, **_cursors(request)
        )
    context = {
        "account": account,
        "overview": selectors.account_overview(account),
        "tab": tab,
        "tabs": ACCOUNT_TABS,
        "kind": kind if kind in PrincipalKind.values else "",
        "kinds": PrincipalKind.choices,
        "page": page,
    }
    return _render(request, "inventory/account.html", context)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def principal_detail(request: HttpRequest, principal_id: int) -> HttpResponse:
    principal = selectors.principal_for_user(request.user, principal_id)
    include_removed = _flag(request, "removed")
    caps = capabilities(request.user)
    account = principal.account
    context = {
        "principal": principal,
        # An owner may own a role in an account they do not own: name the account, link it only if visible.
        "account_visible": account is not None
        and (caps.has(Capability.INVENTORY_VIEW_ALL) or caps.owns_account(account.account_id)),
        "details": selectors.principal_details(principal, include_removed=include_removed),
        "page": selectors.principal_entitlements(
            request.user, principal, include_removed=include_removed, **_cursors(request)
        ),
        "is_iam_user": principal.kind == PrincipalKind.IAM_USER,
        "is_group": principal.kind in (PrincipalKind.IAM_GROUP, PrincipalKind.SSO_GROUP),
        "is_role": principal.kind == PrincipalKind.IAM_ROLE,
    }
    return _render(request, "inventory/principal.html", context)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    results = None
    if query:
        results = selectors.search(request.user, query, include_removed=_flag(request, "removed"), **_cursors(request))
    return _render(request, "inventory/search.html", {"query": query, "results": results})


@require_GET
@requires(Capability.INVENTORY_VIEW_ALL)
def sync_page(request: HttpRequest) -> HttpResponse:
    context = {"runs": selectors.sync_runs(**_cursors(request))}
    context.update(_progress_context(request))
    return _render(request, "inventory/sync.html", context)


@require_GET
@requires(Capability.INVENTORY_VIEW_ALL)
def sync_progress(request: HttpRequest) -> HttpResponse:
    context = _progress_context(request)
    # A poll that finds its run finished tells the page, which then refreshes "Recent runs".
    context["just_finished"] = bool(request.htmx) and context["progress_run"] is not None and not context["polling"]
    response = render(request, "inventory/_partials/sync_progress.html", context)
    if context["just_finished"]:
        response["HX-Trigger"] = "sync-finished"
    return response


@require_POST
@requires(Capability.SYNC_RUN)
@requires_mfa
def sync_now(request: HttpRequest) -> HttpResponse:
    requested = int(time.time())
    try:
        request_sync(actor=request.user, request=request)
    except SyncAlreadyRequested:
        messages.info(request, "A sync is already running; its progress is shown below.")
        return redirect("inventory:sync")
    messages.success(request, "Sync requested. It starts as soon as a task worker picks it up.")
    return redirect(f"{reverse('inventory:sync')}?since={requested}")


def _progress_context(request: HttpRequest) -> dict:
    """Which run the progress panel shows, and whether it keeps polling (only while unfinished)."""
    run_id = _int(request.GET.get("run"))
    since = _int(request.GET.get("since"))
    if since is not None and not time.time() - QUEUED_PATIENCE_SECONDS <= since <= time.time() + 60:
        since = None
    run = selectors.sync_progress(run_id=run_id, since=since)
    waiting = run is None and since is not None
    url = reverse("inventory:sync_progress")
    if run is not None:
        url += f"?run={run.pk}"
    elif waiting:
        url += f"?since={since}"
    return {
        "progress_run": run,
        "waiting": waiting,
        "polling": waiting or (run is not None and run.is_running),
        "progress_url": url,
    }


# Organization-wide lists (governance/inventory/reports.py): a page, or all of it as CSV ----------


def _listing(request: HttpRequest, listing: reports.Listing, row_template: str) -> HttpResponse:
    if request.GET.get("format") == "csv":
        rows = reports.export(listing, request.user, request.GET)
        if rows is not None:
            return csv_export.stream(listing.title, listing.columns, rows)
    browsed = reports.browse(listing, request.user, request.GET)
    context = {"browsed": browsed, "listing": listing, "row_template": row_template}
    response = _render(request, "inventory/listing.html", context)
    if not browsed.valid:
        response.status_code = 400
    return response


@require_GET
@requires(Capability.INVENTORY_VIEW)
def iam_users(request: HttpRequest) -> HttpResponse:
    return _listing(request, reports.IAM_USERS, "inventory/lists/_users.html")


@require_GET
@requires(Capability.INVENTORY_VIEW)
def access_keys(request: HttpRequest) -> HttpResponse:
    return _listing(request, reports.ACCESS_KEYS, "inventory/lists/_access_keys.html")


@require_GET
@requires(Capability.INVENTORY_VIEW)
def roles(request: HttpRequest) -> HttpResponse:
    return _listing(request, reports.ROLES, "inventory/lists/_roles.html")


@require_GET
@requires(Capability.INVENTORY_VIEW)
def admin_power(request: HttpRequest) -> HttpResponse:
    return _listing(request, reports.ADMIN_POWER, "inventory/lists/_admins.html")


# Policies, permission sets, credential reports ----------------------------------------------------


POLICY_HOLDER_COLUMNS = (
    ("principal", lambda e: e.principal.name),
    ("kind", lambda e: e.principal.get_kind_display()),
    ("arn", lambda e: e.principal.arn),
    ("held", lambda e: e.get_via_display()),
    ("via_group", lambda e: e.via_group.name if e.via_group_id else ""),
    ("permission_set", lambda e: e.permission_set.name if e.permission_set_id else ""),
    ("account", lambda e: e.account.account_id if e.account_id else ""),
    ("removed", lambda e: e.removed_at),
)

PERMISSION_SET_ASSIGNMENT_COLUMNS = (
    ("account", lambda a: a.aws_account_id),
    ("account_name", lambda a: a.account.name if a.account_id else ""),
    ("principal_type", lambda a: a.principal_type),
    ("principal", lambda a: a.principal.name if a.principal_id else ""),
    ("principal_id", lambda a: a.principal_aws_id),
    ("removed", lambda a: a.removed_at),
)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def policy_detail(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = selectors.policy_for_user(request.user, policy_id)
    include_removed = _flag(request, "removed")
    if request.GET.get("format") == "csv":  # who holds it, every row the pages show
        rows = selectors.policy_holder_rows(request.user, policy, include_removed=include_removed)
        return csv_export.stream(f"policy-{policy.name}-holders", POLICY_HOLDER_COLUMNS, rows.iterator(chunk_size=2000))
    context = {
        "policy": policy,
        "details": selectors.policy_details(request.user, policy, include_removed=include_removed),
        "page": selectors.policy_holders(request.user, policy, include_removed=include_removed, **_cursors(request)),
        "is_scp": policy.kind == PolicyKind.SCP,
    }
    return _render(request, "inventory/policy.html", context)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def permission_set_detail(request: HttpRequest, permission_set_id: int) -> HttpResponse:
    permission_set = selectors.permission_set_for_user(request.user, permission_set_id)
    include_removed = _flag(request, "removed")
    if request.GET.get("format") == "csv":  # its assignments, every row the pages show
        rows = selectors.permission_set_assignment_rows(request.user, permission_set, include_removed=include_removed)
        name = f"permission-set-{permission_set.name}-assignments"
        return csv_export.stream(name, PERMISSION_SET_ASSIGNMENT_COLUMNS, rows.iterator(chunk_size=2000))
    context = {
        "ps": permission_set,
        "details": selectors.permission_set_details(permission_set, include_removed=include_removed),
        "page": selectors.permission_set_assignments(
            request.user, permission_set, include_removed=include_removed, **_cursors(request)
        ),
    }
    return _render(request, "inventory/permission_set.html", context)


CREDENTIAL_REPORT_COLUMNS = tuple(
    (name, (lambda row, name=name: getattr(row, name)))
    for name in (
        "user_name", "arn", "is_root", "user_creation_time", "password_enabled", "password_last_used",
        "password_last_changed", "password_next_rotation", "mfa_active", "access_key_1_active",
        "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_service",
        "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
        "access_key_2_last_used_service", "cert_1_active", "cert_2_active",
    )
)  # fmt: skip


@require_GET
@requires(Capability.INVENTORY_VIEW)
def credential_report(request: HttpRequest, account_id: str) -> HttpResponse:
    account = selectors.account_for_user(request.user, account_id)
    rows = selectors.credential_report(account, include_removed=_flag(request, "removed"))
    if request.GET.get("format") == "csv":
        return csv_export.stream(
            f"credential-report-{account.account_id}", CREDENTIAL_REPORT_COLUMNS, rows.iterator(chunk_size=2000)
        )
    page = paginate(rows, order=("root_last", "user_name", "id"), per_page=200, **_cursors(request))
    generated = selectors.account_overview(account).last_sync
    return _render(request, "inventory/credential_report.html", {"account": account, "page": page, "sync": generated})


# What changed between two syncs (governance/inventory/changes.py) --------------------------------


def _changes(request: HttpRequest, account=None) -> HttpResponse:
    chosen = changes.window(_int(request.GET.get("from")), _int(request.GET.get("to")))
    sees_all = capabilities(request.user).has(Capability.INVENTORY_VIEW_ALL)
    if request.GET.get("format") == "csv":
        sections = changes.change_rows(request.user, chosen, account=account, sees_everything=sees_all, limit=None)
        where = account.account_id if account is not None else "organization"
        name = f"changes-{where}-{chosen.end.pk if chosen.end else 'none'}"
        return csv_export.stream(name, changes.CSV_COLUMNS, changes.csv_rows(sections))
    # One kind and change paged on its own ("principals-added"); an unknown value shows every section.
    focused = changes.focus(request.GET.get("section"))
    sections = changes.change_rows(
        request.user, chosen, account=account, sees_everything=sees_all, limit=changes.SHOWN, focused=focused,
        **_cursors(request),
    )  # fmt: skip
    context = {
        "window": chosen,
        "sections": sections,
        "account": account,
        "kinds": changes.ChangeKind.ALL,
        "focused": focused,
    }
    return _render(request, "inventory/changes.html", context)


@require_GET
@requires(Capability.INVENTORY_VIEW_ALL)
def org_changes(request: HttpRequest) -> HttpResponse:
    return _changes(request)


@require_GET
@requires(Capability.INVENTORY_VIEW)
def account_changes(request: HttpRequest, account_id: str) -> HttpResponse:
    return _changes(request, account=selectors.account_for_user(request.user, account_id))
