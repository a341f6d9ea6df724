"""Checks beyond parsing: size quotas, SCP and RCP language rules, unknown actions, and a parliament lint.

Every check returns :class:`Finding` objects rather than raising, so an editor can show all of them.
A document that does not parse yields a single ``MALFORMED`` error finding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .catalog import unknown_actions
from .document import Policy, PolicyType, kind_problems, parse_policy
from .errors import PolicyError
from .service_rules import RCP_SERVICES

# Character quotas (IAM and Organizations quotas pages). IAM does not count whitespace for these; for
# SCPs "all characters count against the maximum size".
SIZE_LIMITS = {
    "scp": 5120,
    "rcp": 5120,
    "managed": 6144,
    "user_inline": 2048,
    "group_inline": 5120,
    "role_inline": 10240,
    "trust": 2048,
}
_WHITESPACE_FREE = {"managed", "user_inline", "group_inline", "role_inline", "trust"}
_WHITESPACE_OUTSIDE_STRINGS = re.compile(r'("(?:[^"\\]|\\.)*")|\s+')


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    path: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.severity.value} {self.code}: {where}{self.message}"


def policy_size(text: str, kind: str) -> int:
    """Characters that count against the quota for ``kind`` (see :data:`SIZE_LIMITS`)."""
    if kind in _WHITESPACE_FREE:
        return len(_WHITESPACE_OUTSIDE_STRINGS.sub(lambda m: m.group(1) or "", text))
    return len(text)


def check_size(text: str, kind: str) -> list[Finding]:
    if kind not in SIZE_LIMITS:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {', '.join(SIZE_LIMITS)}")
    size, limit = policy_size(text, kind), SIZE_LIMITS[kind]
    if size > limit:
        return [Finding("SIZE_LIMIT", Severity.ERROR, f"{size} characters exceeds the {kind} limit of {limit}")]
    return []


def _text(document: str | Mapping[str, Any], *, indent: int | None = None) -> str:
    """The text as submitted; a mapping is sized in its compact JSON form (what the portal sends)."""
    if isinstance(document, str):
        return document
    return json.dumps(document, indent=indent) if indent else json.dumps(document, separators=(",", ":"))


def _parse(document: str | Mapping[str, Any], findings: list[Finding]) -> Policy | None:
    try:
        return parse_policy(document)
    except PolicyError as exc:
        findings.append(Finding("MALFORMED", Severity.ERROR, str(exc), exc.path))
        return None


def _unknown_action_findings(policy: Policy, severity: Severity = Severity.WARNING) -> list[Finding]:
    findings = []
    for statement in policy.statements:
        for action in unknown_actions(a for a in statement.actions if a != "*"):
            findings.append(
                Finding(
                    "UNKNOWN_ACTION",
                    severity,
                    f"{action!r} matches no action in the IAM catalog",
                    f"Statement[{statement.index}]",
                )
            )
    return findings


def validate_policy(document: str | Mapping[str, Any], *, kind: str = "managed") -> list[Finding]:
    """Parse, size and unknown-action checks for an identity, boundary or session policy."""
    findings: list[Finding] = []
    policy = _parse(document, findings)
    findings.extend(check_size(_text(document), kind))
    if policy is None:
        return findings
    for statement in policy.statements:
        path = f"Statement[{statement.index}]"
        if statement.resources is None and kind != "trust":
            findings.append(Finding("MISSING_RESOURCE", Severity.ERROR, "needs Resource or NotResource", path))
        if statement.principal is not None and kind != "trust":
            findings.append(
                Finding(
                    "PRINCIPAL_NOT_ALLOWED",
                    Severity.ERROR,
                    "identity-based policies cannot name a Principal",
                    path,
                )
            )
    findings.extend(_unknown_action_findings(policy))
    return findings


def validate_scp(document: str | Mapping[str, Any]) -> list[Finding]:
    """SCP rules (Organizations "SCP syntax"), the 5,120-character quota and unknown actions.

    Principal/NotPrincipal and an action (or action pattern) the IAM catalog does not know are errors: a
    guardrail naming a misspelt action silently restricts nothing. Allow statements with Condition,
    NotAction, NotResource or a Resource other than ``*`` are warnings: SCPs long rejected them and older
    tooling still expects that.
    """
    findings: list[Finding] = []
    policy = _parse(document, findings)
    findings.extend(check_size(_text(document), "scp"))
    if policy is None:
        return findings
    if policy.version != "2012-10-17":
        findings.append(Finding("SCP_VERSION", Severity.WARNING, "SCPs should use Version 2012-10-17", "Version"))
    for statement in policy.statements:
        path = f"Statement[{statement.index}]"
        if statement.principal is not None:
            element = "NotPrincipal" if statement.not_principal else "Principal"
            findings.append(Finding("SCP_PRINCIPAL", Severity.ERROR, f"SCPs cannot use {element}", path))
        if statement.resources is None:
            findings.append(Finding("MISSING_RESOURCE", Severity.ERROR, "needs Resource or NotResource", path))
        if statement.effect.value == "Allow":
            if statement.conditions:
                findings.append(Finding("SCP_ALLOW_CONDITION", Severity.WARNING, "Condition on an Allow", path))
            if statement.not_action:
                findings.append(Finding("SCP_ALLOW_NOTACTION", Severity.WARNING, "NotAction on an Allow", path))
            if statement.not_resource:
                findings.append(Finding("SCP_ALLOW_NOTRESOURCE", Severity.WARNING, "NotResource on an Allow", path))
            elif statement.resources is not None and statement.resources != ("*",):
                findings.append(
                    Finding("SCP_ALLOW_RESOURCE", Severity.WARNING, 'Allow statements should use Resource "*"', path)
                )
    findings.extend(_unknown_action_findings(policy, Severity.ERROR))
    return findings


def validate_rcp(document: str | Mapping[str, Any]) -> list[Finding]:
    """RCP rules (Organizations "RCP syntax"), the 5,120-character quota and unknown actions.

    Errors: Version other than 2012-10-17, a statement without Principal or naming anyone but ``*``,
    NotPrincipal, NotAction, a missing Resource, an Allow (only AWS's RCPFullAWSAccess allows), and
    ``"*"`` as an action (a customer managed RCP must name the services it restricts), and actions the
    IAM catalog does not know. Warnings: actions of services RCPs do not apply to.
    """
    findings: list[Finding] = []
    policy = _parse(document, findings)
    findings.extend(check_size(_text(document), "rcp"))
    if policy is None:
        return findings
    for code, message, path in kind_problems(policy, PolicyType.RCP):
        findings.append(Finding(code, Severity.ERROR, message, path))
    for statement in policy.statements:
        path = f"Statement[{statement.index}]"
        if statement.effect.value == "Deny" and "*" in statement.actions:
            findings.append(
                Finding("RCP_ACTION_STAR", Severity.ERROR, 'an RCP must name its services, not Action "*"', path)
            )
        for action in statement.actions:
            service = action.partition(":")[0].lower()
            if action != "*" and "*" not in service and "?" not in service and service not in RCP_SERVICES:
                findings.append(
                    Finding(
                        "RCP_UNSUPPORTED_SERVICE",
                        Severity.WARNING,
                        f"{action!r}: RCPs do not apply to the {service} service",
                        path,
                    )
                )
    findings.extend(_unknown_action_findings(policy, Severity.ERROR))
    return findings


def lint(document: str | Mapping[str, Any]) -> list[Finding]:
    """parliament's findings (its own catalog and auditors) as :class:`Finding` warnings."""
    import parliament  # slow to import; only the editor's lint needs it

    analyzed = parliament.analyze_policy_string(_text(document, indent=2))
    findings = []
    for item in analyzed.findings:
        location = item.location if isinstance(item.location, dict) else {}
        where = f"line {location['line']}" if "line" in location else ""
        detail = f" {item.detail}" if item.detail else ""
        severity = Severity.ERROR if item.issue == "MALFORMED_JSON" else Severity.WARNING
        findings.append(Finding(f"PARLIAMENT_{item.issue}", severity, f"{item.title}{detail}".strip(), where))
    return findings
