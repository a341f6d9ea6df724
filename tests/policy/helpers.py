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


CALLERS_ACCOUNT = "(the caller's account)"


def request(
    action: str = "s3:GetObject",
    resource: str = f"{BUCKET}/file.txt",
    *,
    principal: str = ALICE,
    context: dict[str, Any] | None = None,
    resource_account: str | None = CALLERS_ACCOUNT,
    **extra: Any,
) -> Request:
    """A request at ``NOW``. The tables' buckets (S3 ARNs name no account) are the caller's own unless a case
    says whose they are: ``resource_account=OTHER_ACCOUNT``, or ``None`` for an owner the request does not
    give (the evaluator then decides both ways)."""
    if resource_account is CALLERS_ACCOUNT:
        parts = resource.split(":", 5)
        caller = principal.split(":", 5)
        owns = len(parts) == 6 and not parts[4] and len(caller) == 6 and caller[4]
        resource_account = caller[4] if owns else None
    return Request(
        principal=principal,
        action=action,
        resource=resource,
        context=context or {},
        now=NOW,
        resource_account=resource_account,
        **extra,
    )


# The AWS pages the documented-rule tables cite, one constant per page.
IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
ORGS = "https://docs.aws.amazon.com/organizations/latest/userguide/"
EVALUATION = IAM + "reference_policies_evaluation-logic.html"
DENY_ALLOW = IAM + "reference_policies_evaluation-logic_policy-eval-denyallow.html"
SINGLE_ACCOUNT = IAM + "reference_policies_evaluation-logic_policy-eval-basics.html"
CROSS_ACCOUNT = IAM + "reference_policies_evaluation-logic-cross-account.html"
VARIABLES = IAM + "reference_policies_variables.html"
OPERATORS = IAM + "reference_policies_elements_condition_operators.html"
PRINCIPAL = IAM + "reference_policies_elements_principal.html"
NOT_PRINCIPAL = IAM + "reference_policies_elements_notprincipal.html"
BOUNDARIES = IAM + "access_policies_boundaries.html"
SESSION_POLICIES = IAM + "access_policies.html#policies_session"
ROLE_TERMS = IAM + "id_roles_terms-and-concepts.html"
SERVICE_LINKED = IAM + "using-service-linked-roles.html"
GLOBAL_KEYS = IAM + "reference_policies_condition-keys.html"
SCPS = ORGS + "orgs_manage_policies_scps.html"
SCP_EVALUATION = ORGS + "orgs_manage_policies_scps_evaluation.html"
RCPS = ORGS + "orgs_manage_policies_rcps.html"
RCP_EVALUATION = ORGS + "orgs_manage_policies_rcps_evaluation.html"
RCP_SYNTAX = ORGS + "orgs_manage_policies_rcps_syntax.html"
KMS_KEY_POLICIES = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"
KMS_AWS_MANAGED = "https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key"
KMS_RCPS = "https://docs.aws.amazon.com/kms/latest/developerguide/resource-control-policies.html"
VPC_ENDPOINTS = "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html"
ACCESS_POINTS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-points-policies.html"
RESERVED_ROLES = "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSSSOServiceRolePolicy.html"

OTHER_USER = f"arn:aws:iam::{OTHER_ACCOUNT}:user/carol"
OTHER_SESSION = f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Auditor/audit-run"
TARGET_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Target"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
QUEUE = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs"
OTHER_QUEUE = f"arn:aws:sqs:eu-west-1:{OTHER_ACCOUNT}:jobs"
SLR_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"
SLR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
SSO_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"
SSO_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def rpolicy(*statements: dict[str, Any], name: str = "resource") -> Policy:
    """A resource-based policy (statements need Principal)."""
    return policy(*statements, name=name)


def grant(principal: Any, action: str | list[str] = "*", resource: str | list[str] = "*", **extra: Any) -> dict:
    """An Allow statement of a resource-based policy naming ``principal`` (``not_principal=True``: NotPrincipal)."""
    key = "NotPrincipal" if extra.pop("not_principal", False) else "Principal"
    return {"Effect": "Allow", key: principal, "Action": action, "Resource": resource, **extra}


def refuse(principal: Any, action: str | list[str] = "*", resource: str | list[str] = "*", **extra: Any) -> dict:
    """A Deny statement of a resource-based policy naming ``principal``: :func:`grant` with Effect Deny."""
    return {**grant(principal, action, resource, **extra), "Effect": "Deny"}
