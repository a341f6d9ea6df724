"""Impact analysis of one change request: who would lose which actions, where, and did they use them.

The question is answered in two halves, so that 1,000 accounts of 200 principals stay within seconds:

1. The organization side, per distinct chain. Accounts whose chain (the policies at each level, root to
   account) is the same are decided together: the policy engine compares the chain before and after
   the change (`governance.policy.compare`, every action of the IAM catalog on every resource, with
   every other layer allowing) and yields the actions the change takes away (lost) for that chain.
2. The principal side, per policy document. An identity policy's Allow and Deny action patterns are
   expanded once through the action catalog; a principal loses an action when one of its policies
   allows it, none denies it, its permissions boundary (if any) allows it, and its chain lost it.
   Conditions and Resource elements of identity policies are not narrowed on here, so the count is
   an upper bound ("may lose"): a principal whose policy allows the action only on resources the SCP
   still permits is counted too.

   Grouping: a verdict depends only on the account's chain group, the principal's compiled policies
   (the actions in question each allows and denies) and its boundary, so principals sharing that key
   (the same managed policies held in many accounts of one OU, say) are decided once per key. The SQL
   skip: on PostgreSQL each policy's Action elements are read in SQL, and a policy whose patterns are
   all well formed and match none of the actions in question (those any chain loses, plus the
   guardrail actions) is neither fetched nor parsed; NotAction, a statement without Action or any odd
   shape sends the document to the policy engine. Parsed statements are cached per document hash.
   Undecidable (fail closed): a principal holding a relevant policy, or bounded by a boundary, that the
   engine cannot parse is reported under `principals_undecidable` / `undecidable` (with the unreadable
   policies' names), neither losing nor keeping, unless its boundary, read, allows none of the actions
   in question (then nothing can pass, whatever the unreadable policy says) or its readable policies
   allow none of them while only the boundary is unreadable.

Recent use (the last 90 days) comes from usage providers: built in, the credential report (an access
key's last used service) and RoleLastUsed (a role used recently, service unknown). Other apps add
providers (service last accessed, CloudTrail) with `register_usage_provider`. Accounts that would lose
the ability to manage their own guardrails (an IAM boundary or role-policy action, or an Organizations
policy action, that some principal of the account may perform before and none after) and break-glass
roles that lose anything are listed apart.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, TextField, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from governance.inventory.models import (
    AccessKey,
    Account,
    Entitlement,
    Organization,
    Policy,
    PolicyKind,
    Principal,
    PrincipalKind,
)
from governance.policy import PolicyError, PolicySet, Request, compare, expand_actions, parse_policy
from governance.scp.effective import Chain, Level, LevelPolicy, chains
from governance.scp.explain import EVERYTHING
from governance.scp.models import ChangeKind, ChangeRequest

USED_DAYS = 90
TOP = 50
GUARDRAIL_ACTIONS = (
    "iam:PutRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:UpdateAssumeRolePolicy",
    "organizations:AttachPolicy",
    "organizations:DetachPolicy",
    "organizations:UpdatePolicy",
)
BREAK_GLASS_HINTS = ("break-glass", "breakglass", "break_glass", "emergency")

Progress = Callable[[int, int], None]


@dataclass
class Usage:
    """What a usage provider knows of one principal: services used (with when), or only "used at"."""

    services: dict[str, datetime] = field(default_factory=dict)
    used_at: datetime | None = None
    source: str = ""


UsageProvider = Callable[[list[int], datetime], dict[int, Usage]]
_USAGE: dict[str, UsageProvider] = {}


def register_usage_provider(name: str, provider: UsageProvider) -> None:
    """Add a source of recent use: `provider(principal_ids, since)` → {principal id: Usage}."""
    _USAGE[name] = provider


def _credential_report_usage(principal_ids: list[int], since: datetime) -> dict[int, Usage]:
    found: dict[int, Usage] = {}
    keys = (
        AccessKey.objects.present()
        .filter(principal_id__in=principal_ids, last_used_date__gte=since)
        .exclude(last_used_service="")
        .values_list("principal_id", "last_used_service", "last_used_date")
    )
    for principal_id, service, used in keys:
        usage = found.setdefault(principal_id, Usage(source="credential report"))
        service = service.lower()
        if service not in usage.services or usage.services[service] < used:
            usage.services[service] = used
    return found


def _role_last_used(principal_ids: list[int], since: datetime) -> dict[int, Usage]:
    roles = Principal.objects.filter(
        pk__in=principal_ids, kind=PrincipalKind.IAM_ROLE, last_used__gte=since
    ).values_list("pk", "last_used")
    return {pk: Usage(used_at=used, source="RoleLastUsed") for pk, used in roles}


register_usage_provider("credential_report", _credential_report_usage)
register_usage_provider("role_last_used", _role_last_used)


IAM_KINDS = (PrincipalKind.IAM_USER, PrincipalKind.IAM_ROLE)
# A policy's statements as the impact reads them: (allows, NotAction, action patterns); None when the
# policy engine cannot parse the document. Kept per document hash across analyses (the same managed
# policy is held in every account); cleared when it grows past _CACHE_SIZE documents.
_Statements = tuple[tuple[bool, bool, tuple[str, ...]], ...]
_STATEMENTS: dict[str, _Statements | None] = {}
_CACHE_SIZE = 50_000
# PostgreSQL: each statement's Action element as a JSON list, or NULL when some statement is not an
# object with an Action (NotAction, no Action, not an object) or there is no Statement to read.
_ACTION_VALUES = """(
    SELECT CASE WHEN bool_and(jsonb_typeof(s.value) = 'object' AND s.value ? 'Action' AND NOT s.value ? 'NotAction')
                THEN jsonb_agg(s.value -> 'Action')::text END
    FROM jsonb_array_elements(CASE jsonb_typeof(inventory_policy.document -> 'Statement')
                              WHEN 'array' THEN inventory_policy.document -> 'Statement'
                              WHEN 'object' THEN jsonb_build_array(inventory_policy.document -> 'Statement') END) s
)"""


@cache
def _expanded(pattern: str) -> frozenset[str]:
    try:
        return frozenset(a.lower() for a in expand_actions(pattern))
    except PolicyError:
        return frozenset()


@cache
def _well_formed(pattern: str) -> bool:
    try:
        expand_actions(pattern)
    except PolicyError:
        return False
    return True


@cache
def _all_actions() -> frozenset[str]:
    return _expanded("*")


@dataclass(frozen=True)
class _PolicyActions:
    allows: frozenset[str]
    denies: frozenset[str]


_NOTHING = _PolicyActions(frozenset(), frozenset())


def _statements(document: Any, name: str) -> _Statements | None:
    parsed = _parse(document, name)
    if parsed is None:
        return None
    return tuple((s.effect.value == "Allow", s.not_action, tuple(s.actions)) for s in parsed.statements)


def _policy_actions(statements: _Statements, within: frozenset[str]) -> _PolicyActions:
    known = within & _all_actions()
    allows: set[str] = set()
    denies: set[str] = set()
    for allow, not_action, patterns in statements:
        covered: set[str] = set()
        for pattern in patterns:
            covered |= _expanded(pattern) & within
        (allows if allow else denies).update(known - covered if not_action else covered)
    return _PolicyActions(frozenset(allows), frozenset(denies))


def _mentions(action_values: str | None, within: frozenset[str]) -> bool | None:
    """Whether a policy whose statements' Action elements are `action_values` (JSON) may allow or deny
    one of `within`; None when only the policy engine can tell (odd shapes, malformed patterns), so
    that the document is parsed. A well-formed pattern matching no action of the catalog matches none
    of `within` either, as it does once parsed."""
    if action_values is None:
        return None
    patterns: list[str] = []
    for value in json.loads(action_values):
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) and item for item in items):
            return None
        patterns.extend(items)
    if not patterns:
        return None
    for pattern in patterns:
        if not _well_formed(pattern):
            return None
        if not _expanded(pattern).isdisjoint(within):
            return True
    return False


def _compiled_policies(
    account_pks: list[int], within: frozenset[str]
) -> tuple[dict[int, _PolicyActions | None], dict[int, str]]:
    """Every policy held by, or bounding, a principal of these accounts: {pk: the actions of `within` it
    allows and denies, or None when it cannot be read}, and the names of those that cannot.

    On PostgreSQL the statements' Action elements are read in SQL first: a policy whose patterns are
    all plain, known to the catalog and none of them in `within` allows and denies nothing here
    (`_NOTHING`) whatever else it says, so its document is neither fetched nor parsed. The rest are
    parsed once per distinct document (hash)."""
    held = Q(pk__in=Entitlement.objects.filter(account_id__in=account_pks, removed_at__isnull=True).values("policy_id"))
    held |= Q(
        pk__in=Principal.objects.present()
        .filter(account_id__in=account_pks, permissions_boundary__isnull=False)
        .values("permissions_boundary_id")
    )
    rows = Policy.objects.filter(held).order_by()
    if connection.vendor == "postgresql":
        action_values = RawSQL(_ACTION_VALUES, (), output_field=TextField())  # noqa: S611 (a constant, no input)
    else:
        action_values = Value(None, output_field=TextField())
    listed = rows.annotate(action_values=action_values).values_list("pk", "document_hash", "action_values")
    compiled: dict[int, _PolicyActions | None] = {}
    to_read: dict[str, list[int]] = defaultdict(list)  # document hash ("#pk" without one) -> policies
    mentions: dict[str | None, bool | None] = {}
    for pk, document_hash, action_values in listed.iterator(chunk_size=20000):
        if action_values not in mentions:
            mentions[action_values] = _mentions(action_values, within)
        if mentions[action_values] is False:
            compiled[pk] = _NOTHING
        else:
            to_read[document_hash or f"#{pk}"].append(pk)
    statements: dict[str, _Statements | None] = {key: _STATEMENTS[key] for key in to_read if key in _STATEMENTS}
    unread = [pks[0] for key, pks in to_read.items() if key not in statements]
    for start in range(0, len(unread), 2000):
        documents = Policy.objects.filter(pk__in=unread[start : start + 2000]).values_list(
            "pk", "document_hash", "name", "document"
        )
        for pk, document_hash, name, document in documents:
            found = statements[document_hash or f"#{pk}"] = _statements(document, name)
            if document_hash:
                if len(_STATEMENTS) >= _CACHE_SIZE:
                    _STATEMENTS.clear()
                _STATEMENTS[document_hash] = found
    actions: dict[str, _PolicyActions | None] = {}
    for key, pks in to_read.items():
        found = statements.get(key)
        actions[key] = _policy_actions(found, within) if found is not None else None
        for pk in pks:
            compiled[pk] = actions[key]
    failed = [pk for pk, found in compiled.items() if found is None]
    names = dict(Policy.objects.filter(pk__in=failed).values_list("pk", "name")) if failed else {}
    return compiled, names


def _holders(account_pks: list[int], needed: set[int]) -> list[tuple]:
    """The present IAM users and roles of these accounts that hold one of the `needed` policies, in the
    principals' own order (name, id): (pk, arn, name, kind, account pk, boundary pk, tags, [policy pks]).
    The others hold nothing the change or the guardrails concern, so nothing to decide."""
    if not needed:
        return []
    # Two plain queries, not one join ordered by name: PostgreSQL planned that join as a nested loop
    # over every principal in name order (minutes on the benchmark's inventory).
    held: dict[int, list[int]] = defaultdict(list)
    ordered = sorted(needed)
    for start in range(0, len(ordered), 5000):
        rows = Entitlement.objects.filter(
            account_id__in=account_pks, removed_at__isnull=True, policy_id__in=ordered[start : start + 5000]
        ).order_by()
        for principal_id, policy_id in rows.values_list("principal_id", "policy_id"):
            held[principal_id].append(policy_id)
    found: list[tuple] = []
    ids = sorted(held)
    for start in range(0, len(ids), 5000):
        principals = Principal.objects.present().filter(
            pk__in=ids[start : start + 5000], account_id__in=account_pks, kind__in=IAM_KINDS
        )
        columns = ("pk", "arn", "name", "kind", "account_id", "permissions_boundary_id", "tags")
        found += [(*row, held[row[0]]) for row in principals.order_by().values_list(*columns)]
    found.sort(key=lambda row: (row[2], row[0]))  # the principals' own order, name then id
    return found


@dataclass(frozen=True)
class _Verdict:
    lost: frozenset[str] = frozenset()
    guard_before: frozenset[str] = frozenset()
    guard_after: frozenset[str] = frozenset()
    undecidable: bool = False

    @property
    def services(self) -> set[str]:
        return {action.partition(":")[0] for action in self.lost}


_GUARDRAILS = frozenset(a.lower() for a in GUARDRAIL_ACTIONS)


def _verdict(
    policies: frozenset[_PolicyActions | None],
    *,
    bounded: bool,
    boundary: _PolicyActions | None,
    lost: frozenset[str],
    before: frozenset[str],
    after: frozenset[str],
) -> _Verdict:
    """What one principal loses (and which guardrail actions it may perform before and after) given its
    compiled identity policies and boundary; undecidable when a policy it holds or its boundary cannot
    be read and the answer depends on it. Fail closed: such a principal is reported apart, never
    counted as keeping (or losing) its access. An unreadable policy cannot matter only where the
    boundary, read, allows none of the actions in question."""
    bound = (boundary.allows - boundary.denies) if bounded and boundary is not None else None
    if bound is not None and not bound:
        return _Verdict()
    if None in policies:
        return _Verdict(undecidable=True)
    allows: set[str] = set()
    denies: set[str] = set()
    for found in policies:
        assert found is not None
        allows |= found.allows
        denies |= found.denies
    effective = frozenset(allows - denies)
    if not effective:
        return _Verdict()
    if bounded:
        if bound is None:
            return _Verdict(undecidable=True)
        effective &= bound
    guard = _GUARDRAILS & effective
    return _Verdict(lost & effective, guard & before, guard & after)


def _signature(chain: Chain, kind: str) -> tuple:
    return (chain.management, tuple(tuple(p.pk for p in level.policies(kind)) for level in chain.levels))


def _after(chain: Chain, change: ChangeRequest, replacement: Any) -> Chain | None:
    """The chain as it would be after the change, or None when the change does not touch it."""
    kind = change.policy_type
    touched = False
    levels = []
    for level in chain.levels:
        copy = Level(level.depth, level.target_type, level.target_id, level.name, list(level.scps), list(level.rcps))
        attached = copy.policies(kind)
        if change.kind == ChangeKind.UPDATE:
            for index, entry in enumerate(attached):
                if entry.pk == change.policy_id:
                    attached[index] = LevelPolicy(
                        entry.pk, entry.kind, entry.name, entry.arn, entry.aws_policy_id, change.document, replacement
                    )
                    touched = True
        elif change.kind in (ChangeKind.ATTACH, ChangeKind.DETACH) and level.target_id == change.target_id:
            if change.kind == ChangeKind.ATTACH:
                policy = change.policy
                attached.append(
                    LevelPolicy(policy.pk, policy.kind, policy.name, policy.arn, policy.aws_policy_id, policy.document,
                                _parse(policy.document, policy.name))
                )  # fmt: skip
            else:
                attached[:] = [entry for entry in attached if entry.pk != change.policy_id]
            touched = True
        levels.append(copy)
    if not touched:
        return None
    return Chain(chain.account, levels, chain.management, chain.rcps_enabled or kind == PolicyKind.RCP)


def _parse(document: Any, name: str) -> Any:
    try:
        return parse_policy(document, name=name) if document is not None else None
    except PolicyError:
        return None


def _policy_set(chain: Chain, kind: str) -> PolicySet:
    if kind == PolicyKind.RCP:
        return PolicySet(identity_policies=[EVERYTHING], rcps=chain.rcp_levels() or [[]])
    return PolicySet(identity_policies=[EVERYTHING], scps=chain.scp_levels(), management_account=chain.management)


def _chain_loss(before: Chain, after: Chain, kind: str, org_id: str) -> tuple[frozenset[str], dict[str, str]]:
    """Actions the organization side takes away from this chain, and an example resource per action."""
    account = before.account.account_id
    request = Request(
        principal=f"arn:aws:iam::{account}:role/impact-analysis",
        action="*",
        resource="*",
        context={"aws:RequestedRegion": settings.AWS_REGION, "aws:PrincipalOrgID": org_id, "aws:ResourceOrgID": org_id},
        resource_account=account,
    )
    change = compare(_policy_set(before, kind), _policy_set(after, kind), request)
    lost: set[str] = set()
    examples: dict[str, str] = {}
    for shift in change.lost:
        for action in shift.actions:
            lost.add(action.lower())
            examples.setdefault(action.lower(), shift.example)
    return frozenset(lost), examples


def _guardrail_allowed(chain: Chain, kind: str, org_id: str) -> frozenset[str]:
    policy_set = _policy_set(chain, kind)
    account = chain.account.account_id
    allowed = set()
    for action in GUARDRAIL_ACTIONS:
        request = Request(
            principal=f"arn:aws:iam::{account}:role/impact-analysis",
            action=action,
            resource="*",
            context={"aws:RequestedRegion": settings.AWS_REGION, "aws:PrincipalOrgID": org_id},
            resource_account=account,
        )
        if policy_set.evaluate(request).allowed:
            allowed.add(action.lower())
    return frozenset(allowed)


def affected_accounts(change: ChangeRequest) -> list[Account]:
    accounts = Account.objects.present().select_related("parent")
    if change.kind in (ChangeKind.ATTACH, ChangeKind.DETACH):
        if change.target_type == "ACCOUNT":
            return list(accounts.filter(account_id=change.target_id))
        return list(accounts.filter(parent__path__contains=f"{change.target_id}/"))
    if change.kind != ChangeKind.UPDATE or change.policy_id is None:
        return []
    from governance.inventory.models import ScpAttachment

    targets = list(
        ScpAttachment.objects.present().filter(policy_id=change.policy_id).values_list("target_type", "target_id")
    )
    account_ids = [t for kind, t in targets if kind == "ACCOUNT"]
    units = [t for kind, t in targets if kind != "ACCOUNT"]
    where = Q(account_id__in=account_ids)
    for unit in units:
        where |= Q(parent__path__contains=f"{unit}/")
    return list(accounts.filter(where)) if targets else []


def analyze(change: ChangeRequest, *, progress: Progress | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The impact of `change` (see the module docstring), as the JSON stored on the request."""
    started = time.perf_counter()
    now = now or timezone.now()
    kind = change.policy_type
    org = Organization.objects.present().order_by("id").first()
    org_id = org.org_id if org else ""
    result: dict[str, Any] = {
        "computed_at": now.isoformat(),
        "accounts_affected": 0,
        "accounts_losing": 0,
        "principals_evaluated": 0,
        "principals_losing": 0,
        "principals_undecidable": 0,
        "lost_services": {},
        "accounts": [],
        "undecidable": [],
        "used_recently": [],
        "used_recently_count": 0,
        "guardrail_accounts": [],
        "break_glass": [],
        "usage_sources": sorted(_USAGE),
        "usage_unavailable": "service last accessed and CloudTrail: not available from this endpoint",
        "note": "",
    }
    accounts = affected_accounts(change)
    if not accounts:
        result["note"] = {
            ChangeKind.CREATE: "A new policy attached nowhere restricts nothing until it is attached.",
            ChangeKind.DELETE: "A policy attached nowhere restricts nothing; deleting it changes no access.",
            ChangeKind.ADOPT: "Adopting records what AWS already enforces; no access changes.",
        }.get(change.kind, "No account has this policy in effect.")
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result
    replacement = _parse(change.document, change.name) if change.kind == ChangeKind.UPDATE else None
    if change.kind == ChangeKind.UPDATE and replacement is None:
        raise ValueError("The proposed document cannot be parsed; fix it before analysing its impact.")
    by_pk = chains(accounts)
    groups: dict[tuple, list[Chain]] = defaultdict(list)
    afters: dict[tuple, Chain] = {}
    for chain in by_pk.values():
        if chain.management:
            continue  # neither SCPs nor RCPs restrict the management account
        after = _after(chain, change, replacement)
        if after is None:
            continue
        key = (_signature(chain, kind), _signature(after, kind))
        groups[key].append(chain)
        afters[key] = after
    total = len(groups) + len(accounts)
    done = 0
    lost_by_account: dict[int, frozenset[str]] = {}
    examples: dict[str, str] = {}
    guard_before: dict[int, frozenset[str]] = {}
    guard_after: dict[int, frozenset[str]] = {}
    group_of: dict[int, int] = {}  # account pk -> its chain group (the same losses and guardrails)
    for number, (key, members) in enumerate(groups.items()):
        lost, shown = _chain_loss(members[0], afters[key], kind, org_id)
        examples.update(shown)
        before_guard = _guardrail_allowed(members[0], kind, org_id)
        after_guard = _guardrail_allowed(afters[key], kind, org_id)
        for chain in members:
            lost_by_account[chain.account.pk] = lost
            guard_before[chain.account.pk], guard_after[chain.account.pk] = before_guard, after_guard
            group_of[chain.account.pk] = number
        done += 1
        if progress:
            progress(done, total)
    result["accounts_affected"] = len(lost_by_account)
    interesting = frozenset().union(*lost_by_account.values()) | {a.lower() for a in GUARDRAIL_ACTIONS}

    account_pks = list(lost_by_account)
    compiled, unreadable = _compiled_policies(account_pks, interesting)
    holders = _holders(account_pks, {pk for pk, found in compiled.items() if found is not _NOTHING})

    since = now - timedelta(days=USED_DAYS)
    losers: list[tuple[Any, frozenset[str]]] = []
    accounts_by_pk = {a.pk: a for a in accounts}
    per_account: dict[int, dict[str, Any]] = {}
    lost_services: dict[str, int] = defaultdict(int)
    # Per account, the guardrail actions at least one of its principals may perform, before and after.
    guard_held_before: dict[int, set[str]] = defaultdict(set)
    guard_held_after: dict[int, set[str]] = defaultdict(set)
    break_glass = []
    undecidable = []
    # Principals of one chain group holding the same compiled policies under the same boundary get the
    # same verdict: it is worked out once per distinct key and handed to every principal that has it.
    verdicts: dict[tuple, _Verdict] = {}
    for index, (pk, arn, name, kind_, account_pk, boundary_pk, tags, policy_ids) in enumerate(holders):
        policies = frozenset(compiled.get(policy_id) for policy_id in policy_ids)
        boundary = compiled.get(boundary_pk) if boundary_pk else _NOTHING
        key = (group_of[account_pk], policies, bool(boundary_pk), boundary)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = _verdict(
                policies,
                bounded=bool(boundary_pk),
                boundary=boundary,
                lost=lost_by_account[account_pk],
                before=guard_before[account_pk],
                after=guard_after[account_pk],
            )
        if verdict.undecidable:
            names = sorted({unreadable.get(p, str(p)) for p in (*policy_ids, boundary_pk) if p and p in unreadable})
            undecidable.append({"arn": arn, "account_id": accounts_by_pk[account_pk].account_id, "policies": names})
            continue
        guard_held_before[account_pk] |= verdict.guard_before
        guard_held_after[account_pk] |= verdict.guard_after
        lost = verdict.lost
        if lost:
            losers.append(((pk, arn, name, kind_, account_pk), lost))
            entry = per_account.setdefault(account_pk, {"principals": 0, "actions": set()})
            entry["principals"] += 1
            entry["actions"] |= lost
            for service in verdict.services:
                lost_services[service] += 1
            label = f"{name} {' '.join(f'{k}={v}' for k, v in (tags or {}).items())}".lower()
            if kind_ == PrincipalKind.IAM_ROLE and any(hint in label for hint in BREAK_GLASS_HINTS):
                break_glass.append(
                    {"arn": arn, "account_id": accounts_by_pk[account_pk].account_id, "actions": _few(lost)}
                )
        if progress and index % 5000 == 4999:
            progress(done + len(accounts) * index // max(len(holders), 1), total)
    result["principals_evaluated"] = (
        Principal.objects.present().filter(account_id__in=account_pks, kind__in=IAM_KINDS).count()
    )
    result["principals_undecidable"] = len(undecidable)
    result["undecidable"] = undecidable[:TOP]
    result["principals_losing"] = len(losers)
    result["accounts_losing"] = len(per_account)
    result["lost_services"] = dict(sorted(lost_services.items(), key=lambda item: (-item[1], item[0])))
    ranked = sorted(per_account.items(), key=lambda item: (-item[1]["principals"], accounts_by_pk[item[0]].name))
    result["accounts"] = [
        {
            "account_id": accounts_by_pk[pk].account_id,
            "name": accounts_by_pk[pk].name,
            "principals": entry["principals"],
            "actions": _few(entry["actions"]),
            "action_count": len(entry["actions"]),
        }
        for pk, entry in ranked[:TOP]
    ]
    result["guardrail_accounts"] = [
        {
            "account_id": accounts_by_pk[pk].account_id,
            "name": accounts_by_pk[pk].name,
            "actions": _few(held - guard_held_after.get(pk, set())),
        }
        for pk, held in sorted(guard_held_before.items())
        if held - guard_held_after.get(pk, set())
    ]
    result["break_glass"] = break_glass[:TOP]
    used = _recent_use(losers, since, accounts_by_pk)
    result["used_recently_count"] = len(used)
    result["used_recently"] = used[:TOP]
    result["examples"] = {action: examples[action] for action in sorted(examples)[:TOP]}
    result["seconds"] = round(time.perf_counter() - started, 3)
    if progress:
        progress(total, total)
    return result


def _few(actions: Iterable[str], limit: int = 12) -> list[str]:
    shown = sorted(actions)
    return shown[:limit] + ([f"… and {len(shown) - limit} more"] if len(shown) > limit else [])


def _recent_use(losers: list, since: datetime, accounts_by_pk: dict[int, Account]) -> list[dict[str, Any]]:
    ids = [who[0] for who, _lost in losers]
    usage: dict[int, list[Usage]] = defaultdict(list)
    for provider in _USAGE.values():
        for chunk in range(0, len(ids), 20000):
            for principal_id, found in provider(ids[chunk : chunk + 20000], since).items():
                usage[principal_id].append(found)
    used = []
    for (pk, arn, _name, _kind, account_pk), lost in losers:
        lost_services = {a.partition(":")[0] for a in lost}
        best: tuple[bool, datetime, list[str], str] | None = None  # named services beat "used at"
        for found in usage.get(pk, ()):
            services = sorted(s for s in found.services if s in lost_services)
            last = max(found.services[s] for s in services) if services else found.used_at
            if last is not None and (best is None or (bool(services), last) > best[:2]):
                best = (bool(services), last, services, found.source)
        if best is not None:
            account_id = accounts_by_pk[account_pk].account_id
            used.append({"arn": arn, "account_id": account_id, "services": best[2], "source": best[3],
                         "last_used": best[1].isoformat()})  # fmt: skip
    used.sort(key=lambda item: item["last_used"], reverse=True)
    return used
