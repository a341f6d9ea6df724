"""deploy/'s CloudFormation roles as policies the portal's evaluator can judge.

`load(name, **parameters)` reads a template (cfn-lint's decoder, so `!Ref`/`!Sub`/`!If` arrive in
their long form), resolves the intrinsic functions the templates use with the given parameters and
returns each role's trust policy and permission policies, parsed by `governance.policy`.
`check(records)` evaluates the AWS calls the suite recorded (tests/fixtures/aws_calls.py) against the
role that made each one, and names every call a role would refuse and, for a whole-suite run, every
action a role grants that no call used.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from governance.policy import Outcome, Policy, PolicyType, Request, evaluate, parse_policy
from tests.fixtures.aws import EXTERNAL_ID

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ACCOUNT = "111111111111"  # the account a template is deployed in, for the evaluation
PORTAL_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/GovernancePortalRole"
PORTAL_SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/GovernancePortalRole/portal"

_NO_VALUE = object()

# Which template's role makes the calls of each principal the recorder tells apart.
TEMPLATES = {"portal": "management-role.yaml", "member": "member-read-role.yaml", "writer": "writer-role.yaml"}


class TemplateError(ValueError):
    pass


@dataclass
class Role:
    logical_id: str
    trust: Policy
    policies: list[Policy]
    raw_policies: list[dict[str, Any]] = field(default_factory=list)

    def allowed_actions(self) -> set[str]:
        """Every action an Allow statement names (the templates name actions, never patterns)."""
        actions = set()
        for document in self.raw_policies:
            for statement in _statements(document):
                if statement.get("Effect") == "Allow":
                    actions.update(_as_list(statement.get("Action", [])))
        return actions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(document.get("Statement", []))


def default_parameters(name: str) -> dict[str, str]:
    return {
        "management-role.yaml": {"TrustedService": "ecs-tasks.amazonaws.com"},
        "member-read-role.yaml": {"PortalRoleArn": PORTAL_ROLE_ARN, "ExternalId": EXTERNAL_ID},
        "writer-role.yaml": {"PortalRoleArn": PORTAL_ROLE_ARN},
    }[name]


def template(name: str) -> dict[str, Any]:
    decoded, problems = decode_str((DEPLOY / name).read_text())
    if problems or decoded is None:
        raise TemplateError(f"{name}: {problems}")
    return decoded


@cache
def load(name: str, **parameters: str) -> dict[str, Role]:
    """The template's roles, resolved with `parameters` over its defaults."""
    body = template(name)
    values = {k: str(v["Default"]) for k, v in body.get("Parameters", {}).items() if "Default" in v}
    values.update(default_parameters(name))
    values.update(parameters)
    missing = set(body.get("Parameters", {})) - set(values)
    if missing:
        raise TemplateError(f"{name}: no value for parameters {sorted(missing)}")
    resolver = _Resolver(values, body.get("Conditions", {}))
    roles = {}
    for logical_id, resource in body.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        props = resolver.resolve(resource["Properties"])
        if props.get("ManagedPolicyArns") or props.get("PermissionsBoundary"):
            raise TemplateError(f"{name}: {logical_id} must hold its rights in inline policies only")
        raw = [p["PolicyDocument"] for p in props.get("Policies", [])]
        roles[logical_id] = Role(
            logical_id=logical_id,
            trust=parse_policy(
                props["AssumeRolePolicyDocument"], name=f"{name}:{logical_id} trust", kind=PolicyType.TRUST
            ),
            policies=[parse_policy(doc, name=f"{name}:{logical_id}/{i}") for i, doc in enumerate(raw)],
            raw_policies=raw,
        )
    return roles


def role(name: str, **parameters: str) -> Role:
    roles = load(name, **parameters)
    if len(roles) != 1:
        raise TemplateError(f"{name} must define exactly one IAM role, not {len(roles)}")
    return next(iter(roles.values()))


class _Resolver:
    def __init__(self, values: dict[str, str], conditions: dict[str, Any]) -> None:
        self.values = {**values, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::Region": "us-east-1"}
        self.conditions = conditions

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return _NO_VALUE
                if arg not in self.values:
                    raise TemplateError(f"Ref to {arg!r}, which is not a parameter")
                return self.values[arg]
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                return re.sub(r"\$\{([\w:]+)\}", lambda m: self.values[m.group(1)], text)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                return arg[0].join(self.resolve(arg[1]))
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not resolved by tests/deploy/roles.py")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}


def check_call(principal: str, action: str, resource: str, context: Iterable[tuple[str, str]]) -> str:
    """Why the template of `principal` would refuse this call ("" when it allows it)."""
    context = dict(context)
    grants = role(TEMPLATES[principal])
    session = {
        "portal": PORTAL_SESSION_ARN,
        "member": f"arn:aws:sts::{ACCOUNT}:assumed-role/GovernancePortalReadRole/governance-portal-sync",
        "writer": f"arn:aws:sts::{ACCOUNT}:assumed-role/GovernancePortalWriterRole/someone",
    }[principal]
    caller_context = {"aws:sourceidentity": "someone"} if principal == "writer" else {}
    if principal == "portal" and action in _TRUST_ACTIONS:
        # Assuming a role in another account needs the caller's policy and the role's trust policy.
        return _check_trust(action, resource, context)
    request = Request(principal=session, action=action, resource=resource, context=caller_context)
    decision = evaluate(request, identity_policies=grants.policies)
    if decision.outcome is not Outcome.ALLOW:
        return f"{TEMPLATES[principal]} does not allow {action} on {resource} ({decision.reason})"
    return ""


_TRUST_ACTIONS = frozenset({"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"})


def _check_trust(action: str, role_arn: str, context: dict[str, str]) -> str:
    from django.conf import settings

    role_name = role_arn.rsplit("/", 1)[-1]
    if role_name == settings.AWS_MEMBER_ROLE_NAME:
        name = TEMPLATES["member"]
    elif role_name == settings.AWS_WRITER_ROLE_NAME:
        name = TEMPLATES["writer"]
    else:
        return f"the portal assumes {role_arn}, which no template in deploy/ creates"
    # The member role is deployed with EXTERNAL_ID, which the test settings give the portal too.
    trust = role(name).trust
    request_context: dict[str, Any] = dict(context)
    if "sts:sourceidentity" in context:
        request_context["sts:sourceidentity"] = "someone"
    tag_keys = [k.split("/", 1)[1] for k in context if k.startswith("aws:requesttag/")]
    if tag_keys:
        request_context["aws:tagkeys"] = tag_keys
    request = Request(
        principal=PORTAL_SESSION_ARN,
        principal_arn=PORTAL_ROLE_ARN,
        action=action,
        resource=role_arn,
        context=request_context,
    )
    decision = evaluate(request, resource_policy=trust, identity_policies=role(TEMPLATES["portal"]).policies)
    if decision.outcome is not Outcome.ALLOW:
        return f"the trust policy of {name} refuses {action} as the portal makes it ({decision.reason})"
    return ""


def check(records: Iterable[tuple[str, str, str, tuple[tuple[str, str], ...]]], *, whole_suite: bool) -> list[str]:
    """Every problem with deploy/'s roles given the calls the portal made (see the module docstring)."""
    problems = []
    used: dict[str, set[str]] = {p: set() for p in TEMPLATES}
    for principal, action, resource, context in sorted(records):
        used[principal].add(action)
        reason = check_call(principal, action, resource, context)
        if reason:
            problems.append(reason)
    if whole_suite:
        waiting = pending_actions()
        for principal, name in TEMPLATES.items():
            tolerated = (
                waiting.get(principal, set())
                | NOT_REACHED_BY_SUITE.get(principal, set())
                | EMULATOR_LACKS.get(principal, set())
            )
            for action in sorted(role(name).allowed_actions() - used[principal] - tolerated):
                problems.append(f"{name} grants {action}, which the portal never called in the whole suite")
    return problems


# Reads of APIs the emulator lacks (governance/aws/readers/availability.py). Their tests stub AWS with
# botocore's Stubber, which answers before botocore's call hooks, so the recorder never sees them;
# against the emulator only the first call of each reader is made (and answered "not available").
_SIGNAL_READS = {
    "cloudtrail:LookupEvents",
    "config:DescribeComplianceByConfigRule",
    "config:DescribeConfigRules",
    "config:DescribeConformancePacks",
    "config:DescribeConformancePackCompliance",
    "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails",
}
EMULATOR_LACKS = {
    "portal": {
        "access-analyzer:GetFinding",
        "access-analyzer:ListAnalyzers",
        "access-analyzer:ListFindings",
        "access-analyzer:ValidatePolicy",
        *_SIGNAL_READS,
    },
    "member": _SIGNAL_READS,
}

# The writes the writer role exists for (the features that make them arrive one by one): such a grant is
# tolerated unused while no code under governance/ names its operation yet; once code does, the whole
# suite must make the call (an untested write is a problem too).
EXPECTED_WRITES = {
    "writer": {
        "organizations:CreatePolicy",
        "organizations:UpdatePolicy",
        "organizations:DeletePolicy",
        "organizations:AttachPolicy",
        "organizations:DetachPolicy",
        "sso:CreateAccountAssignment",
        "sso:DeleteAccountAssignment",
        "iam:DetachUserPolicy",
        "iam:DetachRolePolicy",
        "iam:DeleteUserPolicy",
        "iam:DeleteRolePolicy",
        "iam:RemoveUserFromGroup",
        "iam:UpdateAccessKey",
    }
}


# Writes the portal's code makes that the suite does not drive through the emulator yet, each with the
# reason. Empty now: of the five a whole-suite run found on 2026-12-02, tests/reviews/test_remediation.py
# reaches two, tests/scp/test_changes.py SCP creation, and the JIT status polls moved to the management
# role, where tests/jit/test_lifecycle.py reaches them. A grant here would still be checked against
# every call the suite does make.
NOT_REACHED_BY_SUITE: dict[str, set[str]] = {}


def pending_actions() -> dict[str, set[str]]:
    """EXPECTED_WRITES whose operation no code of the portal calls yet, by principal."""
    called = _portal_method_calls()
    waiting: dict[str, set[str]] = {}
    for principal, actions in EXPECTED_WRITES.items():
        for action in actions:
            operation = re.sub(r"(?<!^)(?=[A-Z])", "_", action.split(":", 1)[1]).lower()
            if operation not in called:
                waiting.setdefault(principal, set()).add(action)
    return waiting


@cache
def _portal_method_calls() -> frozenset[str]:
    """Names of the methods the portal's code calls (`x.update_policy(...)`), docstrings aside."""
    root = DEPLOY.parent / "governance"
    skipped = (root / "aws" / "demo", root / "aws" / "emulator.py")
    names = set()
    for path in root.rglob("*.py"):
        if any(path == s or s in path.parents for s in skipped) or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return frozenset(names)
