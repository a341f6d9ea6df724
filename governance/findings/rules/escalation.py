"""Privilege escalation and unbounded delegated administrators, decided by the policy evaluator.

For every IAM user and role in scope, the evaluator (`governance.policy`) answers each step of the
published escalation paths (Rhino Security Labs' list, as cloudsplaining and PMapper use it) against
the principal's identity policies, its permissions boundary and the SCPs in effect on its account,
as AWS would decide it. A path is open when every step is allowed.

Only documents that name an escalation-relevant action can change a verdict (`analysis.Facts.
escalation_relevant`), so a principal is judged on those alone, and principals whose relevant
documents, boundary and SCPs are the same (as they are for most of an organization) share one
evaluation. Principals that already allow "*" on "*" without a boundary are administrators already
(policy.admin_star reports them); escalation is about reaching more than one has.

Each step is a question over every resource of its kind in the principal's account (`user/*`,
`role/*`, `function:*`, or `*`), answered by the policy engine's pattern questions
(`governance.policy.questions`): the step is allowed when some region of those resources is allowed,
so a grant on `user/*`, on `user/admins/*` or on one named role opens the path (the evidence says
whether it is all or some of them, and which Resource patterns), while a self-service grant on
`user/${aws:username}` does not (the region that is only the caller itself does not count). Steps
that act on the same thing (attach a policy to a role, then assume that role; create a function, then
invoke it) must be allowed on one common resource. The caller is evaluated as a neutral principal of
the same kind, so conditions on the caller's own tags are not assumed to hold. A document or SCP that
cannot be parsed cannot be judged: the principal is reported (fail closed) with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from governance.findings.analysis import PLACEHOLDER_ACCOUNT, Facts
from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context
from governance.inventory.models import Entitlement, Policy, Principal, PrincipalKind
from governance.policy import PolicyError, PolicySet, Request
from governance.policy.questions import Coverage, PatternPart, ask

# The resources each step asks about: every one of its kind in the principal's account.
USERS = "arn:aws:iam::{account}:user/*"
ROLES = "arn:aws:iam::{account}:role/*"
GROUPS = "arn:aws:iam::{account}:group/*"
POLICIES = "arn:aws:iam::{account}:policy/*"
FUNCTIONS = "arn:aws:lambda:{region}:{account}:function:*"
ANY = "*"
# Resource patterns shown per step in evidence, at most.
SHOWN_PATTERNS = 5
CALLERS = {
    PrincipalKind.IAM_USER: "arn:aws:iam::{account}:user/escalation-probe-caller",
    PrincipalKind.IAM_ROLE: "arn:aws:iam::{account}:role/escalation-probe-caller",
}
CHUNK = 5000


@dataclass(frozen=True)
class Step:
    action: str
    resource: str = ANY
    passed_to: str = ""  # iam:PassedToService, for iam:PassRole
    # Steps of one path with the same target act on the same resource (the role attached to and then
    # assumed, the function created and then invoked).
    target: str = ""


def _pass(service: str) -> Step:
    return Step("iam:PassRole", ROLES, passed_to=f"{service}.amazonaws.com")


@dataclass(frozen=True)
class EscalationPath:
    id: str
    title: str
    steps: tuple[Step, ...]


PATHS = (
    EscalationPath(
        "CreatePolicyVersion",
        "Create a new version of a managed policy it holds",
        (Step("iam:CreatePolicyVersion", POLICIES),),
    ),
    EscalationPath(
        "SetDefaultPolicyVersion",
        "Switch a managed policy to an older, broader version",
        (Step("iam:SetDefaultPolicyVersion", POLICIES),),
    ),
    EscalationPath("CreateAccessKey", "Create access keys for another user", (Step("iam:CreateAccessKey", USERS),)),
    EscalationPath(
        "CreateLoginProfile", "Give another user a console password", (Step("iam:CreateLoginProfile", USERS),)
    ),
    EscalationPath(
        "UpdateLoginProfile", "Change another user's console password", (Step("iam:UpdateLoginProfile", USERS),)
    ),
    EscalationPath("AttachUserPolicy", "Attach any managed policy to a user", (Step("iam:AttachUserPolicy", USERS),)),
    EscalationPath(
        "AttachGroupPolicy", "Attach any managed policy to a group", (Step("iam:AttachGroupPolicy", GROUPS),)
    ),
    EscalationPath(
        "AttachRolePolicy",
        "Attach any managed policy to a role it can assume",
        (Step("iam:AttachRolePolicy", ROLES, target="role"), Step("sts:AssumeRole", ROLES, target="role")),
    ),
    EscalationPath("PutUserPolicy", "Write an inline policy on a user", (Step("iam:PutUserPolicy", USERS),)),
    EscalationPath("PutGroupPolicy", "Write an inline policy on a group", (Step("iam:PutGroupPolicy", GROUPS),)),
    EscalationPath(
        "PutRolePolicy",
        "Write an inline policy on a role it can assume",
        (Step("iam:PutRolePolicy", ROLES, target="role"), Step("sts:AssumeRole", ROLES, target="role")),
    ),
    EscalationPath("AddUserToGroup", "Add a user to any group", (Step("iam:AddUserToGroup", GROUPS),)),
    EscalationPath(
        "UpdateAssumeRolePolicy",
        "Rewrite a role's trust policy, then assume it",
        (Step("iam:UpdateAssumeRolePolicy", ROLES, target="role"), Step("sts:AssumeRole", ROLES, target="role")),
    ),
    EscalationPath("PassRoleToEC2", "Pass a role to a new EC2 instance", (_pass("ec2"), Step("ec2:RunInstances"))),
    EscalationPath(
        "PassRoleToLambdaInvoke",
        "Pass a role to a new Lambda function and invoke it",
        (
            _pass("lambda"),
            Step("lambda:CreateFunction", FUNCTIONS, target="function"),
            Step("lambda:InvokeFunction", FUNCTIONS, target="function"),
        ),
    ),
    EscalationPath(
        "PassRoleToLambdaEventSource",
        "Pass a role to a new Lambda function triggered by an event source",
        (_pass("lambda"), Step("lambda:CreateFunction", FUNCTIONS), Step("lambda:CreateEventSourceMapping")),
    ),
    EscalationPath(
        "UpdateFunctionCode",
        "Replace the code of an existing Lambda function (and run as its role)",
        (Step("lambda:UpdateFunctionCode", FUNCTIONS),),
    ),
    EscalationPath(
        "PassRoleToGlue",
        "Pass a role to a new Glue development endpoint",
        (_pass("glue"), Step("glue:CreateDevEndpoint")),
    ),
    EscalationPath(
        "UpdateGlueDevEndpoint", "Take over an existing Glue development endpoint", (Step("glue:UpdateDevEndpoint"),)
    ),
    EscalationPath(
        "PassRoleToCloudFormation",
        "Pass a role to a new CloudFormation stack",
        (_pass("cloudformation"), Step("cloudformation:CreateStack")),
    ),
    EscalationPath(
        "PassRoleToDataPipeline",
        "Pass a role to a new Data Pipeline",
        (_pass("datapipeline"), Step("datapipeline:CreatePipeline"), Step("datapipeline:PutPipelineDefinition")),
    ),
    EscalationPath(
        "PassRoleToSageMaker",
        "Pass a role to a new SageMaker notebook and open it",
        (
            _pass("sagemaker"),
            Step("sagemaker:CreateNotebookInstance"),
            Step("sagemaker:CreatePresignedNotebookInstanceUrl"),
        ),
    ),
    EscalationPath(
        "PassRoleToECS",
        "Pass a role to a new ECS task",
        (_pass("ecs-tasks"), Step("ecs:RegisterTaskDefinition"), Step("ecs:RunTask")),
    ),
    EscalationPath(
        "PassRoleToCodeBuild",
        "Pass a role to a new CodeBuild project and start it",
        (_pass("codebuild"), Step("codebuild:CreateProject"), Step("codebuild:StartBuild")),
    ),
)

# Creating IAM principals or changing what they may do: delegated to anyone, it needs a boundary.
DELEGATION = (
    Step("iam:CreateUser", USERS),
    Step("iam:CreateRole", ROLES),
    Step("iam:AttachUserPolicy", USERS),
    Step("iam:AttachRolePolicy", ROLES),
    Step("iam:AttachGroupPolicy", GROUPS),
    Step("iam:PutUserPolicy", USERS),
    Step("iam:PutRolePolicy", ROLES),
    Step("iam:PutGroupPolicy", GROUPS),
    Step("iam:AddUserToGroup", GROUPS),
    Step("iam:UpdateAssumeRolePolicy", ROLES),
    Step("iam:CreatePolicyVersion", POLICIES),
    Step("iam:SetDefaultPolicyVersion", POLICIES),
    Step("iam:PutUserPermissionsBoundary", USERS),
    Step("iam:PutRolePermissionsBoundary", ROLES),
    Step("iam:DeleteUserPermissionsBoundary", USERS),
    Step("iam:DeleteRolePermissionsBoundary", ROLES),
)


@dataclass
class Verdict:
    """What one signature (relevant documents + boundary + SCPs) can do."""

    error: str
    paths: list[dict[str, Any]]
    delegation: list[dict[str, Any]]


@dataclass
class Candidate:
    principal: dict[str, Any]
    policies: list[tuple[int, Facts]]
    boundary: Facts | None
    verdict: Verdict | None = None
    # Document key -> this principal's own policy ARN, to name deciding statements in evidence.
    names: dict[str, str] = field(default_factory=dict)


def _region() -> str:
    return settings.AWS_REGION


def _caller(kind: str) -> str:
    return CALLERS[kind].format(account=PLACEHOLDER_ACCOUNT)


def _request(step: Step, kind: str, now, resource: str | None = None) -> Request:
    context: dict[str, str] = {"aws:RequestedRegion": _region()}
    if step.passed_to:
        context["iam:PassedToService"] = step.passed_to
    return Request(
        principal=_caller(kind),
        action=step.action,
        resource=resource or step.resource.format(account=PLACEHOLDER_ACCOUNT, region=_region()),
        context=context,
        now=now,
    )


@dataclass
class StepAnswer:
    """Where one step is allowed: the allowed regions (the caller itself left out) and their coverage."""

    coverage: Coverage
    parts: tuple[PatternPart, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.parts)


def _allowed_by(parts: tuple[PatternPart, ...], names: dict[str, str]) -> list[dict[str, str]]:
    refs = dict.fromkeys(ref for part in parts for ref in part.decision.statements)
    return [
        {
            "type": ref.policy_type.value,
            "policy": names.get(ref.policy, ref.policy),
            "statement": ref.sid or f"#{ref.index}",
        }
        for ref in refs
    ]


def _allowed_on(answer: StepAnswer) -> list[str]:
    """The Resource patterns that the allowed regions fall in (the most specific first), for evidence."""
    if answer.coverage is Coverage.ALL:
        return []
    patterns = dict.fromkeys(
        pattern.replace(PLACEHOLDER_ACCOUNT, "<account>")
        for part in answer.parts
        for pattern in part.matches
        if pattern != "*"
    )
    return sorted(patterns, key=lambda p: (-len(p), p))[:SHOWN_PATTERNS]


def _step_evidence(step: Step, answer: StepAnswer, names: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "action": step.action,
        "resource": step.resource.format(account="<account>", region=_region()),
        "coverage": str(answer.coverage),
    }
    shown = _allowed_on(answer)
    if shown:
        found["allowed_on"] = shown
    found["allowed_by"] = _allowed_by(answer.parts, names)
    return found


# Assuming a role also needs the role's trust policy: the escalation step assumes a role of the
# account that trusts the account (the default for roles made in the console), so the caller's own
# policies, boundary and SCPs decide, as AWS decides for such a role.
ACCOUNT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _judge(
    policy_set: PolicySet, assume_set: PolicySet, kind: str, now, names: dict[str, str]
) -> tuple[list[dict], list[dict]]:
    cache: dict[Step, StepAnswer] = {}
    caller = _caller(kind)

    def chosen(step: Step) -> PolicySet:
        return assume_set if step.action == "sts:AssumeRole" else policy_set

    def decide(step: Step) -> StepAnswer:
        if step not in cache:
            answer = ask(chosen(step), _request(step, kind, now))
            # A region that is only the caller itself (a self-service grant on user/${aws:username}) is
            # no escalation: it is the one resource whose Resource pattern names the caller literally.
            parts = tuple(part for part in answer.allowed_parts if caller not in part.matches)
            coverage = answer.coverage if len(parts) == len(answer.allowed_parts) else Coverage.SOME
            cache[step] = StepAnswer(coverage if parts else Coverage.NONE, parts)
        return cache[step]

    def same_target(steps: tuple[Step, ...]) -> bool:
        """Whether steps that act on one target are all allowed on some one resource: every allowed
        region's example of each is tried against the others (exact for each example)."""
        examples = dict.fromkeys(part.example for step in steps for part in decide(step).parts)
        return any(
            all(chosen(step).evaluate(_request(step, kind, now, resource=example)).allowed for step in steps)
            for example in examples
            if example != caller
        )

    paths = []
    for path in PATHS:
        answers = [decide(step) for step in path.steps]
        if not all(answer.allowed for answer in answers):
            continue
        targets: dict[str, tuple[Step, ...]] = {}
        for step in path.steps:
            if step.target:
                targets[step.target] = (*targets.get(step.target, ()), step)
        if not all(same_target(steps) for steps in targets.values() if len(steps) > 1):
            continue
        paths.append(
            {
                "id": path.id,
                "title": path.title,
                "steps": [_step_evidence(s, a, names) for s, a in zip(path.steps, answers, strict=True)],
            }
        )
    delegation = [
        {
            "action": step.action,
            "coverage": str(decide(step).coverage),
            **({"allowed_on": _allowed_on(decide(step))} if _allowed_on(decide(step)) else {}),
            "allowed_by": _allowed_by(decide(step).parts, names),
        }
        for step in DELEGATION
        if decide(step).allowed
    ]
    return paths, delegation


def analyze(ctx: Context) -> list[Candidate]:
    """Every user and role in scope that holds an escalation-relevant document, with its verdict."""
    if "escalation" in ctx.memo:
        return ctx.memo["escalation"]
    relevant: dict[int, Facts] = {p.id: p.facts for p in ctx.held_policies if p.facts.escalation_relevant}
    relevant.update({pk: f for pk, f in ctx.aws_managed_facts.items() if f.escalation_relevant})
    held: dict[int, list[int]] = defaultdict(list)
    ids = list(relevant)
    for start in range(0, len(ids), CHUNK):
        rows = (
            ctx.scoped(Entitlement.objects.present())
            .filter(
                policy_id__in=ids[start : start + CHUNK],
                principal__kind__in=[PrincipalKind.IAM_USER, PrincipalKind.IAM_ROLE],
            )
            .values_list("principal_id", "policy_id")
        )
        for principal_id, policy_id in rows:
            if policy_id not in held[principal_id]:
                held[principal_id].append(policy_id)
    principals = []
    pks = list(held)
    for start in range(0, len(pks), CHUNK):
        principals += list(
            Principal.objects.filter(pk__in=pks[start : start + CHUNK]).values(
                "id", "arn", "name", "kind", "account_id", "permissions_boundary_id"
            )
        )
    boundary_ids = {p["permissions_boundary_id"] for p in principals if p["permissions_boundary_id"]}
    boundaries = ctx.facts_for(Policy.objects.filter(pk__in=list(boundary_ids)))

    candidates: list[Candidate] = []
    verdicts: dict[tuple, Verdict] = {}
    for principal in sorted(principals, key=lambda p: p["id"]):
        account = ctx.accounts.get(principal["account_id"])
        if account is None:
            continue
        boundary_pk = principal["permissions_boundary_id"]
        boundary = boundaries.get(boundary_pk) if boundary_pk else None
        policies = [(pk, relevant[pk]) for pk in sorted(held[principal["id"]])]
        if boundary_pk is None and any(f.grants_admin for _, f in policies):
            continue
        candidate = Candidate(principal=principal, policies=policies, boundary=boundary)
        levels, scp_error = ctx.parsed_scp_levels(account)
        management = account.is_management
        scp_key = "management" if management else tuple(tuple(id(p) for p in level) for level in levels)
        signature = (
            principal["kind"],
            tuple(sorted({f.key for _, f in policies})),
            boundary.key if boundary else (boundary_pk or None),
            scp_key,
        )
        verdict = verdicts.get(signature)
        if verdict is None:
            verdict = verdicts[signature] = _verdict(ctx, candidate, levels, scp_error, management, boundary_pk)
        candidate.verdict = verdict
        candidates.append(candidate)
    used = sorted({pk for c in candidates for pk, _ in c.policies} | boundary_ids)
    arns: dict[int, str] = {}
    for start in range(0, len(used), CHUNK):
        arns.update(Policy.objects.filter(pk__in=used[start : start + CHUNK]).values_list("pk", "arn"))
    for candidate in candidates:
        candidate.names = {facts.key: arns.get(pk, str(pk)) for pk, facts in candidate.policies}
        boundary_pk = candidate.principal["permissions_boundary_id"]
        if candidate.boundary is not None and boundary_pk:
            candidate.names[candidate.boundary.key] = arns.get(boundary_pk, str(boundary_pk))
    ctx.memo["escalation"] = candidates
    return candidates


def _verdict(ctx: Context, candidate: Candidate, levels, scp_error: str, management: bool, boundary_pk) -> Verdict:
    broken = [f for _, f in candidate.policies if f.policy is None]
    if broken:
        return Verdict(error=f"a policy cannot be parsed: {broken[0].error}", paths=[], delegation=[])
    if scp_error:
        return Verdict(error=scp_error, paths=[], delegation=[])
    if boundary_pk and (candidate.boundary is None or candidate.boundary.policy is None):
        return Verdict(error="the permissions boundary's document is not available", paths=[], delegation=[])
    layers = {
        "identity_policies": [f.policy for _, f in candidate.policies],
        "permissions_boundary": candidate.boundary.policy if candidate.boundary else None,
        "scps": levels,
        "management_account": management,
    }
    policy_set = PolicySet(**layers)
    assume_set = PolicySet(**layers, resource_policy=ACCOUNT_TRUST)
    try:
        paths, delegation = _judge(policy_set, assume_set, candidate.principal["kind"], ctx.now, {})
    except PolicyError as exc:
        # The engine could not split the resources (a pathological pattern): not judged, reported.
        return Verdict(error=f"the policy engine cannot decide: {exc}", paths=[], delegation=[])
    return Verdict(error="", paths=paths, delegation=delegation)


def _name(item: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A verdict's statement references named with this principal's own policy ARNs."""
    steps = item.get("steps")
    if steps is not None:
        return {**item, "steps": [_name(step, names) for step in steps]}
    return {
        **item,
        "allowed_by": [{**ref, "policy": names.get(ref["policy"], ref["policy"])} for ref in item["allowed_by"]],
    }


def _hit(candidate: Candidate, message: str, evidence: dict) -> Hit:
    p = candidate.principal
    return Hit(
        resource_type=ResourceType.PRINCIPAL,
        resource_arn=p["arn"],
        resource_name=p["name"],
        message=message,
        evidence=evidence,
        account_id=p["account_id"],
        principal_id=p["id"],
    )


ESCALATION_REFERENCES = (
    "https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/",
    "https://github.com/salesforce/cloudsplaining",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
)


@rule(
    id="policy.privilege_escalation",
    title="A principal can give itself more permissions than it has",
    severity=Severity.HIGH,
    rationale="A principal that can rewrite policies, create credentials for others, or pass a more powerful "
    "role to code it runs is, in effect, as powerful as the most powerful thing it can reach.",
    remediation=Remediation(
        console="Remove the escalating actions from the principal's policies, or limit their resources (e.g. "
        "iam:PassRole to the one role a workload needs, with an iam:PassedToService condition), or cap the "
        "principal with a permissions boundary.",
        cli="aws iam create-policy-version --policy-arn ARN --policy-document file://scoped.json --set-as-default",
    ),
    references=ESCALATION_REFERENCES,
    organization_inputs=True,
)
def privilege_escalation(ctx: Context) -> Iterator[Hit]:
    for candidate in analyze(ctx):
        verdict = candidate.verdict
        assert verdict is not None
        names = candidate.names
        if verdict.error:
            yield _hit(
                candidate, f"{candidate.principal['name']} cannot be judged: {verdict.error}.", {"error": verdict.error}
            )
        elif verdict.paths:
            ids = [path["id"] for path in verdict.paths]
            yield _hit(
                candidate,
                f"{candidate.principal['name']} can escalate its privileges ({', '.join(ids)}).",
                {"paths": [_name(path, names) for path in verdict.paths]},
            )


@rule(
    id="boundary.delegated_admin_missing",
    title="A principal that can create or change IAM principals has no permissions boundary",
    severity=Severity.MEDIUM,
    rationale="Whoever may create roles and users or change their policies is delegated IAM administration; a "
    "permissions boundary caps what they can hand out, so the delegation cannot exceed its purpose.",
    remediation=Remediation(
        console="IAM > the user or role > Permissions boundary > Set boundary; and require the same boundary on "
        "what it creates with an iam:PermissionsBoundary condition.",
        cli="aws iam put-role-permissions-boundary --role-name ROLE --permissions-boundary ARN  |  "
        "aws iam put-user-permissions-boundary --user-name USER --permissions-boundary ARN",
    ),
    references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html",),
    organization_inputs=True,
)
def delegated_admin_missing(ctx: Context) -> Iterator[Hit]:
    for candidate in analyze(ctx):
        verdict = candidate.verdict
        assert verdict is not None
        if candidate.principal["permissions_boundary_id"] or verdict.error or not verdict.delegation:
            continue
        names = candidate.names
        actions = [item["action"] for item in verdict.delegation]
        yield _hit(
            candidate,
            f"{candidate.principal['name']} can {', '.join(actions)} and has no permissions boundary.",
            {"actions": [_name(item, names) for item in verdict.delegation]},
        )
