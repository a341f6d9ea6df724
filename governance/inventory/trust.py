"""Who can assume a role, read from its trust policy, with principals outside the organization flagged.

A trust policy's Allow statements for `sts:AssumeRole*` name who may assume the role:
AWS principals (an account, a role or user ARN, or `*`), AWS services, and federated identity
providers (SAML, OIDC). An AWS principal in an account that is not one of the organization's is
*outside*; `*` (with or without conditions) is *anyone*. Conditions are listed by key, because
`sts:ExternalId` or `aws:PrincipalOrgID` change what a wide trust means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):")
_ACCOUNT = re.compile(r"^\d{12}$")


class TrustKind:
    ANYONE = "anyone"
    AWS = "aws"
    SERVICE = "service"
    FEDERATED = "federated"
    OTHER = "other"


@dataclass(frozen=True)
class Trustee:
    kind: str
    value: str
    account_id: str = ""
    outside: bool = False
    conditions: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == TrustKind.ANYONE:
            return "anyone (*)"
        if self.kind == TrustKind.AWS and _ACCOUNT.match(self.value):
            return f"account {self.value}"
        return self.value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _assumes(statement: dict) -> bool:
    actions = [a.lower() for a in _strings(statement.get("Action"))]
    return any(a in ("*", "sts:*") or a.startswith("sts:assumerole") for a in actions)


def trustees(trust_policy: Any, *, organization_accounts: frozenset[str] | set[str]) -> list[Trustee]:
    """Every principal the trust policy lets assume the role, in document order, without repeats."""
    if not isinstance(trust_policy, dict):
        return []
    statements = trust_policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    found: dict[tuple[str, str], Trustee] = {}
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or not _assumes(statement):
            continue
        conditions = tuple(
            sorted({key for block in (statement.get("Condition") or {}).values() if isinstance(block, dict)
                    for key in block})
        )  # fmt: skip
        principal = statement.get("Principal")
        if principal == "*":
            principal = {"AWS": "*"}
        if not isinstance(principal, dict):
            continue
        for key, values in principal.items():
            for value in _strings(values):
                trustee = _trustee(key, value, conditions, organization_accounts)
                found.setdefault((trustee.kind, trustee.value), trustee)
    return list(found.values())


def _trustee(key: str, value: str, conditions: tuple[str, ...], organization_accounts) -> Trustee:
    if key == "AWS":
        if value == "*":
            return Trustee(TrustKind.ANYONE, "*", conditions=conditions)
        match = _ACCOUNT_IN_ARN.match(value)
        account = match.group(1) if match else (value if _ACCOUNT.match(value) else "")
        return Trustee(
            TrustKind.AWS,
            value,
            account_id=account,
            outside=bool(account) and account not in organization_accounts,
            conditions=conditions,
        )
    if key == "Service":
        return Trustee(TrustKind.SERVICE, value, conditions=conditions)
    if key == "Federated":
        return Trustee(TrustKind.FEDERATED, value, conditions=conditions)
    return Trustee(TrustKind.OTHER, f"{key}: {value}", conditions=conditions)


def matches(found: list[Trustee], wanted: str) -> bool:
    """Whether the role's trustees fit the roles list's trust filter ("outside", "anyone", a kind)."""
    if wanted == "outside":
        return any(t.outside or t.kind == TrustKind.ANYONE for t in found)
    return any(t.kind == wanted for t in found)
