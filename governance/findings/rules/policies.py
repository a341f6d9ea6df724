"""Policies: administrator and whole-service grants, unconditioned data access, and parliament's lint."""

from __future__ import annotations

from collections.abc import Iterator

from governance.findings.lint import lint_findings
from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context, HeldPolicy
from governance.inventory.models import Entitlement, EntitlementVia, PolicyKind

LEAST_PRIVILEGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
CONDITIONS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"


def _policy_hit(policy: HeldPolicy, message: str, evidence: dict) -> Hit:
    return Hit(
        resource_type=ResourceType.POLICY,
        resource_arn=policy.arn,
        resource_name=policy.name,
        message=message,
        evidence=evidence,
        account_id=policy.account_id,
        principal_id=policy.principal_id,
        policy_id=policy.id,
    )


def _kind_label(policy: HeldPolicy) -> str:
    return "inline policy" if policy.kind == PolicyKind.INLINE else "customer managed policy"


@rule(
    id="policy.admin_star",
    title='A managed policy that allows "*" on "*" is attached',
    severity=Severity.HIGH,
    rationale="Full administrator rights leave nothing for least privilege to limit; grant them to few, "
    "audited roles, never to everyday identities.",
    remediation=Remediation(
        console="IAM > Policies: replace the policy with one that lists the services and resources needed "
        "(IAM Access Analyzer can generate one from CloudTrail), then detach the administrator policy.",
        cli="aws iam detach-user-policy|detach-role-policy|detach-group-policy --policy-arn ARN ...",
    ),
    references=(
        LEAST_PRIVILEGE,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-policy-generation.html",
    ),
)
def admin_star(ctx: Context) -> Iterator[Hit]:
    shown: dict[str, dict] = {}  # one evidence object per document (see services._EvidenceText)
    for policy in ctx.held_policies:
        if policy.kind == PolicyKind.CUSTOMER_MANAGED and policy.facts.admin:
            evidence = shown.get(policy.facts.key)
            if evidence is None:
                evidence = shown[policy.facts.key] = {"statements": policy.facts.admin}
            yield _policy_hit(policy, f'The customer managed policy {policy.name} allows "*" on "*".', evidence)
    # AWS managed administrator policies: the finding is on whoever holds one directly.
    admin_ids = [pk for pk, facts in ctx.aws_managed_facts.items() if facts.admin]
    held = (
        ctx.scoped(Entitlement.objects.present())
        .filter(policy_id__in=admin_ids, via=EntitlementVia.DIRECT)
        .values_list(
            "principal_id",
            "principal__arn",
            "principal__name",
            "account_id",
            "policy_id",
            "policy__arn",
            "policy__name",
        )
    )
    for principal_id, arn, name, account_id, policy_id, policy_arn, policy_name in held:
        yield Hit(
            resource_type=ResourceType.PRINCIPAL,
            resource_arn=arn,
            resource_name=name,
            message=f'{name} has the AWS managed policy {policy_name}, which allows "*" on "*".',
            evidence={"policy_arn": policy_arn, "statements": ctx.aws_managed_facts[policy_id].admin},
            account_id=account_id,
            principal_id=principal_id,
            policy_id=policy_id,
            key=policy_arn,
        )


@rule(
    id="policy.service_wildcard",
    title="A policy grants a whole service on every resource",
    severity=Severity.MEDIUM,
    rationale='"service:*" on "*" grants every present and future action of the service, the destructive and '
    "the administrative ones included.",
    remediation=Remediation(
        console="IAM > Policies > the policy > Edit: list the actions the workload calls and the resources it "
        "touches (Access Analyzer's policy generation lists them from CloudTrail).",
        cli="aws iam create-policy-version --policy-arn ARN --policy-document file://scoped.json --set-as-default",
    ),
    references=(LEAST_PRIVILEGE,),
)
def service_wildcard(ctx: Context) -> Iterator[Hit]:
    for policy in ctx.held_policies:
        if policy.facts.service_wildcards and not policy.facts.admin:
            services = sorted({s for item in policy.facts.service_wildcards for s in item["services"]})
            yield _policy_hit(
                policy,
                f"The {_kind_label(policy)} {policy.name} allows every action of {', '.join(services)} on every "
                "resource.",
                {"statements": [item["statement"] for item in policy.facts.service_wildcards], "services": services},
            )


@rule(
    id="policy.inline_admin",
    title="An inline policy grants administrator rights",
    severity=Severity.HIGH,
    rationale="Inline policies live inside one identity, are invisible in the policy list and cannot be reused or "
    'reviewed as a unit; "*" or "iam:*" in one is administrator access nobody sees.',
    remediation=Remediation(
        console="IAM > the user/role/group > Permissions: remove the inline policy; grant what is needed through a "
        "reviewed managed policy.",
        cli="aws iam delete-user-policy|delete-role-policy|delete-group-policy --policy-name NAME ...",
    ),
    references=(
        LEAST_PRIVILEGE,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html",
    ),
)
def inline_admin(ctx: Context) -> Iterator[Hit]:
    for policy in ctx.held_policies:
        if policy.kind == PolicyKind.INLINE and (policy.facts.admin or policy.facts.iam_admin):
            what = '"*" on "*"' if policy.facts.admin else '"iam:*" on "*"'
            yield _policy_hit(
                policy,
                f"The inline policy {policy.name} allows {what}.",
                {"statements": policy.facts.admin or policy.facts.iam_admin},
            )


@rule(
    id="policy.sensitive_without_condition",
    title="Data access is granted without a transport, MFA or network condition",
    severity=Severity.LOW,
    rationale="Reading secrets, objects and items could be limited to TLS (aws:SecureTransport), MFA sessions "
    "or the organization's networks and principals; without any such condition a leaked credential reads the "
    "data from anywhere.",
    remediation=Remediation(
        console="IAM > Policies > the policy > Edit: add a condition such as aws:SecureTransport = true, "
        "aws:SourceVpce, aws:PrincipalOrgID or aws:MultiFactorAuthPresent to the statement.",
        cli="aws iam create-policy-version --policy-arn ARN --policy-document file://with-conditions.json "
        "--set-as-default",
    ),
    references=(
        CONDITIONS,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-securetransport",
    ),
)
def sensitive_without_condition(ctx: Context) -> Iterator[Hit]:
    shown: dict[str, tuple[list[str], dict]] = {}  # one evidence object per document
    for policy in ctx.held_policies:
        if policy.facts.sensitive and not policy.facts.admin:
            found = shown.get(policy.facts.key)
            if found is None:
                actions = sorted({a for item in policy.facts.sensitive for a in item["actions"]})
                statements = [item["statement"] for item in policy.facts.sensitive]
                found = shown[policy.facts.key] = (actions, {"statements": statements, "actions": actions})
            actions, evidence = found
            yield _policy_hit(
                policy,
                f"The {_kind_label(policy)} {policy.name} allows {', '.join(actions)} without any transport, MFA or "
                "network condition.",
                evidence,
            )


@rule(
    id="policy.lint",
    title="parliament reports a problem in a policy",
    severity=Severity.LOW,
    rationale="Malformed ARNs, actions that do not exist and resources an action cannot take make a policy mean "
    "something else than its author thought.",
    remediation=Remediation(
        console="IAM > Policies > the policy > Edit: fix what the evidence names (IAM Access Analyzer's policy "
        "validation shows the same class of problems).",
        cli="aws accessanalyzer validate-policy --policy-type IDENTITY_POLICY --policy-document file://policy.json",
    ),
    references=(
        "https://github.com/duo-labs/parliament",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-policy-validation.html",
    ),
)
def lint(ctx: Context) -> Iterator[Hit]:
    policies = ctx.held_policies
    results = lint_findings([p.facts for p in policies])
    # What a document's lint shows depends on the document alone: one evidence object per document, so
    # the reconcile encodes parliament's (large) findings once per document, not once per policy.
    shown: dict[str, tuple[str, dict] | None] = {}
    for policy in policies:
        key = policy.facts.key
        if key not in shown:
            found = results.get(key) or []
            if policy.facts.error:
                found = [
                    {"issue": "UNPARSEABLE", "title": "The document cannot be parsed", "detail": policy.facts.error}
                ]
            shown[key] = (
                (", ".join(sorted({item["issue"] for item in found})), {"parliament": found}) if found else None
            )
        entry = shown[key]
        if entry is not None:
            issues, evidence = entry
            yield _policy_hit(
                policy, f"parliament reports {issues} in the {_kind_label(policy)} {policy.name}.", evidence
            )
