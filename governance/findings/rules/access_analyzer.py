"""IAM Access Analyzer's findings as the portal's findings, without saying the same thing twice.

The organization's external-access and unused-access analyzers (copied by governance/signals)
become findings with the portal's lifecycle, pages, exports and compliance mapping. Where a portal
rule already reports the same fact about the same resource, the analyzer's finding is left out:

- external access to an IAM role: the portal's trust rules (`role.trust_any_principal`,
  `role.trust_external_without_external_id`) read the same trust policy;
- an unused role: `role.unused_90d`; an unused password or access key: `user.credential_unused_90d`.

Everything else (external access to buckets, keys, queues, secrets ...; unused permissions, which
only AWS can see) is the analyzer's alone. These rules read only rows the signals app holds and are
re-run when its refresh changes them; the app registers this module from its AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from governance.findings import rules as registry
from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context, day
from governance.signals import selectors as signals

ANALYZER_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/what-is-access-analyzer.html"
UNUSED_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-findings-view.html"
# Analyzer finding type -> (portal rule ids that say the same thing, which of their hits' keys count).
SAME_AS_PORTAL: dict[str, tuple[tuple[str, ...], str | None]] = {
    "ExternalAccess": (("role.trust_any_principal", "role.trust_external_without_external_id"), None),
    "UnusedIAMRole": (("role.unused_90d",), None),
    "UnusedIAMUserPassword": (("user.credential_unused_90d",), "password"),
    "UnusedIAMUserAccessKey": (("user.credential_unused_90d",), "key"),
}
RESOURCE_TYPES = {"AWS::IAM::Role": ResourceType.PRINCIPAL, "AWS::IAM::User": ResourceType.PRINCIPAL}


def portal_says(ctx: Context, finding_type: str, resource_arn: str) -> bool:
    """Whether a portal rule reports the same fact about this resource in this evaluation."""
    rule_ids, key_prefix = SAME_AS_PORTAL.get(finding_type, ((), None))
    for rule_id in rule_ids:
        hits = ctx.memo.get(f"analyzer.portal:{rule_id}")
        if hits is None:
            portal_rule = registry.get(rule_id)
            hits = set() if portal_rule is None else {(h.resource_arn, h.key) for h in portal_rule.evaluate(ctx)}
            ctx.memo[f"analyzer.portal:{rule_id}"] = hits
        if any(arn == resource_arn and (key_prefix is None or key.startswith(key_prefix)) for arn, key in hits):
            return True
    return False


def _hit(finding: Any, message: str, evidence: dict) -> Hit:
    return Hit(
        resource_type=RESOURCE_TYPES.get(finding.resource_type, ResourceType.ACCOUNT),
        resource_arn=finding.resource_arn,
        resource_name=finding.resource_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or finding.resource_arn,
        message=message,
        evidence=evidence,
        account_id=finding.account_id,
        principal_id=finding.principal_id,
        key=finding.finding_id,
    )


def _evidence(finding: Any) -> dict:
    return {
        "analyzer": finding.analyzer_arn,
        "analyzer_finding_id": finding.finding_id,
        "finding_type": finding.finding_type,
        "resource_type": finding.resource_type,
        "created": day(finding.created_at),
        "details": finding.details,
    }


def _external_principals(details: list) -> list[str]:
    found = set()
    for detail in details or []:
        principal = (detail.get("externalAccessDetails") or {}).get("principal") or {}
        found.update(str(v) for v in principal.values())
    return sorted(found)


@rule(
    id="analyzer.external_access",
    title="IAM Access Analyzer: a resource is shared outside the organization",
    severity=Severity.HIGH,
    rationale="Access Analyzer proves from the resource's policy that someone outside the zone of trust "
    "(the organization) can reach it; each such grant must be intended.",
    remediation=Remediation(
        console="IAM > Access analyzer > the finding: change the resource policy, or archive the finding "
        "with a rule if the access is intended.",
        cli="aws accessanalyzer get-finding-v2 --analyzer-arn ARN --id ID; then edit the resource's policy",
    ),
    references=(ANALYZER_GUIDE,),
)
def external_access(ctx: Context) -> Iterator[Hit]:
    for finding in ctx.scoped(signals.active_analyzer_findings("external")):
        if portal_says(ctx, "ExternalAccess", finding.resource_arn):
            continue
        who = _external_principals(finding.details)
        message = f"{finding.resource_type} {finding.resource_arn} is reachable from outside the organization" + (
            f" by {', '.join(who)}." if who else "."
        )
        yield _hit(finding, message, _evidence(finding))


UNUSED_MESSAGES = {
    "UnusedIAMRole": "the role has not been used",
    "UnusedIAMUserPassword": "the console password has not been used",
    "UnusedIAMUserAccessKey": "an access key has not been used",
    "UnusedPermission": "permissions it holds have not been used",
}


@rule(
    id="analyzer.unused_access",
    title="IAM Access Analyzer: unused access",
    severity=Severity.MEDIUM,
    rationale="The unused access analyzer sees which roles, credentials and permissions have gone unused; "
    "removing them is least privilege that costs nobody anything.",
    remediation=Remediation(
        console="IAM > Access analyzer > Unused access: remove the unused role, credential or permissions "
        "(the finding's recommendation names them).",
        cli="aws accessanalyzer generate-finding-recommendation --analyzer-arn ARN --id ID",
    ),
    references=(UNUSED_GUIDE,),
)
def unused_access(ctx: Context) -> Iterator[Hit]:
    for finding in ctx.scoped(signals.active_analyzer_findings("unused")):
        if portal_says(ctx, finding.finding_type, finding.resource_arn):
            continue
        what = UNUSED_MESSAGES.get(finding.finding_type, "access has not been used")
        services = sorted(
            {
                (d.get("unusedPermissionDetails") or {}).get("serviceNamespace", "")
                for d in finding.details or []
                if d.get("unusedPermissionDetails")
            }
            - {""}
        )
        message = f"{finding.resource_arn}: {what}" + (f" ({', '.join(services)})." if services else ".")
        yield _hit(finding, message, _evidence(finding))
