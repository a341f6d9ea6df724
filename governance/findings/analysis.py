"""What a policy document allows, worked out once per distinct document.

Organizations deploy the same documents to many accounts (StackSets, Control Tower, Terraform
modules), differing only in the account id inside their ARNs. A document is therefore keyed by its
text with its own account's id replaced by a placeholder (`normalize`), parsed once, and its facts
(admin statements, whole-service wildcards, unconditioned data access, which escalation-relevant
actions it names) are computed once per key. Evaluations that use these parsed documents use the
same placeholder for the account (`PLACEHOLDER_ACCOUNT`), so the answer is the same as for the
original document in its own account.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from governance.policy import Policy, PolicyError, parse_policy
from governance.policy.document import Effect, Statement

PLACEHOLDER_ACCOUNT = "000000000000"

# Actions a privilege-escalation path or a change to IAM principals needs (see escalation.py); a
# document naming none of them cannot change an escalation verdict, so it is left out of it.
ESCALATION_ACTIONS = (
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PassRole",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateUser",
    "iam:CreateRole",
    "iam:PutUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "sts:AssumeRole",
    "ec2:RunInstances",
    "lambda:CreateFunction",
    "lambda:InvokeFunction",
    "lambda:CreateEventSourceMapping",
    "lambda:UpdateFunctionCode",
    "glue:CreateDevEndpoint",
    "glue:UpdateDevEndpoint",
    "cloudformation:CreateStack",
    "datapipeline:CreatePipeline",
    "datapipeline:PutPipelineDefinition",
    "sagemaker:CreateNotebookInstance",
    "sagemaker:CreatePresignedNotebookInstanceUrl",
    "ecs:RegisterTaskDefinition",
    "ecs:RunTask",
    "codebuild:CreateProject",
    "codebuild:StartBuild",
)
_ESCALATION_LOWER = tuple(a.lower() for a in ESCALATION_ACTIONS)

# Data actions that read or change what an account stores; each could carry a transport, MFA or
# network-origin condition.
SENSITIVE_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "ssm:GetParameter",
    "rds-data:ExecuteStatement",
)
PERIMETER_CONDITION_KEYS = frozenset(
    {
        "aws:securetransport",
        "aws:multifactorauthpresent",
        "aws:multifactorauthage",
        "aws:sourceip",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:resourceorgid",
        "aws:resourceaccount",
        "aws:viaawsservice",
        "aws:calledvia",
    }
)


def normalize(text: str, account_id: str | None) -> str:
    return text.replace(account_id, PLACEHOLDER_ACCOUNT) if account_id else text


def document_key(normalized: str) -> str:
    return blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _covers_any_resource(statement: Statement) -> bool:
    return statement.resources is None or (not statement.not_resource and "*" in statement.resources)


@dataclass
class Facts:
    """What one document allows, as the rules need it; statements as IAM JSON for evidence."""

    key: str
    policy: Policy | None
    error: str = ""
    admin: list[dict[str, Any]] = field(default_factory=list)  # Allow * on *, unconditioned
    iam_admin: list[dict[str, Any]] = field(default_factory=list)  # Allow iam:* on *, unconditioned
    service_wildcards: list[dict[str, Any]] = field(default_factory=list)  # Allow svc:* (or NotAction) on *
    sensitive: list[dict[str, Any]] = field(default_factory=list)  # data actions with no perimeter condition
    escalation_relevant: bool = False

    @property
    def grants_admin(self) -> bool:
        return bool(self.admin)


def analyze(key: str, normalized: str) -> Facts:
    try:
        policy = parse_policy(json.loads(normalized), name=key)
    except (PolicyError, ValueError) as exc:
        return Facts(key=key, policy=None, error=str(exc), escalation_relevant=True)
    facts = Facts(key=key, policy=policy)
    for statement in policy.statements:
        if statement.effect is not Effect.ALLOW:
            continue
        shown = statement.to_json()
        unconditioned = not statement.conditions
        any_resource = _covers_any_resource(statement)
        if not statement.not_action and "*" in statement.actions:
            if any_resource and unconditioned:
                facts.admin.append(shown)
            continue
        if any_resource and unconditioned:
            if statement.not_action:
                facts.service_wildcards.append({"services": ["(all but the NotAction list)"], "statement": shown})
            else:
                whole = sorted({a.partition(":")[0].lower() for a in statement.actions if a.endswith(":*")})
                if "iam" in whole:
                    facts.iam_admin.append(shown)
                if whole:
                    facts.service_wildcards.append({"services": whole, "statement": shown})
        if not any(c.key.lower() in PERIMETER_CONDITION_KEYS for c in statement.conditions):
            allowed = [a for a in SENSITIVE_ACTIONS if statement.matches_action(a.lower())]
            if allowed:
                facts.sensitive.append({"actions": allowed, "statement": shown})
    facts.escalation_relevant = any(any(policy.statements_for(a)) for a in _ESCALATION_LOWER)
    return facts


class Analyzer:
    """Facts per document key, computed once and kept for the process (bounded)."""

    LIMIT = 50_000

    def __init__(self) -> None:
        self._facts: OrderedDict[str, Facts] = OrderedDict()

    def facts(self, rows: Iterable[tuple[int, str | None, str | None]]) -> dict[int, Facts]:
        """(policy id, its account's AWS id or None, document text) -> {policy id: facts}.

        A policy whose document is unknown (None: not available from this endpoint) is left out.
        """
        found: dict[int, Facts] = {}
        for policy_id, account_id, text in rows:
            if text is None or text == "null":
                continue
            normalized = normalize(text, account_id)
            key = document_key(normalized)
            facts = self._facts.get(key)
            if facts is None:
                facts = self._facts[key] = analyze(key, normalized)
                if len(self._facts) > self.LIMIT:
                    self._facts.popitem(last=False)
            found[policy_id] = facts
        return found


ANALYZER = Analyzer()
