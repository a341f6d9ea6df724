"""IAM Identity Center account assignments: create, delete, and follow their status.

CreateAccountAssignment and DeleteAccountAssignment are asynchronous in AWS: each answers with a
request id and a status (IN_PROGRESS, then SUCCEEDED or FAILED, with a reason), which
DescribeAccountAssignmentCreationStatus / DeletionStatus report. At most ten such operations may
be in progress per instance; the caller keeps count.

The write functions take the writer gate's client factory (`clients("sso-admin")`, see
`governance.authz.aws_writes.perform_write`), so they always run as the writer role naming the
person; `assignment_exists` reads with the portal's own credentials, like the sync.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from governance.aws.errors import AwsError, aws_errors, translates
from governance.aws.session import management_client, paginate

IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"


@dataclass(frozen=True)
class AssignmentTarget:
    """Which assignment: a permission set on an account for one Identity Center user (or group)."""

    instance_arn: str
    account_id: str
    permission_set_arn: str
    principal_id: str
    principal_type: str = "USER"

    def params(self) -> dict[str, str]:
        return {
            "InstanceArn": self.instance_arn,
            "TargetId": self.account_id,
            "TargetType": "AWS_ACCOUNT",
            "PermissionSetArn": self.permission_set_arn,
            "PrincipalType": self.principal_type,
            "PrincipalId": self.principal_id,
        }


@dataclass(frozen=True)
class OperationStatus:
    request_id: str
    status: str
    failure_reason: str = ""

    @property
    def done(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)


class OperationFailed(AwsError):
    """AWS reported the assignment operation FAILED (the reason is AWS's)."""

    kind = "failed"


class OperationTimedOut(AwsError):
    """The operation was still in progress when the wait ended; ask its status again later."""

    kind = "in progress"


def _status(raw: dict) -> OperationStatus:
    return OperationStatus(
        request_id=str(raw.get("RequestId") or ""),
        status=str(raw.get("Status") or IN_PROGRESS),
        failure_reason=str(raw.get("FailureReason") or ""),
    )


def create_assignment(clients: Callable[..., Any], target: AssignmentTarget) -> dict:
    """Start creating the assignment (call inside the writer gate's `call`); AWS's response as it is."""
    with aws_errors():
        return clients("sso-admin").create_account_assignment(**target.params())


def delete_assignment(clients: Callable[..., Any], target: AssignmentTarget) -> dict:
    """Start deleting the assignment (call inside the writer gate's `call`); AWS's response as it is."""
    with aws_errors():
        return clients("sso-admin").delete_account_assignment(**target.params())


def creation_of(response: dict) -> OperationStatus:
    return _status(response.get("AccountAssignmentCreationStatus") or {})


def deletion_of(response: dict) -> OperationStatus:
    return _status(response.get("AccountAssignmentDeletionStatus") or {})


@translates
def creation_status(*, instance_arn: str, request_id: str, sso: Any | None = None) -> OperationStatus:
    sso = sso or management_client("sso-admin")
    raw = sso.describe_account_assignment_creation_status(
        InstanceArn=instance_arn, AccountAssignmentCreationRequestId=request_id
    )
    return _status(raw.get("AccountAssignmentCreationStatus") or {})


@translates
def deletion_status(*, instance_arn: str, request_id: str, sso: Any | None = None) -> OperationStatus:
    sso = sso or management_client("sso-admin")
    raw = sso.describe_account_assignment_deletion_status(
        InstanceArn=instance_arn, AccountAssignmentDeletionRequestId=request_id
    )
    return _status(raw.get("AccountAssignmentDeletionStatus") or {})


def wait_for(
    check: Callable[[], OperationStatus],
    first: OperationStatus,
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
    max_interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> OperationStatus:
    """Poll `check` with exponential back-off until the operation is final or `timeout` passes.

    FAILED raises `OperationFailed` with AWS's reason; still in progress at the end raises
    `OperationTimedOut` (the caller asks again later, from the request id it kept).
    """
    status = first
    deadline = time.monotonic() + timeout
    while not status.done:
        if time.monotonic() >= deadline:
            raise OperationTimedOut(f"still {status.status} after {timeout:.0f} s", code=status.status)
        sleep(interval)
        interval = min(interval * 2, max_interval)
        status = check()
    if status.status == FAILED:
        raise OperationFailed(
            status.failure_reason or "AWS reported the operation failed", code=FAILED, request_id=status.request_id
        )
    return status


@translates
def assignment_exists(target: AssignmentTarget, *, sso: Any | None = None) -> bool:
    """Whether AWS holds the assignment now (ListAccountAssignments for the account and set)."""
    sso = sso or management_client("sso-admin")
    for item in paginate(
        sso,
        "list_account_assignments",
        "AccountAssignments",
        InstanceArn=target.instance_arn,
        AccountId=target.account_id,
        PermissionSetArn=target.permission_set_arn,
    ):
        if item.get("PrincipalId") == target.principal_id and item.get("PrincipalType") == target.principal_type:
            return True
    return False
