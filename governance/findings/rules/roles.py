"""Roles: unused roles and trust policies that let too much in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NamedTuple

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context
from governance.findings.rules.context import day as _day
from governance.inventory.models import Principal, PrincipalKind

UNUSED_DAYS = 90
TRUST_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html"
CONFUSED_DEPUTY = "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html"
OIDC_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html"
# Providers whose audience is the same for every customer, so only the subject says who may assume.
SHARED_AUDIENCE_PROVIDERS = {"token.actions.githubusercontent.com": "sub"}
ACCOUNT_RESTRICTING_KEYS = {
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "sts:externalid",
}
SERVICE_LINKED_PATH = "/aws-service-role/"


def _roles(ctx: Context):
    return ctx.scoped(Principal.objects.present().filter(kind=PrincipalKind.IAM_ROLE)).exclude(
        path__startswith=SERVICE_LINKED_PATH
    )


def _role_hit(role: Any, message: str, evidence: dict, key: str = "") -> Hit:
    return Hit(
        resource_type=ResourceType.PRINCIPAL,
        resource_arn=role.arn,
        resource_name=role.name,
        message=message,
        evidence=evidence,
        account_id=role.account_id,
        principal_id=role.pk,
        key=key,
    )


@rule(
    id="role.unused_90d",
    title="A role has not been used for 90 days",
    severity=Severity.LOW,
    rationale="Roles nobody assumes keep their permissions and trust; each is a door nobody watches.",
    remediation=Remediation(
        console="IAM > Roles > the role: check Last activity, confirm with its owner, then delete it.",
        cli="aws iam get-role --role-name ROLE --query Role.RoleLastUsed; aws iam delete-role --role-name ROLE "
        "(after detaching its policies)",
    ),
    references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_access-advisor.html",),
)
def role_unused(ctx: Context) -> Iterator[Hit]:
    cutoff = ctx.now - timedelta(days=UNUSED_DAYS)
    stale = Q(last_used__lt=cutoff) | Q(last_used__isnull=True, created__lt=cutoff)
    for role in (
        _roles(ctx).filter(stale).values_list("pk", "arn", "name", "account_id", "last_used", "created", named=True)
    ):
        used = _day(role.last_used)
        yield _role_hit(
            role,
            f"{role.name} was " + (f"last used on {used}." if used else f"never used since {_day(role.created)}."),
            {"role_last_used": used, "created": _day(role.created)},
        )


def _statements(document: Any) -> list[dict]:
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement")
    if isinstance(statements, dict):
        return [statements]
    return [s for s in statements or [] if isinstance(s, dict)]


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _condition_keys(statement: dict) -> dict[str, list]:
    """Condition key (lower case) -> the values it is compared with, across operators."""
    found: dict[str, list] = {}
    for block in (statement.get("Condition") or {}).values():
        if isinstance(block, dict):
            for key, values in block.items():
                found.setdefault(key.lower(), []).extend(_as_list(values))
    return found


def _allows_assume(statement: dict) -> bool:
    actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
    return statement.get("Effect") == "Allow" and any(
        a in ("*", "sts:*") or a.startswith("sts:assumerole") for a in actions
    )


def _aws_principals(statement: dict) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [str(p) for p in _as_list(principal.get("AWS"))]
    return []


def _account_of(principal: str) -> str | None:
    if principal.isdigit() and len(principal) == 12:
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) >= 6 and parts[0] == "arn" and parts[4].isdigit() else None


class TrustingRole(NamedTuple):
    pk: int
    arn: str
    name: str
    account_id: int
    trust_policy: Any


def _trusting(ctx: Context) -> list[TrustingRole]:
    """The roles in scope with a trust policy, read once for the three trust rules; roles with the same
    trust policy text share one parsed document (most roles of an organization trust alike), so each
    rule judges a document once (`_per_document`)."""
    rows = ctx.memo.get("roles.trusting")
    if rows is None:
        documents: dict[str, Any] = {}
        rows = []
        for pk, arn, name, account_id, text in (
            _roles(ctx)
            .exclude(trust_policy__isnull=True)
            .annotate(text=Cast("trust_policy", output_field=TextField()))
            .values_list("pk", "arn", "name", "account_id", "text")
        ):
            document = documents.get(text)
            if document is None:
                document = documents[text] = json.loads(text)
            rows.append(TrustingRole(pk, arn, name, account_id, document))
        ctx.memo["roles.trusting"] = rows
    return rows


def _per_document(judge):
    """`judge(document)`, worked out once per shared document object (see `_trusting`)."""
    verdicts: dict[int, Any] = {}

    def judged(document: Any) -> Any:
        key = id(document)
        if key not in verdicts:
            verdicts[key] = judge(document)
        return verdicts[key]

    return judged


@rule(
    id="role.trust_any_principal",
    title="A role trusts any AWS principal",
    severity=Severity.CRITICAL,
    rationale='A trust policy with Principal "*" and no condition that restricts the caller lets anyone in any '
    "AWS account assume the role.",
    remediation=Remediation(
        console="IAM > Roles > the role > Trust relationships: name the accounts or roles that may assume it, or "
        "add an aws:PrincipalOrgID condition.",
        cli="aws iam update-assume-role-policy --role-name ROLE --policy-document file://trust.json",
    ),
    references=(
        TRUST_GUIDE,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html",
    ),
)
def trust_any_principal(ctx: Context) -> Iterator[Hit]:
    @_per_document
    def open_statement(document: Any) -> int | None:
        for index, statement in enumerate(_statements(document)):
            if not _allows_assume(statement) or "*" not in _aws_principals(statement):
                continue
            if set(_condition_keys(statement)) & ACCOUNT_RESTRICTING_KEYS:
                continue
            return index
        return None

    for role in _trusting(ctx):
        index = open_statement(role.trust_policy)
        if index is not None:
            yield _role_hit(
                role,
                f"{role.name} can be assumed by any AWS principal.",
                {"trust_policy": role.trust_policy, "statement_index": index},
            )


@rule(
    id="role.trust_external_without_external_id",
    title="A role trusts an account outside the organization without an external id",
    severity=Severity.HIGH,
    rationale="A third party that assumes roles for many customers can be tricked into acting on your account "
    "(the confused deputy) unless your trust policy demands the external id it gave you.",
    remediation=Remediation(
        console="IAM > Roles > the role > Trust relationships: add a StringEquals condition on sts:ExternalId with "
        "the value the third party gave you.",
        cli="aws iam update-assume-role-policy --role-name ROLE --policy-document file://trust.json",
    ),
    references=(CONFUSED_DEPUTY, TRUST_GUIDE),
    organization_inputs=True,
)
def trust_external_without_external_id(ctx: Context) -> Iterator[Hit]:
    ours = ctx.organization_account_ids

    @_per_document
    def outside(document: Any) -> set[str]:
        external: set[str] = set()
        for statement in _statements(document):
            if not _allows_assume(statement) or "sts:externalid" in _condition_keys(statement):
                continue
            for principal in _aws_principals(statement):
                account = _account_of(principal)
                if account and account not in ours:
                    external.add(account)
        return external

    for role in _trusting(ctx):
        external = outside(role.trust_policy)
        if external:
            yield _role_hit(
                role,
                f"{role.name} trusts account{'s' if len(external) > 1 else ''} {', '.join(sorted(external))} "
                "outside the organization without an external id.",
                {"trust_policy": role.trust_policy, "external_accounts": sorted(external)},
            )


@rule(
    id="role.trust_federated_without_audience",
    title="A role trusts an identity provider without restricting audience or subject",
    severity=Severity.HIGH,
    rationale="Without an audience (and, for providers whose audience every customer shares, such as GitHub "
    "Actions, a subject) condition, tokens the provider issues to other applications or repositories can assume "
    "the role.",
    remediation=Remediation(
        console="IAM > Roles > the role > Trust relationships: add the provider's `:aud` condition, and for GitHub "
        "a StringLike `token.actions.githubusercontent.com:sub` naming your repository and branch.",
        cli="aws iam update-assume-role-policy --role-name ROLE --policy-document file://trust.json",
    ),
    references=(OIDC_GUIDE, "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_saml.html"),
)
def trust_federated_without_audience(ctx: Context) -> Iterator[Hit]:
    @_per_document
    def unrestricted(document: Any) -> list[str]:
        missing: list[str] = []
        for statement in _statements(document):
            principal = statement.get("Principal")
            if statement.get("Effect") != "Allow" or not isinstance(principal, dict):
                continue
            keys = _condition_keys(statement)
            for provider in _as_list(principal.get("Federated")):
                provider = str(provider)
                if provider.endswith(".amazonaws.com"):
                    continue  # Cognito and other AWS services name themselves; no audience applies
                host = provider.split("oidc-provider/", 1)[1] if "oidc-provider/" in provider else ""
                if ":saml-provider/" in provider:
                    needed = ["saml:aud"]
                else:
                    needed = [f"{host}:aud".lower()]
                    if host in SHARED_AUDIENCE_PROVIDERS:
                        needed.append(f"{host}:{SHARED_AUDIENCE_PROVIDERS[host]}".lower())
                missing += [key for key in needed if key not in keys]
        return missing

    for role in _trusting(ctx):
        missing = unrestricted(role.trust_policy)
        if missing:
            yield _role_hit(
                role,
                f"{role.name} trusts a federated provider without the condition{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}.",
                {"trust_policy": role.trust_policy, "missing_conditions": missing},
            )
