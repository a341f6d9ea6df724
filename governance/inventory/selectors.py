"""Page reads over the inventory, always scoped to what the user may see.

Scoping goes through the authz API (`visible_accounts`, `visible_principals`,
`get_object_for_user_or_404`); this module only decides joins and page shapes, so a page's query
count does not grow with its rows. Removed rows (gone from AWS, `removed_at` set) are left out
unless `include_removed` is given.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Case, Count, Prefetch, Q, QuerySet, Value, When

from governance.authz.capabilities import (
    Capability,
    capabilities,
    get_object_for_user_or_404,
    visible_accounts,
    visible_principals,
)
from governance.inventory import trust
from governance.inventory.models import (
    AccessKey,
    Account,
    AccountAssignment,
    AccountSyncStatus,
    CredentialReportRow,
    Entitlement,
    GroupMembership,
    OrganizationalUnit,
    PasswordPolicy,
    PermissionSet,
    PermissionSetPolicy,
    Policy,
    PolicyKind,
    PolicyVersion,
    Principal,
    PrincipalKind,
    ScpAttachment,
    SyncAccountRun,
    SyncRun,
    SyncStatus,
)
from governance.inventory.pagination import Page, paginate
from governance.policy.document import DOCUMENT_KEYS, STATEMENT_KEYS

PER_PAGE = 50
MEMBERS_SHOWN = 100
SEARCH_ACCOUNTS_SHOWN = 25
VERSIONS_SHOWN = 20
ACCOUNT_ID = re.compile(r"\d{12}")


def _present(queryset: QuerySet, include_removed: bool) -> QuerySet:
    return queryset if include_removed else queryset.filter(removed_at__isnull=True)


def sees_everything(user: Any) -> bool:
    return capabilities(user).has(Capability.INVENTORY_VIEW_ALL)


# PostgreSQL's jsonb does not keep the synced key order: show AWS's.
def _ordered(mapping: dict, first: tuple[str, ...]) -> dict:
    return {**{k: mapping[k] for k in first if k in mapping}, **{k: v for k, v in mapping.items() if k not in first}}


def pretty_json(document: Any) -> str:
    """A policy document indented for reading, keys in AWS's order, non-ASCII kept as is."""
    if document is None:
        return ""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return document
    if isinstance(document, dict):
        document = _ordered(document, DOCUMENT_KEYS)
        statements = document.get("Statement")
        if isinstance(statements, dict):
            document["Statement"] = _ordered(statements, STATEMENT_KEYS)
        elif isinstance(statements, list):
            document["Statement"] = [_ordered(st, STATEMENT_KEYS) if isinstance(st, dict) else st for st in statements]
    return json.dumps(document, indent=2, ensure_ascii=False)


# Org tree ---------------------------------------------------------------------------------------


@dataclass
class TreeNode:
    unit: OrganizationalUnit
    children: list[TreeNode] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    scps: list[Any] = field(default_factory=list)
    account_count: int = 0


@dataclass
class OrgTree:
    roots: list[TreeNode]
    unplaced_accounts: list[Account]
    account_count: int
    scoped: bool

    @property
    def empty(self) -> bool:
        return not self.roots and not self.unplaced_accounts


def org_tree(user: Any, *, include_removed: bool = False) -> OrgTree:
    """Root → OUs → accounts with the SCPs attached at each node, in three queries.

    A user who sees only some accounts (an owner) gets only the branches that lead to them.
    """
    units = list(
        _present(OrganizationalUnit.objects.all(), include_removed)
        .select_related("organization")
        .order_by("path", "id")
    )
    accounts = list(_present(visible_accounts(user), include_removed).order_by("name", "id"))
    scps_by_unit: dict[int, list] = defaultdict(list)
    scps_by_account: dict[int, list] = defaultdict(list)
    attachments = (
        _present(ScpAttachment.objects.all(), include_removed)
        .select_related("policy")
        .only(
            "unit_id",
            "account_id",
            "removed_at",
            "policy__id",
            "policy__kind",
            "policy__name",
            "policy__arn",
            "policy__removed_at",
        )
        .order_by("policy__name", "id")
    )
    for attachment in attachments:
        if attachment.unit_id:
            scps_by_unit[attachment.unit_id].append(attachment)
        elif attachment.account_id:
            scps_by_account[attachment.account_id].append(attachment)

    nodes = {u.pk: TreeNode(unit=u, scps=scps_by_unit.get(u.pk, [])) for u in units}
    unplaced = []
    for account in accounts:
        account.scps = scps_by_account.get(account.pk, [])
        node = nodes.get(account.parent_id)
        if node is None:
            unplaced.append(account)
        else:
            node.accounts.append(account)
    roots = []
    for unit in units:  # ordered by path: parents come before their children
        node = nodes[unit.pk]
        parent = nodes.get(unit.parent_id) if unit.parent_id else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    for node in reversed([nodes[u.pk] for u in units]):  # children before parents
        node.children.sort(key=lambda n: (n.unit.name.lower(), n.unit.pk))
        node.account_count = len(node.accounts) + sum(c.account_count for c in node.children)

    scoped = not sees_everything(user)
    if scoped:
        roots = _prune(roots)
    return OrgTree(roots=roots, unplaced_accounts=unplaced, account_count=len(accounts), scoped=scoped)


def _prune(nodes: list[TreeNode]) -> list[TreeNode]:
    kept = []
    for node in nodes:
        if node.account_count:
            node.children = _prune(node.children)
            kept.append(node)
    return kept


# Account page -----------------------------------------------------------------------------------


def account_for_user(user: Any, account_id: str) -> Account:
    """The account, or 404 when it does not exist or the user may not see it."""
    return get_object_for_user_or_404(
        user, visible_accounts(user).select_related("organization", "parent"), account_id=account_id
    )


@dataclass
class EffectiveScp:
    """An SCP in effect on an account, once, with every node it is attached to on the way down."""

    policy: Any
    where: list[str] = field(default_factory=list)
    removed_at: Any = None


@dataclass
class AccountOverview:
    password_policy: PasswordPolicy | None
    last_sync: SyncAccountRun | None
    kind_counts: list[tuple[str, int]]
    scps: list[EffectiveScp]
    ancestors: list[OrganizationalUnit]


def account_overview(account: Account) -> AccountOverview:
    """Password policy, last sync of the account, principals per kind, effective SCPs, OU path."""
    ancestor_ids = [part for part in (account.parent.path if account.parent else "").split("/") if part]
    ancestors = {u.ou_id: u for u in OrganizationalUnit.objects.filter(ou_id__in=ancestor_ids)}
    counts = dict(
        Principal.objects.present().filter(account=account).values_list("kind").annotate(n=Count("id")).order_by()
    )
    attachments = (
        ScpAttachment.objects.present()
        .filter(Q(account=account) | Q(unit__ou_id__in=ancestor_ids))
        .select_related("policy", "unit")
        .order_by("policy__name", "id")
    )
    scps: dict[int, EffectiveScp] = {}
    for attachment in attachments:
        scp = scps.setdefault(attachment.policy_id, EffectiveScp(policy=attachment.policy))
        scp.where.append(attachment.unit.name if attachment.unit_id else "this account")
    return AccountOverview(
        password_policy=PasswordPolicy.objects.filter(account=account).first(),
        last_sync=SyncAccountRun.objects.filter(account=account).select_related("run").order_by("-id").first(),
        kind_counts=[(PrincipalKind(k).label, counts[k]) for k in PrincipalKind.values if counts.get(k)],
        scps=list(scps.values()),
        ancestors=[ancestors[i] for i in ancestor_ids if i in ancestors],
    )


def account_principals(
    user: Any, account: Account, *, kind: str = "", include_removed: bool = False, after: str = "", before: str = ""
) -> Page:
    queryset = _present(visible_principals(user).filter(account=account), include_removed).select_related(
        "permissions_boundary"
    )
    if kind in PrincipalKind.values:
        queryset = queryset.filter(kind=kind)
    return paginate(queryset, order=("name", "id"), after=after, before=before, per_page=PER_PAGE)


def _entitlements(user: Any) -> QuerySet:
    queryset = Entitlement.objects.select_related("principal", "policy", "via_group", "permission_set", "account")
    if not sees_everything(user):
        queryset = queryset.filter(principal__in=visible_principals(user))
    return queryset


def account_entitlements(
    user: Any, account: Account, *, include_removed: bool = False, after: str = "", before: str = ""
) -> Page:
    queryset = _present(_entitlements(user).filter(account=account), include_removed).defer("policy__document")
    return paginate(queryset, order=("id",), after=after, before=before, per_page=PER_PAGE)


def account_access_keys(
    user: Any, account: Account, *, include_removed: bool = False, after: str = "", before: str = ""
) -> Page:
    queryset = _present(AccessKey.objects.filter(account=account), include_removed).select_related("principal")
    if not sees_everything(user):
        queryset = queryset.filter(principal__in=visible_principals(user))
    return paginate(queryset, order=("id",), after=after, before=before, per_page=PER_PAGE)


# Principal page ---------------------------------------------------------------------------------


def principal_for_user(user: Any, principal_id: int) -> Principal:
    """The principal, or 404 when it does not exist or the user may not see it."""
    return get_object_for_user_or_404(
        user,
        visible_principals(user).select_related("account", "permissions_boundary"),
        pk=principal_id,
    )


def principal_entitlements(
    user: Any, principal: Principal, *, include_removed: bool = False, after: str = "", before: str = ""
) -> Page:
    """Each entitlement with its policy document pretty-printed (`entitlement.document_text`)."""
    queryset = _present(
        Entitlement.objects.filter(principal=principal).select_related(
            "policy", "via_group", "permission_set", "account"
        ),
        include_removed,
    )
    page = paginate(queryset, order=("id",), after=after, before=before, per_page=PER_PAGE)
    for entitlement in page:
        entitlement.document_text = pretty_json(entitlement.policy.document)
    return page


@dataclass
class PrincipalDetails:
    access_keys: list[AccessKey]
    groups: list[GroupMembership]
    members: list[GroupMembership]
    more_members: bool
    assignments: list[AccountAssignment]
    trust_policy_text: str
    boundary_text: str
    trustees: list[trust.Trustee] = field(default_factory=list)


def principal_details(principal: Principal, *, include_removed: bool = False) -> PrincipalDetails:
    """Keys, group memberships (both ways), Identity Center assignments, trust policy, boundary."""
    keys = list(_present(principal.access_keys.all(), include_removed).order_by("slot", "id"))
    groups = list(
        _present(principal.group_memberships.all(), include_removed)
        .select_related("group")
        .order_by("group__name", "id")
    )
    members: list[GroupMembership] = []
    if principal.kind in (PrincipalKind.IAM_GROUP, PrincipalKind.SSO_GROUP):
        members = list(
            _present(principal.memberships.all(), include_removed)
            .select_related("member")
            .order_by("member__name", "id")[: MEMBERS_SHOWN + 1]
        )
    assignments = list(
        _present(principal.assignments.all(), include_removed)
        .select_related("permission_set", "account")
        .order_by("aws_account_id", "permission_set__name", "id")
    )
    for assignment in assignments:
        assignment.references = assignment_references(assignment)
    boundary = principal.permissions_boundary
    return PrincipalDetails(
        access_keys=keys,
        groups=groups,
        members=members[:MEMBERS_SHOWN],
        more_members=len(members) > MEMBERS_SHOWN,
        assignments=assignments,
        trust_policy_text=pretty_json(principal.trust_policy),
        boundary_text=pretty_json(boundary.document) if boundary is not None else "",
        trustees=trust.trustees(
            principal.trust_policy, organization_accounts=set(Account.objects.values_list("account_id", flat=True))
        )
        if principal.kind == PrincipalKind.IAM_ROLE
        else [],
    )


def assignment_references(assignment: AccountAssignment) -> list[dict[str, Any]]:
    """The customer managed policies the assignment's permission set names, each marked `resolved`
    unless the sync found no such policy in the assignment's account (AWS cannot provision there)."""
    ps = assignment.permission_set
    missing = {
        (r.get("name"), r.get("path"))
        for r in ps.unresolved_references
        if r.get("account_id") == assignment.aws_account_id
    }
    return [
        {
            "name": r.get("name", ""),
            "path": r.get("path", "/"),
            "resolved": (r.get("name"), r.get("path")) not in missing,
        }
        for r in ps.customer_managed_references
    ]


# Search -----------------------------------------------------------------------------------------


@dataclass
class SearchResults:
    query: str
    matched_on: str
    accounts: list[Account]
    more_accounts: bool
    principals: Page

    @property
    def empty(self) -> bool:
        return not self.accounts and not self.principals


def search(user: Any, query: str, *, include_removed: bool = False, after: str = "", before: str = "") -> SearchResults:
    """One box: an account id, an ARN, an e-mail address, or part of a name.

    Accounts are few, so they are listed (up to SEARCH_ACCOUNTS_SHOWN); principals can be many
    and are paged by (kind, name, id), which also groups them by kind.
    """
    query = query.strip()[:2048]
    if ACCOUNT_ID.fullmatch(query):
        matched_on = "account id"
        accounts_q = Q(account_id=query)
        principals_q = Q(pk__in=[])  # the account itself is the answer; its page lists its principals
    elif query.lower().startswith("arn:"):
        matched_on = "ARN"
        accounts_q = Q(arn=query)
        principals_q = Q(arn=query) | Q(arn__startswith=query)
    elif "@" in query:
        matched_on = "e-mail"
        accounts_q = Q(email__iexact=query) | Q(owner__iexact=query)
        principals_q = Q(email__iexact=query) | Q(owner__iexact=query)
    else:
        matched_on = "name"
        accounts_q = Q(name__icontains=query)
        principals_q = Q(name__icontains=query) | Q(user_name__icontains=query) | Q(display_name__icontains=query)
    accounts = list(
        _present(visible_accounts(user), include_removed)
        .filter(accounts_q)
        .order_by("name", "id")[: SEARCH_ACCOUNTS_SHOWN + 1]
    )
    principals = _present(visible_principals(user), include_removed).filter(principals_q).select_related("account")
    return SearchResults(
        query=query,
        matched_on=matched_on,
        accounts=accounts[:SEARCH_ACCOUNTS_SHOWN],
        more_accounts=len(accounts) > SEARCH_ACCOUNTS_SHOWN,
        principals=paginate(principals, order=("kind", "name", "id"), after=after, before=before, per_page=PER_PAGE),
    )


# Sync -------------------------------------------------------------------------------------------


def sync_runs(*, after: str = "", before: str = "", per_page: int = 20) -> Page:
    """Recent runs, newest first, each with its failed accounts (`run.failed_accounts`)."""
    failed = Prefetch(
        "account_runs",
        queryset=SyncAccountRun.objects.filter(status=AccountSyncStatus.FAILED)
        .select_related("account")
        .order_by("aws_account_id"),
        to_attr="failed_accounts",
    )
    return paginate(
        SyncRun.objects.prefetch_related(failed), order=("-id",), after=after, before=before, per_page=per_page
    )


def running_sync() -> SyncRun | None:
    return SyncRun.objects.filter(status=SyncStatus.RUNNING).order_by("-id").first()


def sync_progress(*, run_id: int | None = None, since: float | None = None) -> SyncRun | None:
    """The run a progress panel follows: a given run, the first started at or after `since`
    (a sync just requested from the page), or else the running one."""
    if run_id is not None:
        return SyncRun.objects.filter(pk=run_id).first()
    if since is not None:
        started = datetime.fromtimestamp(since, tz=UTC)
        return SyncRun.objects.filter(started_at__gte=started).order_by("id").first()
    return running_sync()


# Policies -----------------------------------------------------------------------------------------


def visible_policies(user: Any) -> QuerySet:
    """Policies the user may see: all with `inventory.view_all`; an owner sees the policies of the
    accounts they own, those held by principals they may see, and the SCPs in effect on their
    accounts (attached to them or to an OU above them: the org tree's badges link here)."""
    if sees_everything(user):
        return Policy.objects.all()
    caps = capabilities(user)
    if not caps.has(Capability.INVENTORY_VIEW):
        return Policy.objects.none()
    owned = list(caps.owned_account_ids)
    units = _units_above(owned)
    held = Entitlement.objects.filter(principal__in=visible_principals(user)).values("policy_id")
    in_effect = ScpAttachment.objects.filter(Q(account__account_id__in=owned) | Q(unit__ou_id__in=units)).values(
        "policy_id"
    )
    return Policy.objects.filter(Q(account__account_id__in=owned) | Q(pk__in=held) | Q(pk__in=in_effect))


def _units_above(account_ids: list[str]) -> set[str]:
    """The OU ids (root included) on the way down to these accounts."""
    paths = Account.objects.filter(account_id__in=account_ids, parent__isnull=False).values_list(
        "parent__path", flat=True
    )
    return {ou for path in paths for ou in path.split("/") if ou}


def policy_for_user(user: Any, policy_id: int) -> Policy:
    return get_object_for_user_or_404(
        user, visible_policies(user).select_related("account", "principal", "permission_set"), pk=policy_id
    )


@dataclass
class PolicyDetails:
    document_text: str
    versions: list[PolicyVersion]
    scp_targets: list[ScpAttachment]
    permission_sets: list[PermissionSetPolicy]
    bounded: list[Principal]
    more_bounded: bool


def policy_details(user: Any, policy: Policy, *, include_removed: bool = False) -> PolicyDetails:
    """The document, every version the portal saw, and where the policy is attached (SCP targets,
    permission sets, principals it bounds). Who holds it is paged: `policy_holders`."""
    versions = list(PolicyVersion.objects.filter(policy=policy).order_by("-version")[:VERSIONS_SHOWN])
    for version in versions:
        version.document_text = pretty_json(version.document)
    targets = list(
        _present(ScpAttachment.objects.filter(policy=policy), include_removed)
        .select_related("unit", "account")
        .order_by("target_type", "target_id", "id")
    )
    if not sees_everything(user):  # an owner sees the attachments on their own branch only
        owned = list(capabilities(user).owned_account_ids)
        units = _units_above(owned)
        targets = [t for t in targets if (t.unit.ou_id in units if t.unit_id else t.account.account_id in owned)]
    permission_sets = list(
        _present(PermissionSetPolicy.objects.filter(policy=policy), include_removed)
        .select_related("permission_set")
        .order_by("permission_set__name", "id")
    )
    bounded = list(
        _present(visible_principals(user).filter(permissions_boundary=policy), include_removed)
        .select_related("account")
        .order_by("name", "id")[: MEMBERS_SHOWN + 1]
    )
    return PolicyDetails(
        document_text=pretty_json(policy.document),
        versions=versions,
        scp_targets=targets,
        permission_sets=permission_sets,
        bounded=bounded[:MEMBERS_SHOWN],
        more_bounded=len(bounded) > MEMBERS_SHOWN,
    )


def policy_holder_rows(user: Any, policy: Policy, *, include_removed: bool = False) -> QuerySet:
    """Who holds the policy (its entitlements: principal, how, where), in id order: page and CSV."""
    return _present(_entitlements(user).filter(policy=policy), include_removed).defer("policy__document").order_by("id")


def policy_holders(
    user: Any, policy: Policy, *, include_removed: bool = False, after: str = "", before: str = ""
) -> Page:
    """Who holds the policy, paged."""
    queryset = policy_holder_rows(user, policy, include_removed=include_removed)
    return paginate(queryset, order=("id",), after=after, before=before, per_page=PER_PAGE)


# Permission sets ----------------------------------------------------------------------------------


def visible_permission_sets(user: Any) -> QuerySet:
    """All with `inventory.view_all`; an owner sees the permission sets assigned on their accounts."""
    if sees_everything(user):
        return PermissionSet.objects.all()
    caps = capabilities(user)
    if not caps.has(Capability.INVENTORY_VIEW):
        return PermissionSet.objects.none()
    assigned = AccountAssignment.objects.filter(aws_account_id__in=list(caps.owned_account_ids))
    return PermissionSet.objects.filter(pk__in=assigned.values("permission_set_id"))


def permission_set_for_user(user: Any, permission_set_id: int) -> PermissionSet:
    return get_object_for_user_or_404(user, visible_permission_sets(user), pk=permission_set_id)


@dataclass
class PermissionSetDetails:
    managed: list[PermissionSetPolicy]
    inline: list[Policy]
    references: list[dict[str, Any]]


def permission_set_details(permission_set: PermissionSet, *, include_removed: bool = False) -> PermissionSetDetails:
    """Its AWS managed and inline policies, and its customer managed references, each with the
    accounts where the sync found no such policy (AWS cannot provision the set there)."""
    managed = list(
        _present(permission_set.policy_links.all(), include_removed).select_related("policy").order_by("policy__name")
    )
    inline = list(
        _present(Policy.objects.filter(permission_set=permission_set, kind=PolicyKind.PERMISSION_SET_INLINE),
                 include_removed).order_by("name", "id")
    )  # fmt: skip
    for policy in inline:
        policy.document_text = pretty_json(policy.document)
    missing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in permission_set.unresolved_references:
        missing[(r.get("name", ""), r.get("path") or "/")].append(r.get("account_id", ""))
    references = [
        {"name": r.get("name", ""), "path": r.get("path") or "/", "missing_in": sorted(missing.get(
            (r.get("name", ""), r.get("path") or "/"), []))}
        for r in permission_set.customer_managed_references
    ]  # fmt: skip
    return PermissionSetDetails(managed=managed, inline=inline, references=references)


def permission_set_assignment_rows(
    user: Any, permission_set: PermissionSet, *, include_removed: bool = False
) -> QuerySet:
    """Where it is assigned and to whom, by account: page and CSV; an owner sees their accounts' only."""
    queryset = _present(AccountAssignment.objects.filter(permission_set=permission_set), include_removed)
    if not sees_everything(user):
        queryset = queryset.filter(aws_account_id__in=list(capabilities(user).owned_account_ids))
    return queryset.select_related("account", "principal").order_by("aws_account_id", "id")


def permission_set_assignments(
    user: Any, permission_set: PermissionSet, *, include_removed: bool = False, after: str = "", before: str = ""
) -> Page:
    """Where it is assigned and to whom, paged."""
    queryset = permission_set_assignment_rows(user, permission_set, include_removed=include_removed)
    return paginate(queryset, order=("aws_account_id", "id"), after=after, before=before, per_page=PER_PAGE)


# Credential report --------------------------------------------------------------------------------


def credential_report(account: Account, *, include_removed: bool = False) -> QuerySet:
    """The account's credential report as last synced, the root user first, then by user name.

    `root_last` (0 for the root user's line, else 1) is the sort key: keyset cursors take no booleans.
    """
    rows = _present(CredentialReportRow.objects.filter(account=account), include_removed)
    return rows.annotate(root_last=Case(When(is_root=True, then=Value(0)), default=Value(1))).order_by(
        "root_last", "user_name", "id"
    )
