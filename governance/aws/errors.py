"""The gateway's own errors: what went wrong with an AWS call, in terms the rest of the portal can act on.

botocore raises `ClientError` (AWS answered with an error), and a family of `BotoCoreError`s
(the endpoint could not be reached, no credentials, a timeout). Code outside `governance/aws/`
never sees either: every reader, the member and writer sessions, and the writer's calls translate
them into one of these, keeping AWS's error code, message, the operation and the request id:

- `AwsDenied`: AWS refused the caller (AccessDenied and friends, bad or expired credentials, 403).
- `AwsThrottled`: still throttled after the standard retries (Throttling, 429).
- `AwsNotFound`: the named thing does not exist (NoSuchEntity, ResourceNotFoundException, 404).
- `AwsUnreachable`: the endpoint did not answer, or answered 5xx after the retries.
- `AwsError`: anything else AWS rejected (validation, conflicts, limits), with its code.

    try:
        perform_write(...)
    except AwsDenied as exc:
        ...  # str(exc) == "UpdatePolicy: AccessDeniedException: User ... is not authorized ..."
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

F = TypeVar("F", bound=Callable[..., Any])

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "AuthorizationError",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnauthorizedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
# botocore's standard retry mode retries these; one that still surfaces outlasted the retries.
THROTTLED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


class AwsError(Exception):
    """An AWS call failed. `code` and `message` are AWS's; `kind` says which family it is."""

    kind = "error"

    def __init__(
        self, message: str = "", *, code: str = "", operation: str = "", request_id: str = "", status: int = 0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.operation = operation
        self.request_id = request_id
        self.status = status

    def __str__(self) -> str:
        parts = [p for p in (self.operation, self.code) if p]
        return ": ".join([*parts, self.message]) if self.message else ": ".join(parts) or self.kind

    def __reduce__(self):  # keyword-only fields survive pickling (task results, multiprocessing)
        return (_rebuild, (type(self), self.message, self.code, self.operation, self.request_id, self.status))


class AwsDenied(AwsError):
    """AWS refused: the caller lacks the permission, or its credentials are missing or invalid."""

    kind = "denied"


class AwsThrottled(AwsError):
    """AWS kept throttling the call after the standard retries."""

    kind = "throttled"


class AwsNotFound(AwsError):
    """The resource the call named does not exist."""

    kind = "not found"


class AwsUnreachable(AwsError):
    """The endpoint could not be reached, timed out, or failed (HTTP 5xx) after the retries."""

    kind = "unreachable"


def _rebuild(cls: type[AwsError], message: str, code: str, operation: str, request_id: str, status: int) -> AwsError:
    return cls(message, code=code, operation=operation, request_id=request_id, status=status)


def _is_not_found(code: str) -> bool:
    return code.startswith("NoSuch") or code.endswith(("NotFound", "NotFoundException"))


def translate(exc: BaseException) -> AwsError:
    """The gateway error for a botocore exception (an `AwsError` is returned as it is)."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        response = exc.response or {}
        error = response.get("Error") or {}
        metadata = response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "")
        status = int(metadata.get("HTTPStatusCode") or 0)
        headers = metadata.get("HTTPHeaders") or {}
        fields = {
            "code": code,
            "operation": str(getattr(exc, "operation_name", "") or ""),
            "request_id": str(
                metadata.get("RequestId") or headers.get("x-amzn-requestid") or headers.get("x-amz-request-id") or ""
            ),
            "status": status,
        }
        message = str(error.get("Message") or "")
        if code in THROTTLED_CODES or status == 429:
            return AwsThrottled(message, **fields)
        if code in DENIED_CODES or status in (401, 403):
            return AwsDenied(message, **fields)
        if _is_not_found(code) or status == 404:
            return AwsNotFound(message, **fields)
        if status >= 500:
            return AwsUnreachable(message or f"the endpoint failed (HTTP {status})", **fields)
        return AwsError(message, **fields)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsDenied(str(exc), code=type(exc).__name__)
    if isinstance(exc, ConnectionError | HTTPClientError):  # connection, timeouts, closed, proxy, SSL
        return AwsUnreachable(str(exc), code=type(exc).__name__)
    if isinstance(exc, BotoCoreError):
        return AwsError(str(exc), code=type(exc).__name__)
    raise TypeError(f"Not an AWS error: {exc!r}")


def error_code(exc: BaseException) -> str:
    """AWS's error code of a botocore or gateway error ("" for anything else)."""
    if isinstance(exc, AwsError):
        return exc.code
    if isinstance(exc, ClientError):
        return str((exc.response or {}).get("Error", {}).get("Code") or "")
    return ""


@contextmanager
def aws_errors() -> Iterator[None]:
    """Inside, botocore's exceptions come out as the gateway's (the botocore one is the `__cause__`)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc


def translates(func: F) -> F:
    """Decorator form of `aws_errors()`, for the gateway's public functions."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with aws_errors():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
