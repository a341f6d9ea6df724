"""IAM service last accessed ("access advisor") for one user, group, role or policy.

AWS computes it as a job: GenerateServiceLastAccessedDetails starts one (one call, returns a job
id), GetServiceLastAccessedDetails reads it when it is done (pages of up to 1,000 services, so one
page in practice). A job runs in the principal's own account. The caller spreads these calls over
time within its budget: start a job now, read it on a later run. ACTION_LEVEL granularity adds the
last use of single actions for the services AWS tracks that closely (IAM, EC2, S3, Lambda, ...),
which impact analysis uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from governance.aws.readers.availability import account_client, translates_signals

ACTION_LEVEL = "ACTION_LEVEL"
SERVICE_LEVEL = "SERVICE_LEVEL"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class ActionLastAccessed:
    action: str  # e.g. "iam:CreateUser"
    last_accessed: datetime | None
    entity: str
    region: str


@dataclass(frozen=True)
class ServiceLastAccessed:
    namespace: str
    name: str
    last_authenticated: datetime | None  # None: not used in AWS's tracking period (400 days)
    entity: str
    region: str
    total_entities: int
    actions: tuple[ActionLastAccessed, ...] = ()


@dataclass(frozen=True)
class LastAccessedReport:
    job_id: str
    status: str  # IN_PROGRESS, COMPLETED, FAILED
    completed_at: datetime | None
    services: tuple[ServiceLastAccessed, ...] = ()
    error: str = ""
    calls: int = 0


@translates_signals
def start_job(arn: str, *, granularity: str = ACTION_LEVEL, account_id: str = "", client: Any | None = None) -> str:
    """Ask AWS to compute last access for `arn`; the job id to read it with."""
    client = client or account_client("iam", account_id)
    return client.generate_service_last_accessed_details(Arn=arn, Granularity=granularity)["JobId"]


@translates_signals
def read_job(job_id: str, *, account_id: str = "", client: Any | None = None) -> LastAccessedReport:
    """The job's state, and when it completed, every service with its last use."""
    client = client or account_client("iam", account_id)
    params: dict[str, Any] = {"JobId": job_id, "MaxItems": PAGE_SIZE}
    services: list[ServiceLastAccessed] = []
    calls = 0
    while True:
        page = client.get_service_last_accessed_details(**params)
        calls += 1
        status = page["JobStatus"]
        if status != COMPLETED:
            error = page.get("Error") or {}
            message = f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": ") if error else ""
            return LastAccessedReport(job_id=job_id, status=status, completed_at=None, error=message, calls=calls)
        services.extend(_service(raw) for raw in page.get("ServicesLastAccessed") or [])
        if not page.get("IsTruncated") or not page.get("Marker"):
            return LastAccessedReport(
                job_id=job_id,
                status=status,
                completed_at=page.get("JobCompletionDate"),
                services=tuple(services),
                calls=calls,
            )
        params["Marker"] = page["Marker"]


def _service(raw: dict[str, Any]) -> ServiceLastAccessed:
    namespace = raw["ServiceNamespace"]
    return ServiceLastAccessed(
        namespace=namespace,
        name=raw["ServiceName"],
        last_authenticated=raw.get("LastAuthenticated"),
        entity=raw.get("LastAuthenticatedEntity", ""),
        region=raw.get("LastAuthenticatedRegion", ""),
        total_entities=int(raw.get("TotalAuthenticatedEntities") or 0),
        actions=tuple(
            ActionLastAccessed(
                action=f"{namespace}:{a['ActionName']}",
                last_accessed=a.get("LastAccessedTime"),
                entity=a.get("LastAccessedEntity", ""),
                region=a.get("LastAccessedRegion", ""),
            )
            for a in raw.get("TrackedActionsLastAccessed") or []
        ),
    )
