"""IAM Access Analyzer's ValidatePolicy beside the portal's own checks: in the SCP editor (a
diagnostics provider) and on customer policies' pages.

It is asked only when the endpoint offers Access Analyzer: the last organization-wide analyzer read
succeeded (`SourceStatus`). Where that cannot be told, it is not asked (the portal's own checks
still run), so an emulator, or a test without a database, never waits for an API that is not there.
Answers are kept per text for a day (`PolicyValidation`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from governance.aws.errors import AwsError
from governance.aws.readers import access_analyzer
from governance.aws.readers.availability import NOT_AVAILABLE, AwsNotAvailable
from governance.signals.models import PolicyValidation, Source, SourceState, SourceStatus

KEEP = timedelta(days=1)
POLICY_TYPES = {
    "scp": access_analyzer.SERVICE_CONTROL_POLICY,
    "rcp": access_analyzer.RESOURCE_CONTROL_POLICY,
    "identity": access_analyzer.IDENTITY_POLICY,
}
ERROR_TYPES = ("ERROR",)


@dataclass(frozen=True)
class Validation:
    available: bool
    findings: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f["finding_type"] in ERROR_TYPES)


def analyzer_available() -> bool:
    try:
        return SourceStatus.objects.filter(source=Source.ACCESS_ANALYZER, scope="", state=SourceState.OK).exists()
    except Exception:  # no database to ask (a unit test, start-up): cannot tell, so it is not asked
        return False


def validate(text: str, kind: str) -> Validation:
    """ValidatePolicy's findings for `text` as a policy of `kind` ("scp", "rcp", "identity")."""
    policy_type = POLICY_TYPES[kind]
    if not analyzer_available():
        return Validation(available=False, error=NOT_AVAILABLE)
    key = hashlib.sha256(f"{policy_type}\n{text}".encode()).hexdigest()
    now = timezone.now()
    kept = PolicyValidation.objects.filter(key=key, checked_at__gte=now - KEEP).first()
    if kept is not None:
        return Validation(available=True, findings=kept.findings)
    try:
        found = access_analyzer.validate_policy(text, policy_type)
    except AwsNotAvailable:
        return Validation(available=False, error=NOT_AVAILABLE)
    except AwsError as exc:
        return Validation(available=True, error=str(exc))
    findings = [
        {
            "finding_type": f.finding_type,
            "issue_code": f.issue_code,
            "details": f.details,
            "learn_more": f.learn_more,
            "line": f.line,
            "column": f.column,
            "path": f.path,
        }
        for f in found
    ]
    PolicyValidation.objects.update_or_create(
        key=key, defaults={"policy_type": policy_type, "findings": findings, "checked_at": now}
    )
    return Validation(available=True, findings=findings)


def scp_diagnostics(source: Any) -> Iterable[Any]:
    """The SCP editor's provider (governance.scp.diagnostics): AWS's findings as diagnostics."""
    from governance.scp.diagnostics import Diagnostic

    result = validate(source.text, source.kind)
    if not result.available:
        return []
    if result.error:
        message = f"IAM Access Analyzer could not check this policy: {result.error}"
        return [Diagnostic("ACCESS_ANALYZER_FAILED", "warning", message, source="access_analyzer")]
    return [
        Diagnostic(
            code=f["issue_code"],
            severity="error" if f["finding_type"] in ERROR_TYPES else "warning",
            message=f["details"],
            path=f["path"],
            line=f["line"],
            column=f["column"],
            source="access_analyzer",
        )
        for f in result.findings
    ]


CUSTOMER_KINDS = ("customer_managed", "inline", "permission_set_inline")


def policy_panel(request, policy) -> dict | None:
    """The panel on a customer policy's page: AWS's checks of its document."""
    if policy.kind not in CUSTOMER_KINDS or policy.document is None:
        return None
    result = validate(json.dumps(policy.document, indent=2), "identity")
    return {"signals_validation": result}
