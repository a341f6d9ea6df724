"""Readers of APIs an endpoint may not offer (Access Analyzer, CloudTrail lookups, Config, service
last accessed): "this endpoint does not serve that API" is an answer of its own, not an outage.

AWS itself serves all of them; the local emulator does not, and answers an action it lacks with a
501 `NotImplemented` (moto alone, and other emulators, answer with an HTML page and HTTP 500, no AWS
error code in the body, or with a body botocore cannot parse at all).
Real AWS never answers either way: its 5xx bodies carry a code (InternalFailure,
ServiceUnavailable, ...), so a 5xx without one, an unparseable body, or an "unknown operation" code
means the API is not there. Every other failure keeps its gateway error (denied, throttled, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from governance.aws.errors import AwsError, aws_errors, translate
from governance.aws.session import AccountCredentials, client_for, management_client, member_credentials

F = TypeVar("F", bound=Callable[..., Any])
_credentials: dict[str, AccountCredentials] = {}

NOT_AVAILABLE = "not available from this endpoint"
UNKNOWN_OPERATION_CODES = frozenset(
    {"InvalidAction", "UnknownOperation", "UnknownOperationException", "NotImplemented", "NotImplementedException"}
)


class AwsNotAvailable(AwsError):
    """The endpoint does not offer this API (the emulator); the portal works without it and says so."""

    kind = "not available"

    def __str__(self) -> str:
        return f"{self.operation}: {NOT_AVAILABLE}" if self.operation else NOT_AVAILABLE


def _not_available(exc: BaseException, operation: str) -> AwsNotAvailable | None:
    if isinstance(exc, ResponseParserError):
        return AwsNotAvailable(NOT_AVAILABLE, code="ResponseParserError", operation=operation)
    if not isinstance(exc, ClientError):
        return None
    response = exc.response or {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    operation = str(getattr(exc, "operation_name", "") or operation)
    if code in UNKNOWN_OPERATION_CODES or status == 501:
        return AwsNotAvailable(NOT_AVAILABLE, code=code, operation=operation, status=status)
    # botocore falls back to the status as the code when the body holds no AWS error.
    if status >= 500 and (not code or code == str(status)):
        return AwsNotAvailable(NOT_AVAILABLE, code=code, operation=operation, status=status)
    return None


@contextmanager
def signal_errors(operation: str = "") -> Iterator[None]:
    """botocore's exceptions as the gateway's, with `AwsNotAvailable` for an API the endpoint lacks."""
    try:
        yield
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        missing = _not_available(exc, operation)
        if missing is not None:
            raise missing from exc
        assert not isinstance(exc, ResponseParserError)
        raise translate(exc) from exc


def translates_signals(func: F) -> F:
    """Decorator form of `signal_errors()` for the signal readers' public functions."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with signal_errors(func.__name__):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def account_client(service: str, account_id: str = "") -> Any:
    """A client for `service` in `account_id` through the member read role ("": the portal's own
    credentials, for the management account). Credentials are reused while fresh, so the signal
    readers of one account cost one AssumeRole between them."""
    if not account_id:
        return management_client(service)
    credentials = _credentials.get(account_id)
    if credentials is None or not credentials.fresh():
        with aws_errors():
            credentials = _credentials[account_id] = member_credentials(account_id)
    return client_for(service, credentials)
