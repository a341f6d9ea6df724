"""The rule registry: every best practice the portal judges, as a small registered function.

A rule is a function from an evaluation `Context` to the `Hit`s it finds, registered with its stable
id, title, severity, rationale, remediation and references. Any app may add rules: define them in a
module of your app and import that module from your AppConfig.ready(), after which the next
evaluation runs them, their findings get the same lifecycle, pages, exports and compliance mapping.

    # governance/scp/finding_rules.py
    from governance.findings.rules import Hit, Remediation, Severity, rule

    @rule(
        id="scp.drift",
        title="An SCP in AWS differs from its approved version",
        severity=Severity.HIGH,
        rationale="...",
        remediation=Remediation(console="...", cli="aws organizations update-policy --policy-id ..."),
        references=("https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html",),
        per_account=False,          # its hits do not belong to one account's IAM
    )
    def scp_drift(ctx):
        for policy in ...:
            yield Hit(resource_type="policy", resource_arn=policy.arn, resource_name=policy.name,
                      message="...", evidence={...}, policy_id=policy.pk)

    # governance/scp/apps.py
    def ready(self):
        from governance.scp import finding_rules  # noqa: F401  (registers the rules)

`per_account=True` rules are re-run after a sync only for the accounts whose inventory changed, and
their hits must carry `account_id`; set `organization_inputs=True` when such a rule also reads
organization-wide rows (SCPs, Identity Center), so a change there re-runs it everywhere.
`per_account=False` rules run whenever anything organization-wide changed, over everything.
A rule must be deterministic and read only the inventory (and the baseline): evaluation is repeated
at will and a hit that disappears resolves its finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from governance.findings.models import ResourceType, Severity

__all__ = [
    "Hit",
    "Remediation",
    "ResourceType",
    "Rule",
    "Severity",
    "all_rules",
    "get",
    "load_builtin",
    "register",
    "rule",
]

RULE_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$")
BUILTIN_MODULES = (
    "governance.findings.rules.credentials",
    "governance.findings.rules.roles",
    "governance.findings.rules.accounts",
    "governance.findings.rules.policies",
    "governance.findings.rules.escalation",
    "governance.findings.rules.organization",
)


@dataclass(frozen=True)
class Remediation:
    console: str
    cli: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One thing a rule found. `resource_arn` (plus `key` when one resource has several, e.g. a
    user's two access keys) names it across evaluations; `message` and `evidence` must be stable
    facts (dates, not ages), so an unchanged problem is an unchanged row."""

    resource_type: str
    resource_arn: str
    resource_name: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    account_id: int | None = None
    principal_id: int | None = None
    policy_id: int | None = None
    permission_set_id: int | None = None
    key: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    rationale: str
    remediation: Remediation
    references: tuple[str, ...]
    evaluate: Callable[[Any], Iterable[Hit]]
    per_account: bool = True
    organization_inputs: bool = False

    @property
    def module(self) -> str:
        return getattr(self.evaluate, "__module__", "")


_REGISTRY: dict[str, Rule] = {}


def register(new: Rule) -> Rule:
    """Add a rule. Re-registering the same function under its id is a no-op; another function
    under an existing id is an error (ids are a stable interface: findings, exports, mappings)."""
    if not RULE_ID.match(new.id):
        raise ValueError(f"Rule id {new.id!r} must look like 'area.name' (lower case, digits, underscores).")
    if new.severity not in Severity.values:
        raise ValueError(f"Rule {new.id}: severity must be one of {', '.join(Severity.values)}.")
    existing = _REGISTRY.get(new.id)
    if existing is not None and existing.evaluate is not new.evaluate:
        same_place = (existing.module, existing.evaluate.__qualname__) == (new.module, new.evaluate.__qualname__)
        if not same_place:
            raise ValueError(f"Rule id {new.id!r} is already registered by {existing.module}.")
    _REGISTRY[new.id] = new
    return new


def rule(
    *,
    id: str,
    title: str,
    severity: str,
    rationale: str,
    remediation: Remediation,
    references: Iterable[str] = (),
    per_account: bool = True,
    organization_inputs: bool = False,
) -> Callable[[Callable[[Any], Iterable[Hit]]], Callable[[Any], Iterable[Hit]]]:
    """Register the decorated function as a rule (see the module docstring)."""

    def decorator(func: Callable[[Any], Iterable[Hit]]) -> Callable[[Any], Iterable[Hit]]:
        register(
            Rule(
                id=id,
                title=title,
                severity=str(severity),
                rationale=rationale,
                remediation=remediation,
                references=tuple(references),
                evaluate=func,
                per_account=per_account,
                organization_inputs=organization_inputs,
            )
        )
        return func

    return decorator


def all_rules() -> list[Rule]:
    return sorted(_REGISTRY.values(), key=lambda r: r.id)


def get(rule_id: str) -> Rule | None:
    return _REGISTRY.get(rule_id)


def load_builtin() -> None:
    import importlib

    for name in BUILTIN_MODULES:
        importlib.import_module(name)
