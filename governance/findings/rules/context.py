"""What a rule sees: the accounts in scope, the time, the baseline, and loads several rules share.

Loads are cached on the context, so rules that need the same rows (held policies and their facts,
SCP levels per account) cost one query between them, whatever the number of accounts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, TextField
from django.db.models.functions import Cast

from governance.findings.analysis import ANALYZER, Facts, normalize
from governance.findings.models import BaselineSettings
from governance.inventory.models import (
    Account,
    Entitlement,
    Policy,
    PolicyKind,
    ScpAttachment,
)
from governance.policy import PolicyError, parse_policy

CUSTOMER_AUTHORED = (PolicyKind.CUSTOMER_MANAGED, PolicyKind.INLINE)


def day(value: datetime | None) -> str | None:
    """A date as evidence shows it: the day, so the evidence of an unchanged problem never changes."""
    return value.date().isoformat() if value else None


@dataclass
class HeldPolicy:
    """A customer-authored policy that grants something in a scope account, with its facts."""

    id: int
    arn: str
    name: str
    kind: str
    account_id: int | None
    principal_id: int | None
    facts: Facts


@dataclass
class Context:
    now: datetime
    # Account pks whose per-account rules run; None: every account.
    account_pks: frozenset[int] | None = None
    baseline: BaselineSettings = field(default_factory=BaselineSettings.current)
    # Results several rules share (e.g. the escalation analysis), keyed by the module computing them.
    memo: dict[str, Any] = field(default_factory=dict)

    def scoped(self, queryset: QuerySet, field: str = "account_id") -> QuerySet:
        """`queryset` limited to the accounts in scope (present ones only)."""
        queryset = queryset.filter(**{f"{field.removesuffix('_id')}__removed_at__isnull": True})
        if self.account_pks is None:
            return queryset
        return queryset.filter(**{f"{field}__in": list(self.account_pks)})

    @cached_property
    def accounts(self) -> dict[int, Account]:
        """Present accounts in scope by pk (with their OU)."""
        queryset = Account.objects.present().select_related("parent", "organization")
        if self.account_pks is not None:
            queryset = queryset.filter(pk__in=list(self.account_pks))
        return {a.pk: a for a in queryset}

    @cached_property
    def organization_account_ids(self) -> frozenset[str]:
        """Every AWS account id the organization holds (removed ones too: they were ours)."""
        return frozenset(Account.objects.values_list("account_id", flat=True))

    # Policies ---------------------------------------------------------------------------------

    def facts_for(self, queryset: QuerySet) -> dict[int, Facts]:
        rows = queryset.annotate(text=Cast("document", output_field=TextField())).values_list(
            "id", "account__account_id", "text"
        )
        return ANALYZER.facts(rows)

    @cached_property
    def held_policies(self) -> list[HeldPolicy]:
        """Customer managed and inline policies of scope accounts that some present principal holds."""
        held = Entitlement.objects.present().filter(policy_id=OuterRef("pk"))
        queryset = self.scoped(Policy.objects.present().filter(kind__in=CUSTOMER_AUTHORED)).filter(Exists(held))
        rows = list(
            queryset.annotate(text=Cast("document", output_field=TextField())).values_list(
                "id", "arn", "name", "kind", "account_id", "principal_id", "account__account_id", "text"
            )
        )
        facts = ANALYZER.facts((row[0], row[6], row[7]) for row in rows)
        return [HeldPolicy(*row[:6], facts=facts[row[0]]) for row in rows if row[0] in facts]

    @cached_property
    def aws_managed_facts(self) -> dict[int, Facts]:
        return self.facts_for(Policy.objects.present().filter(kind=PolicyKind.AWS_MANAGED))

    # Service control policies -------------------------------------------------------------------

    @cached_property
    def _scp_tree(self) -> tuple[dict[str, list[int]], dict[int, list[int]], dict[int, Any]]:
        units: dict[str, list[int]] = defaultdict(list)
        accounts: dict[int, list[int]] = defaultdict(list)
        for unit_ou, account_pk, policy_pk in ScpAttachment.objects.present().values_list(
            "unit__ou_id", "account_id", "policy_id"
        ):
            if unit_ou:
                units[unit_ou].append(policy_pk)
            elif account_pk:
                accounts[account_pk].append(policy_pk)
        policies: dict[int, Any] = {}
        for pk, name, document in Policy.objects.filter(kind=PolicyKind.SCP).values_list("pk", "name", "document"):
            policies[pk] = (name, document)
        return units, accounts, policies

    def scp_levels(self, account: Account) -> list[list[tuple[int, str, Any]]]:
        """The SCPs in effect on the account, level by level from the root: [(pk, name, document)]."""
        units, by_account, policies = self._scp_tree
        levels = []
        path = account.parent.path if account.parent_id and account.parent else ""
        for ou_id in [part for part in path.split("/") if part]:
            levels.append([(pk, *policies[pk]) for pk in units.get(ou_id, ()) if pk in policies])
        levels.append([(pk, *policies[pk]) for pk in by_account.get(account.pk, ()) if pk in policies])
        return levels

    _parsed_scps: dict[tuple[int, str], Any] = field(default_factory=dict)

    def parsed_scp_levels(self, account: Account) -> tuple[list[list[Any]], str]:
        """SCP levels as parsed policies normalized to the account (see analysis.py), and an error
        naming an SCP that cannot be parsed ("" when all can)."""
        parsed: list[list[Any]] = []
        for level in self.scp_levels(account):
            if not level:
                # AWS keeps at least one SCP on every node while SCPs are enabled: a node with none
                # means SCPs are not in use here (or not synced), so it restricts nothing.
                continue
            current = []
            for pk, name, document in level:
                key = (pk, account.account_id)
                policy = self._parsed_scps.get(key)
                if policy is None:
                    try:
                        text = normalize(document if isinstance(document, str) else _json(document), account.account_id)
                        policy = parse_policy(text, name=name)
                    except PolicyError as exc:
                        return [], f"SCP {name} cannot be parsed: {exc}"
                    self._parsed_scps[key] = policy
                current.append(policy)
            parsed.append(current)
        return parsed, ""


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
