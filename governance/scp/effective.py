"""The organization policies in effect on an account: the chain root → OUs → account.

SCPs restrict the account's own principals (every level of the chain must allow an action); RCPs
restrict what anyone may do to the account's resources (likewise, level by level). Each level lists
what is attached there and a one-line summary of what it lets through, for people reading the chain;
the policy engine (`governance.policy.evaluate`) decides actual requests from the same levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from governance.inventory.models import Account, OrganizationalUnit, PolicyKind, ScpAttachment
from governance.inventory.models import Policy as PolicyRow
from governance.inventory.models.org import ORG_POLICY_KINDS
from governance.policy import Effect, Policy, PolicyError, parse_policy

FULL_ACCESS_NAMES = {PolicyKind.SCP: "FullAWSAccess", PolicyKind.RCP: "RCPFullAWSAccess"}


@dataclass
class LevelPolicy:
    """One SCP or RCP attached at one level."""

    pk: int
    kind: str
    name: str
    arn: str
    aws_policy_id: str
    document: Any
    parsed: Policy | None = None
    problem: str = ""

    @property
    def is_full_access(self) -> bool:
        return self.name == FULL_ACCESS_NAMES.get(self.kind) and self.aws_policy_id.startswith("p-")


@dataclass
class Level:
    """A node of the chain: the root, an OU or the account itself."""

    depth: int
    target_type: str  # ROOT, ORGANIZATIONAL_UNIT, ACCOUNT
    target_id: str
    name: str
    scps: list[LevelPolicy] = field(default_factory=list)
    rcps: list[LevelPolicy] = field(default_factory=list)

    def policies(self, kind: str) -> list[LevelPolicy]:
        return self.scps if kind == PolicyKind.SCP else self.rcps

    def summary(self, kind: str) -> str:
        """What the level lets through, in one line (the engine decides requests; this is for reading)."""
        attached = self.policies(kind)
        if not attached:
            return "nothing attached: AWS would allow nothing here" if kind == PolicyKind.SCP else "no RCPs attached"
        allows: list[str] = []
        denies: list[str] = []
        for policy in attached:
            if policy.parsed is None:
                return f"{policy.name} cannot be read ({policy.problem}): decided as allowing nothing"
            for statement in policy.parsed.statements:
                if statement.not_action:
                    shown = ", ".join(sorted(statement.actions)[:4]) + ("…" if len(statement.actions) > 4 else "")
                    actions = [f"every action except {shown}"]
                else:
                    actions = list(statement.actions)
                (allows if statement.effect is Effect.ALLOW else denies).extend(actions)
        if kind == PolicyKind.SCP:
            allowed = "every action" if "*" in allows else (", ".join(sorted(set(allows))) or "nothing")
        else:
            allowed = "every action on its resources"
        text = f"allows {allowed}"
        if denies:
            shown = sorted(set(denies))
            more = f" and {len(shown) - 6} more" if len(shown) > 6 else ""
            text += f"; denies {', '.join(shown[:6])}{more} (with their conditions)"
        return text

    def parsed(self, kind: str) -> list[Policy]:
        return [p.parsed for p in self.policies(kind) if p.parsed is not None]


@dataclass
class Chain:
    account: Account
    levels: list[Level]
    management: bool  # SCPs do not apply to the management account's principals, RCPs not to its resources
    rcps_enabled: bool

    def scp_levels(self) -> list[list[Policy]]:
        return [level.parsed(PolicyKind.SCP) for level in self.levels]

    def rcp_levels(self) -> list[list[Policy]]:
        return [level.parsed(PolicyKind.RCP) for level in self.levels] if self.rcps_enabled else []

    @property
    def problems(self) -> list[str]:
        return [
            f"{p.name}: {p.problem}" for level in self.levels for p in (*level.scps, *level.rcps) if p.parsed is None
        ]


def _parse(kind: str, name: str, document: Any) -> tuple[Policy | None, str]:
    if document is None:
        return None, "its document was not synced"
    try:
        return parse_policy(document, name=name), ""
    except PolicyError as exc:
        return None, str(exc)


def chains(accounts: list[Account]) -> dict[int, Chain]:
    """The chain of each account (parents loaded), in four queries whatever the number of accounts."""
    ou_ids = {ou for a in accounts for ou in (a.parent.path if a.parent_id and a.parent else "").split("/") if ou}
    units = {u.ou_id: u for u in OrganizationalUnit.objects.present().filter(ou_id__in=ou_ids)}
    by_unit: dict[int, list[LevelPolicy]] = {}
    by_account: dict[int, list[LevelPolicy]] = {}
    attachments = (
        ScpAttachment.objects.present()
        .filter(policy__removed_at__isnull=True, policy__kind__in=ORG_POLICY_KINDS)
        .filter(Q(unit_id__in=[u.pk for u in units.values()]) | Q(account_id__in=[a.pk for a in accounts]))
        .values_list(
            "unit_id",
            "account_id",
            "policy_id",
            "policy__kind",
            "policy__name",
            "policy__arn",
            "policy__aws_policy_id",
            "policy__document",
        )
        .order_by("policy__name", "id")
    )
    cache: dict[int, tuple[Policy | None, str]] = {}
    # AWS attaches RCPFullAWSAccess everywhere once RCPs are enabled: any synced RCP means they are.
    rcps_enabled = PolicyRow.objects.present().filter(kind=PolicyKind.RCP).exists()
    for unit_pk, account_pk, pk, kind, name, arn, aws_id, document in attachments:
        if pk not in cache:
            cache[pk] = _parse(kind, name, document)
        parsed, problem = cache[pk]
        entry = LevelPolicy(pk, kind, name, arn, aws_id, document, parsed, problem)
        (by_unit.setdefault(unit_pk, []) if unit_pk else by_account.setdefault(account_pk, [])).append(entry)
    result = {}
    for account in accounts:
        path = [ou for ou in (account.parent.path if account.parent_id and account.parent else "").split("/") if ou]
        levels = []
        for depth, ou in enumerate(path):
            unit = units.get(ou)
            if unit is None:
                continue
            level = Level(depth, "ROOT" if unit.is_root else "ORGANIZATIONAL_UNIT", ou, unit.name)
            _split(level, by_unit.get(unit.pk, []))
            levels.append(level)
        level = Level(len(levels), "ACCOUNT", account.account_id, account.name)
        _split(level, by_account.get(account.pk, []))
        levels.append(level)
        result[account.pk] = Chain(account, levels, account.is_management, rcps_enabled)
    return result


def _split(level: Level, entries: list[LevelPolicy]) -> None:
    for entry in entries:
        level.policies(entry.kind).append(entry)


def chain_for(account: Account) -> Chain:
    return chains([account])[account.pk]
