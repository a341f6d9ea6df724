"""IAM Access Analyzer: the organization's analyzers, their findings, and ValidatePolicy.

The portal reads with its own credentials (the management or delegated administrator account),
where an organization's analyzers live. One ListAnalyzers, then ListFindingsV2 per analyzer (pages
of 100); GetFindingV2 only for the findings the caller asks details of (one call each, so the
caller spends them within its budget). ValidatePolicy checks one document in one call (pages of
findings, one in practice). On an endpoint without the API every function raises `AwsNotAvailable`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from governance.aws.readers.availability import translates_signals
from governance.aws.session import management_client, paginate

EXTERNAL_ACCESS_TYPES = ("ACCOUNT", "ORGANIZATION")
UNUSED_ACCESS_TYPES = ("ACCOUNT_UNUSED_ACCESS", "ORGANIZATION_UNUSED_ACCESS")
# ValidatePolicy's policyType for the portal's two kinds of documents.
SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"
IDENTITY_POLICY = "IDENTITY_POLICY"
RESOURCE_CONTROL_POLICY = "RESOURCE_CONTROL_POLICY"


@dataclass(frozen=True)
class Analyzer:
    arn: str
    name: str
    type: str
    status: str

    @property
    def unused_access(self) -> bool:
        return self.type in UNUSED_ACCESS_TYPES


@dataclass(frozen=True)
class AnalyzerFinding:
    """One finding as ListFindingsV2 gives it; `details` only when GetFindingV2 was asked."""

    analyzer_arn: str
    finding_id: str
    finding_type: str  # ExternalAccess, UnusedIAMRole, UnusedIAMUserAccessKey, UnusedIAMUserPassword, UnusedPermission
    status: str  # ACTIVE, ARCHIVED, RESOLVED
    resource: str
    resource_type: str
    resource_owner_account: str
    created_at: datetime | None
    updated_at: datetime | None
    analyzed_at: datetime | None
    error: str = ""
    details: tuple[dict[str, Any], ...] = field(default=())


@dataclass(frozen=True)
class ValidationFinding:
    """One ValidatePolicy finding: kind (ERROR, SECURITY_WARNING, WARNING, SUGGESTION), code, where."""

    finding_type: str
    issue_code: str
    details: str
    learn_more: str
    line: int | None
    column: int | None
    path: str


@translates_signals
def list_analyzers(*, client: Any | None = None) -> list[Analyzer]:
    """The active analyzers this account sees (external access and unused access, account or organization)."""
    client = client or management_client("accessanalyzer")
    return [
        Analyzer(arn=a["arn"], name=a["name"], type=a["type"], status=a.get("status", ""))
        for a in paginate(client, "list_analyzers", "analyzers")
    ]


def _finding(analyzer_arn: str, raw: dict[str, Any], details: tuple[dict[str, Any], ...] = ()) -> AnalyzerFinding:
    return AnalyzerFinding(
        analyzer_arn=analyzer_arn,
        finding_id=raw["id"],
        finding_type=raw.get("findingType", ""),
        status=raw["status"],
        resource=raw.get("resource", ""),
        resource_type=raw["resourceType"],
        resource_owner_account=raw["resourceOwnerAccount"],
        created_at=raw.get("createdAt"),
        updated_at=raw.get("updatedAt"),
        analyzed_at=raw.get("analyzedAt"),
        error=raw.get("error", ""),
        details=details,
    )


@translates_signals
def list_findings(analyzer_arn: str, *, status: str = "", client: Any | None = None) -> list[AnalyzerFinding]:
    """Every finding of one analyzer (only `status` ones when given: ACTIVE, ARCHIVED or RESOLVED)."""
    client = client or management_client("accessanalyzer")
    params: dict[str, Any] = {"analyzerArn": analyzer_arn}
    if status:
        params["filter"] = {"status": {"eq": [status]}}
    return [_finding(analyzer_arn, raw) for raw in paginate(client, "list_findings_v2", "findings", **params)]


@translates_signals
def get_finding(analyzer_arn: str, finding_id: str, *, client: Any | None = None) -> AnalyzerFinding:
    """One finding with its details (who outside may act, or which unused permissions); pages joined."""
    client = client or management_client("accessanalyzer")
    details: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    for page in client.get_paginator("get_finding_v2").paginate(analyzerArn=analyzer_arn, id=finding_id):
        first = first or page
        details.extend(page.get("findingDetails") or [])
    assert first is not None
    return _finding(analyzer_arn, first, tuple(_plain(d) for d in details))


def _plain(value: Any) -> Any:
    """Details as JSON-ready values (datetimes as ISO strings), so they can be stored as they are."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _path(raw: list[dict[str, Any]]) -> str:
    """AWS's path ([{"value": "Statement"}, {"index": 0}, {"value": "Action"}]) as "Statement[0].Action"."""
    parts = []
    for element in raw:
        if "index" in element:
            parts.append(f"[{element['index']}]")
        elif "value" in element or "key" in element:
            parts.append(f".{element.get('value', element.get('key'))}")
    return "".join(parts).lstrip(".")


@translates_signals
def validate_policy(document: Any, policy_type: str, *, client: Any | None = None) -> list[ValidationFinding]:
    """AWS's own checks of one policy document (`policy_type`: SERVICE_CONTROL_POLICY, IDENTITY_POLICY, ...)."""
    client = client or management_client("accessanalyzer")
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    found = []
    for raw in paginate(client, "validate_policy", "findings", policyDocument=text, policyType=policy_type):
        locations = raw.get("locations") or []
        start = (locations[0].get("span") or {}).get("start") or {} if locations else {}
        found.append(
            ValidationFinding(
                finding_type=raw["findingType"],
                issue_code=raw["issueCode"],
                details=raw["findingDetails"],
                learn_more=raw.get("learnMoreLink", ""),
                line=start.get("line"),
                column=start.get("column"),
                path=_path(locations[0].get("path") or []) if locations else "",
            )
        )
    return found
