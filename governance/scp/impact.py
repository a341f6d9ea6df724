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

Recent use (the last 90 days) comes from usage providers: built in, the credential report (an access
key's last used service) and RoleLastUsed (a role used recently, service unknown). Other apps add
providers (service last accessed, CloudTrail) with `register_usage_provider`. Accounts that would lose
the ability to manage their own guardrails (an IAM boundary or role-policy action, or an Organizations
policy action, that some principal of the account may perform before and none after) and break-glass
roles that lose anything are listed apart.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
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


@cache
def _expanded(pattern: str) -> frozenset[str]:
    try:
        return frozenset(a.lower() for a in expand_actions(pattern))
    except PolicyError:
        return frozenset()


@cache
def _all_actions() -> frozenset[str]:
    return _expanded("*")


def _statement_actions(statement: Any) -> frozenset[str]:
    covered: set[str] = set()
    for pattern in statement.actions:
        covered |= _expanded(pattern)
    return _all_actions() - covered if statement.not_action else frozenset(covered)


@dataclass
class _PolicyActions:
    allows: frozenset[str]
    denies: frozenset[str]


def _policy_actions(parsed: Any, within: frozenset[str]) -> _PolicyActions:
    allows: set[str] = set()
    denies: set[str] = set()
    for statement in parsed.statements:
        actions = _statement_actions(statement) & within
        (allows if statement.effect.value == "Allow" else denies).update(actions)
    return _PolicyActions(frozenset(allows), frozenset(denies))


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
    from django.db.models import Q

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
        "lost_services": {},
        "accounts": [],
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
    for key, members in groups.items():
        lost, shown = _chain_loss(members[0], afters[key], kind, org_id)
        examples.update(shown)
        before_guard = _guardrail_allowed(members[0], kind, org_id)
        after_guard = _guardrail_allowed(afters[key], kind, org_id)
        for chain in members:
            lost_by_account[chain.account.pk] = lost
            guard_before[chain.account.pk], guard_after[chain.account.pk] = before_guard, after_guard
        done += 1
        if progress:
            progress(done, total)
    result["accounts_affected"] = len(lost_by_account)
    interesting = frozenset().union(*lost_by_account.values()) | {a.lower() for a in GUARDRAIL_ACTIONS}

    account_pks = list(lost_by_account)
    principals = list(
        Principal.objects.present()
        .filter(account_id__in=account_pks, kind__in=[PrincipalKind.IAM_USER, PrincipalKind.IAM_ROLE])
        .values_list("pk", "arn", "name", "kind", "account_id", "permissions_boundary_id", "tags")
    )
    held: dict[int, list[int]] = defaultdict(list)
    # By account (the entitlement table's own index), not by a list of 200,000 principal ids.
    for chunk in range(0, len(account_pks), 100):
        rows = Entitlement.objects.filter(account_id__in=account_pks[chunk : chunk + 100], removed_at__isnull=True)
        for principal_id, policy_id in rows.values_list("principal_id", "policy_id").iterator(chunk_size=20000):
            held[principal_id].append(policy_id)
    policy_ids = {pk for ids in held.values() for pk in ids} | {p[5] for p in principals if p[5]}
    actions_of: dict[int, _PolicyActions] = {}
    documents = Policy.objects.filter(pk__in=policy_ids).values_list("pk", "name", "document").iterator(chunk_size=5000)
    for pk, name, document in documents:
        parsed = _parse(document, name)
        actions_of[pk] = (
            _policy_actions(parsed, interesting) if parsed is not None else _PolicyActions(frozenset(), frozenset())
        )

    since = now - timedelta(days=USED_DAYS)
    losers: list[tuple[Any, frozenset[str]]] = []
    accounts_by_pk = {a.pk: a for a in accounts}
    per_account: dict[int, dict[str, Any]] = {}
    lost_services: dict[str, int] = defaultdict(int)
    # Per account, the guardrail actions at least one of its principals may perform, before and after.
    guard_held_before: dict[int, set[str]] = defaultdict(set)
    guard_held_after: dict[int, set[str]] = defaultdict(set)
    break_glass = []
    for index, (pk, arn, name, kind_, account_pk, boundary_pk, tags) in enumerate(principals):
        allows: set[str] = set()
        denies: set[str] = set()
        for policy_id in held.get(pk, ()):
            found = actions_of.get(policy_id)
            if found is not None:
                allows |= found.allows
                denies |= found.denies
        effective = allows - denies
        if boundary_pk:
            boundary = actions_of.get(boundary_pk)
            effective &= (boundary.allows - boundary.denies) if boundary else frozenset()
        lost = lost_by_account[account_pk] & effective
        guard = {a.lower() for a in GUARDRAIL_ACTIONS} & effective
        guard_held_before[account_pk] |= guard & guard_before[account_pk]
        guard_held_after[account_pk] |= guard & guard_after[account_pk]
        if lost:
            losers.append(((pk, arn, name, kind_, account_pk), frozenset(lost)))
            entry = per_account.setdefault(account_pk, {"principals": 0, "actions": set()})
            entry["principals"] += 1
            entry["actions"] |= lost
            for service in {a.partition(":")[0] for a in lost}:
                lost_services[service] += 1
            label = f"{name} {' '.join(f'{k}={v}' for k, v in (tags or {}).items())}".lower()
            if kind_ == PrincipalKind.IAM_ROLE and any(hint in label for hint in BREAK_GLASS_HINTS):
                break_glass.append(
                    {"arn": arn, "account_id": accounts_by_pk[account_pk].account_id, "actions": _few(lost)}
                )
        if progress and index % 5000 == 4999:
            progress(done + len(accounts) * index // max(len(principals), 1), total)
    result["principals_evaluated"] = len(principals)
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
