"""Which policies hand out administrator power, decided once per document at ingest.

A policy grants *full* administrator power when one of its Allow statements allows every action
(`*` or `*:*`) on every resource (`*`), and *IAM* administrator power when it allows every IAM
action (`iam:*`) on every resource: whoever holds it can attach any policy to themselves, so it
is administrator power one step removed. Conditions are not weighed (a condition that narrows it
is still worth a look), and service control policies are guardrails, not grants, so never count.
The answer is stored on the policy row (`Policy.admin_access`), so "who holds admin power" is one
indexed query over the entitlements.
"""

from __future__ import annotations

from typing import Any

from governance.inventory.models.org import AdminAccess, PolicyKind

_EVERY_ACTION = frozenset({"*", "*:*"})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def admin_access(document: Any, *, kind: str) -> str:
    """The `AdminAccess` value for a policy document of this kind ("" when it grants neither)."""
    if kind == PolicyKind.SCP or not isinstance(document, dict):
        return AdminAccess.NONE
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return AdminAccess.NONE
    found = AdminAccess.NONE
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if "*" not in _strings(statement.get("Resource")):
            continue
        actions = {a.lower() for a in _strings(statement.get("Action"))}
        if actions & _EVERY_ACTION:
            return AdminAccess.FULL
        if "iam:*" in actions:
            found = AdminAccess.IAM
    return found
