"""Small builders so each table case reads like the AWS documentation example it checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from governance.policy import Policy, Request, parse_policy

V2012 = "2012-10-17"
ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deployer"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/ci-run"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"


def policy(*statements: dict[str, Any], name: str = "p", version: str | None = V2012) -> Policy:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return parse_policy(document, name=name)


def allow(action: str | list[str] = "*", resource: str | list[str] | None = "*", **extra: Any) -> dict[str, Any]:
    return _statement("Allow", action, resource, extra)


def deny(action: str | list[str] = "*", resource: str | list[str] | None = "*", **extra: Any) -> dict[str, Any]:
    return _statement("Deny", action, resource, extra)


def _statement(effect: str, action: Any, resource: Any, extra: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect}
    if "NotAction" not in extra:
        statement["Action"] = action
    if resource is not None and "NotResource" not in extra:
        statement["Resource"] = resource
    statement.update(extra)
    return statement


def request(
    action: str = "s3:GetObject",
    resource: str = f"{BUCKET}/file.txt",
    *,
    principal: str = ALICE,
    context: dict[str, Any] | None = None,
    **extra: Any,
) -> Request:
    return Request(principal=principal, action=action, resource=resource, context=context or {}, now=NOW, **extra)
