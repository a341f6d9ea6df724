"""AWS Config: the compliance of an account's IAM-related Config rules, conformance packs included.

Per account (its read role), in the portal's region: DescribeConfigRules (pages of 25) names the
rules and what they check, DescribeComplianceByConfigRule (pages of 25) says how each stands,
DescribeConformancePacks and DescribeConformancePackCompliance say which pack a rule belongs to
(e.g. "Operational Best Practices for AWS Identity And Access Management"). Only IAM-related rules
are kept: AWS managed rules whose identifier is about IAM, and any rule scoped to IAM resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.aws.readers.availability import account_client, translates_signals
from governance.aws.session import paginate

# AWS managed rules about identities and credentials (their SourceIdentifier).
IAM_RULE_IDENTIFIERS = frozenset(
    {
        "ACCESS_KEYS_ROTATED",
        "ACCOUNT_PART_OF_ORGANIZATIONS",
        "IAM_CUSTOMER_POLICY_BLOCKED_KMS_ACTIONS",
        "IAM_GROUP_HAS_USERS_CHECK",
        "IAM_INLINE_POLICY_BLOCKED_KMS_ACTIONS",
        "IAM_NO_INLINE_POLICY_CHECK",
        "IAM_PASSWORD_POLICY",
        "IAM_POLICY_BLACKLISTED_CHECK",
        "IAM_POLICY_IN_USE",
        "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
        "IAM_POLICY_NO_STATEMENTS_WITH_FULL_ACCESS",
        "IAM_ROLE_MANAGED_POLICY_CHECK",
        "IAM_ROOT_ACCESS_KEY_CHECK",
        "IAM_USER_GROUP_MEMBERSHIP_CHECK",
        "IAM_USER_MFA_ENABLED",
        "IAM_USER_NO_POLICIES_CHECK",
        "IAM_USER_UNUSED_CREDENTIALS_CHECK",
        "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS",
        "ROOT_ACCOUNT_HARDWARE_MFA_ENABLED",
        "ROOT_ACCOUNT_MFA_ENABLED",
        "IAM_EXTERNAL_ACCESS_ANALYZER_ENABLED",
    }
)
IAM_RESOURCE_PREFIX = "AWS::IAM::"


@dataclass(frozen=True)
class ConfigRule:
    name: str
    arn: str
    identifier: str  # the managed rule's SourceIdentifier, or a custom rule's Lambda ARN
    owner: str  # AWS, CUSTOM_LAMBDA, CUSTOM_POLICY
    description: str
    resource_types: tuple[str, ...]
    state: str


@dataclass(frozen=True)
class RuleCompliance:
    rule: ConfigRule
    compliance: str  # COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA
    non_compliant: int | None  # how many resources (AWS caps the count at 100)
    capped: bool
    conformance_pack: str = ""


def is_iam_rule(rule: ConfigRule) -> bool:
    iam_scoped = any(t.startswith(IAM_RESOURCE_PREFIX) for t in rule.resource_types)
    return rule.identifier in IAM_RULE_IDENTIFIERS or iam_scoped


def _rule(raw: dict[str, Any]) -> ConfigRule:
    source = raw.get("Source") or {}
    return ConfigRule(
        name=raw["ConfigRuleName"],
        arn=raw.get("ConfigRuleArn", ""),
        identifier=source.get("SourceIdentifier", ""),
        owner=source.get("Owner", ""),
        description=raw.get("Description", ""),
        resource_types=tuple((raw.get("Scope") or {}).get("ComplianceResourceTypes") or ()),
        state=raw.get("ConfigRuleState", ""),
    )


@translates_signals
def read_iam_compliance(*, account_id: str = "", client: Any | None = None, packs: bool = True) -> list[RuleCompliance]:
    """The IAM-related rules of this account and region, each with its compliance and pack."""
    client = client or account_client("config", account_id)
    # Compliance first: an endpoint that keeps rules but cannot judge them says so here.
    standing: dict[str, dict[str, Any]] = {}
    for item in paginate(client, "describe_compliance_by_config_rule", "ComplianceByConfigRules"):
        standing[item["ConfigRuleName"]] = item.get("Compliance") or {}
    rules = {r.name: r for r in map(_rule, paginate(client, "describe_config_rules", "ConfigRules")) if is_iam_rule(r)}
    if not rules:
        return []
    pack_of: dict[str, str] = {}
    if packs:
        for pack in paginate(client, "describe_conformance_packs", "ConformancePackDetails"):
            name = pack["ConformancePackName"]
            for item in paginate(
                client,
                "describe_conformance_pack_compliance",
                "ConformancePackRuleComplianceList",
                ConformancePackName=name,
            ):
                pack_of.setdefault(item["ConfigRuleName"], name)
    found = []
    for name, rule in sorted(rules.items()):
        compliance = standing.get(name, {})
        count = compliance.get("ComplianceContributorCount") or {}
        kind = compliance.get("ComplianceType") or "INSUFFICIENT_DATA"
        found.append(
            RuleCompliance(
                rule=rule,
                compliance=kind,
                non_compliant=count.get("CappedCount") if kind == "NON_COMPLIANT" else 0,
                capped=bool(count.get("CapExceeded")),
                conformance_pack=pack_of.get(name, ""),
            )
        )
    return found
