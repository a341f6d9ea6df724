"""CloudTrail management events of the services the portal governs, through LookupEvents.

LookupEvents answers for one account and region (the last 90 days), one lookup attribute per call,
at most 50 events a page and about two calls a second per account. The portal asks per event
source (IAM, Organizations, STS, Identity Center), only for events after the last one it holds, and
stops at `max_pages` per source so one busy account cannot spend a whole run; what it did not reach
it reads next time (the caller keeps the newest event time it has as the next run's start).

IAM, STS (global endpoint), Organizations and Identity Center log their management events in
us-east-1, the region the portal reads. Each event's `CloudTrailEvent` JSON is reduced to what the
activity feed shows: who (identity type, ARN, the session issuer for assumed roles, the
SourceIdentity a writer session sets), what (event name, resources), from where (source IP,
user agent) and whether AWS refused it (error code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from governance.aws.readers.availability import account_client, signal_errors
from governance.aws.readers.types import MalformedData

EVENT_SOURCES = (
    "iam.amazonaws.com",
    "organizations.amazonaws.com",
    "sts.amazonaws.com",
    "sso.amazonaws.com",
    "identitystore.amazonaws.com",
)
PAGE_SIZE = 50
# Fields of requestParameters that name what a call changed, in the order they are preferred.
TARGET_KEYS = (
    "policyArn",
    "policyId",
    "roleName",
    "userName",
    "groupName",
    "permissionSetArn",
    "targetId",
    "accountId",
    "roleArn",
    "instanceArn",
    "policyName",
)


@dataclass(frozen=True)
class TrailEvent:
    event_id: str
    event_time: datetime
    event_source: str
    event_name: str
    read_only: bool
    recipient_account_id: str
    identity_type: str  # Root, IAMUser, AssumedRole, AWSService, AWSAccount, FederatedUser, IdentityCenterUser
    actor_arn: str  # the IAM user or role (for an assumed role, the role that was assumed)
    session_arn: str  # the assumed-role session ARN, or the actor's ARN
    actor_account_id: str
    user_name: str
    source_identity: str
    access_key_id: str
    source_ip: str
    user_agent: str
    error_code: str
    error_message: str
    target: str
    request_parameters: dict[str, Any]


@dataclass(frozen=True)
class TrailRead:
    events: tuple[TrailEvent, ...]
    # Sources that had more pages than `max_pages`: their oldest events in the window were not read.
    truncated: tuple[str, ...]
    calls: int


def read_events(
    *,
    start: datetime,
    end: datetime | None = None,
    sources: tuple[str, ...] = EVENT_SOURCES,
    max_pages: int = 20,
    account_id: str = "",
    client: Any | None = None,
) -> TrailRead:
    """Management events of `sources` from `start` (inclusive) to `end`, newest first within a source
    (LookupEvents' own order), at most `max_pages` pages per source."""
    client = client or account_client("cloudtrail", account_id)
    events: list[TrailEvent] = []
    truncated: list[str] = []
    calls = 0
    for source in sources:
        params: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": source}],
            "StartTime": start,
            "MaxResults": PAGE_SIZE,
        }
        if end is not None:
            params["EndTime"] = end
        for page_number in range(max_pages):
            with signal_errors("LookupEvents"):
                page = client.lookup_events(**params)
            calls += 1
            events.extend(parse_event(raw) for raw in page.get("Events") or [])
            token = page.get("NextToken")
            if not token:
                break
            if page_number == max_pages - 1:
                truncated.append(source)
            params["NextToken"] = token
    return TrailRead(events=tuple(events), truncated=tuple(truncated), calls=calls)


def parse_event(raw: dict[str, Any]) -> TrailEvent:
    """One LookupEvents event, with its CloudTrailEvent record reduced to the feed's fields."""
    try:
        record = json.loads(raw.get("CloudTrailEvent") or "{}")
    except ValueError as exc:
        raise MalformedData(f"CloudTrail event {raw.get('EventId')}: CloudTrailEvent is not JSON ({exc}).") from None
    if not isinstance(record, dict):
        raise MalformedData(f"CloudTrail event {raw.get('EventId')}: CloudTrailEvent is not an object.")
    identity = record.get("userIdentity") or {}
    session = identity.get("sessionContext") or {}
    issuer = session.get("sessionIssuer") or {}
    kind = str(identity.get("type") or "")
    session_arn = str(identity.get("arn") or "")
    actor_arn = str(issuer.get("arn") or "") if kind == "AssumedRole" else session_arn
    request = record.get("requestParameters") or {}
    if not isinstance(request, dict):
        request = {}
    resources = raw.get("Resources") or []
    target = next((str(request[k]) for k in TARGET_KEYS if request.get(k)), "")
    if not target and resources:
        target = str(resources[0].get("ResourceName") or "")
    return TrailEvent(
        event_id=raw["EventId"],
        event_time=raw["EventTime"],
        event_source=str(raw.get("EventSource") or record.get("eventSource") or ""),
        event_name=str(raw.get("EventName") or record.get("eventName") or ""),
        read_only=str(raw.get("ReadOnly", record.get("readOnly", ""))).lower() == "true",
        recipient_account_id=str(record.get("recipientAccountId") or identity.get("accountId") or ""),
        identity_type=kind,
        actor_arn=actor_arn,
        session_arn=session_arn,
        actor_account_id=str(identity.get("accountId") or ""),
        user_name=str(raw.get("Username") or identity.get("userName") or ""),
        source_identity=str(session.get("sourceIdentity") or identity.get("sourceIdentity") or ""),
        access_key_id=str(raw.get("AccessKeyId") or identity.get("accessKeyId") or ""),
        source_ip=str(record.get("sourceIPAddress") or ""),
        user_agent=str(record.get("userAgent") or "")[:512],
        error_code=str(record.get("errorCode") or ""),
        error_message=str(record.get("errorMessage") or "")[:1024],
        target=target[:2048],
        request_parameters=request,
    )
