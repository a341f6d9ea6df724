"""Rules of particular AWS services that the decision depends on, beyond the policy language.

* RCPs apply only to the services the Organizations guide lists ("List of AWS services that support
  RCPs"), never to ``kms:RetireGrant``, to AWS managed KMS keys, to calls made by service-linked roles, or
  to a service assuming its service-linked role (the guide's "Resources and entities not restricted by
  RCPs"); resources in the management account are exempt too (the caller says which they are).
* A KMS key's key policy must allow a request on the key, directly or by delegating to the account
  (``arn:aws:iam::<account>:root``): identity policies alone never do (KMS Developer Guide, "Key
  policies"). AWS managed keys (aliases ``alias/aws/*``) cannot have their policy or properties changed,
  and the ``alias/aws/`` prefix is reserved.
* ``sts:AssumeRole*`` (and the session-tagging actions checked with it) on a role is decided by the
  role's trust policy: without one that allows the caller, nothing does (IAM User Guide, "Role trust
  policy"; cross-account requests also need the caller's identity policy, like any cross-account request).
* Service-linked roles (``role/aws-service-role/...``) and reserved roles (``role/aws-reserved/...``,
  the Identity Center ``AWSReservedSSO_*`` roles) refuse changes to their policies and trust policy from
  anyone but their service (IAM User Guide, "Using service-linked roles"; the Identity Center service
  role policy is what may change reserved roles).

These are answered per action (:func:`action_rules`) and per resource ARN (:func:`resource_facts`), both
cached, so the evaluator asks them at the cost of two dictionary lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .patterns import compile_glob

# Organizations guide, "List of AWS services that support RCPs" (service prefixes).
RCP_SERVICES = frozenset(
    {
        "aoss",
        "appconfig",
        "appstream",
        "autoscaling",
        "autoscaling-plans",
        "budgets",
        "clouddirectory",
        "cloudfront",
        "cloudsearch",
        "cloudtrail-data",
        "codeartifact",
        "codebuild",
        "codecommit",
        "codepipeline",
        "cognito-identity",
        "cognito-idp",
        "comprehend",
        "comprehendmedical",
        "compute-optimizer",
        "cost-optimization-hub",
        "dax",
        "dsql",
        "dynamodb",
        "ecr",
        "ecr-public",
        "events",
        "firehose",
        "fis",
        "fms",
        "gamelift",
        "health",
        "inspector-scan",
        "kendra",
        "kinesisvideo",
        "kms",
        "logs",
        "memorydb",
        "networkmonitor",
        "notifications",
        "opensearch",
        "pca-connector-ad",
        "personalize",
        "polly",
        "pricing",
        "resource-groups",
        "rolesanywhere",
        "s3",
        "secretsmanager",
        "servicediscovery",
        "signin",
        "sqs",
        "sts",
        "support",
        "swf",
        "textract",
        "timestream-influxdb",
        "transcribe",
        "transfer",
        "translate",
        "wafv2",
        "workspaces",
        "xray",
    }
)
RCP_EXEMPT_ACTIONS = frozenset({"kms:retiregrant"})
# Actions a role's trust policy authorizes (IAM User Guide, "Role trust policy"; "Passing session tags").
TRUST_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithsaml",
        "sts:assumerolewithwebidentity",
        "sts:tagsession",
        "sts:setsourceidentity",
        "sts:setcontext",
    }
)
# KMS Developer Guide, "AWS managed keys": their properties, rotation, policy and deletion are AWS's.
AWS_MANAGED_KEY_CHANGES = frozenset(
    {
        "kms:putkeypolicy",
        "kms:schedulekeydeletion",
        "kms:cancelkeydeletion",
        "kms:disablekey",
        "kms:enablekey",
        "kms:enablekeyrotation",
        "kms:disablekeyrotation",
        "kms:rotatekeyondemand",
        "kms:updatekeydescription",
    }
)
RESERVED_ALIAS_CHANGES = frozenset({"kms:createalias", "kms:deletealias", "kms:updatealias"})
# Changes to a role's permissions or trust, refused on service-linked and reserved roles.
PROTECTED_ROLE_CHANGES = frozenset(
    {
        "iam:attachrolepolicy",
        "iam:detachrolepolicy",
        "iam:putrolepolicy",
        "iam:deleterolepolicy",
        "iam:updateassumerolepolicy",
        "iam:putrolepermissionsboundary",
        "iam:deleterolepermissionsboundary",
        "iam:deleterole",
    }
)
_ACCOUNT = re.compile(r"^\d{12}$")

# The resources the rules single out, as policy-language patterns: the evaluator tests a resource with
# exactly these, so a question over many resources can split on them and still agree with evaluation.
KMS_KEYS = ("arn:aws*:kms:*:*:key/*",)
AWS_MANAGED_ALIASES = ("arn:aws*:kms:*:*:alias/aws/*",)
ROLES = ("arn:aws*:iam::*:role/*",)
SERVICE_LINKED_ROLES = ("arn:aws*:iam::*:role/aws-service-role/*", "arn:aws*:iam::*:role/AWSServiceRoleFor*")
RESERVED_ROLES = ("arn:aws*:iam::*:role/aws-reserved/*", "arn:aws*:iam::*:role/AWSReservedSSO_*")


def _any_of(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    matchers = [compile_glob(pattern) for pattern in patterns]
    return lambda resource: any(matcher(resource) for matcher in matchers)


_is_key, _is_aws_alias, _is_role = _any_of(KMS_KEYS), _any_of(AWS_MANAGED_ALIASES), _any_of(ROLES)
_is_service_linked, _is_reserved = _any_of(SERVICE_LINKED_ROLES), _any_of(RESERVED_ROLES)


@dataclass(frozen=True, slots=True)
class ActionRules:
    """Which service rules can matter for one (lower-cased) action."""

    service: str
    rcp: bool  # RCPs restrict this action
    trust: bool  # decided by a role's trust policy
    kms: bool  # a KMS action: on a key, the key policy must allow it
    aws_managed_key_change: bool
    reserved_alias_change: bool
    protected_role_change: bool

    @property
    def key(self) -> tuple[object, ...]:
        """What two actions must share to be decided alike by these rules."""
        return (
            self.rcp,
            self.trust,
            self.kms,
            self.aws_managed_key_change,
            self.reserved_alias_change,
            self.protected_role_change,
        )

    @property
    def resource_patterns(self) -> tuple[str, ...]:
        """The resource patterns these rules tell apart (for questions over many resources)."""
        patterns: tuple[str, ...] = ()
        if self.kms:
            patterns += KMS_KEYS + AWS_MANAGED_ALIASES
        if self.trust:
            patterns += ROLES + SERVICE_LINKED_ROLES
        if self.protected_role_change:
            patterns += SERVICE_LINKED_ROLES + RESERVED_ROLES
        return patterns


@lru_cache(maxsize=8192)
def action_rules(action: str) -> ActionRules:
    service = action.partition(":")[0]
    return ActionRules(
        service=service,
        rcp=service in RCP_SERVICES and action not in RCP_EXEMPT_ACTIONS,
        trust=action in TRUST_ACTIONS,
        kms=service == "kms",
        aws_managed_key_change=action in AWS_MANAGED_KEY_CHANGES,
        reserved_alias_change=action in RESERVED_ALIAS_CHANGES,
        protected_role_change=action in PROTECTED_ROLE_CHANGES,
    )


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """What a resource ARN says about the resource."""

    account: str | None  # the owning account when the ARN names one (S3 ARNs do not)
    accountless: bool  # an ARN whose account field is empty (S3): the owner cannot be read from it
    role: bool
    service_linked_role: bool
    reserved_role: bool
    kms_key: bool
    aws_managed_alias: bool


@lru_cache(maxsize=8192)
def resource_facts(resource: str) -> ResourceFacts:
    parts = resource.split(":", 5)
    return ResourceFacts(
        account=parts[4] if len(parts) == 6 and _ACCOUNT.match(parts[4]) else None,
        accountless=len(parts) == 6 and parts[0] == "arn" and not parts[4],
        role=_is_role(resource),
        service_linked_role=_is_service_linked(resource),
        reserved_role=_is_reserved(resource),
        kms_key=_is_key(resource),
        aws_managed_alias=_is_aws_alias(resource),
    )
