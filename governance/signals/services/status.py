"""How one source's read went, per account: the state pages show beside (or instead of) its data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from governance.aws.errors import AwsDenied, AwsError, AwsThrottled
from governance.aws.readers.availability import AwsNotAvailable
from governance.signals.models import SourceState, SourceStatus


@dataclass
class RunSummary:
    """What one refresh did: the JSON summary of `manage.py refresh_signals`, per source."""

    source: str
    accounts: int = 0
    items: int = 0
    api_calls: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    state: str = SourceState.OK
    skipped: str = ""

    def as_dict(self) -> dict:
        data = {
            "source": self.source,
            "state": self.state,
            "accounts": self.accounts,
            "items": self.items,
            "api_calls": self.api_calls,
            "errors": self.errors,
        }
        if self.skipped:
            data["skipped"] = self.skipped
        return data


def state_of(exc: AwsError) -> str:
    if isinstance(exc, AwsNotAvailable):
        return SourceState.NOT_AVAILABLE
    if isinstance(exc, AwsDenied):
        return SourceState.DENIED
    if isinstance(exc, AwsThrottled):
        return SourceState.THROTTLED
    return SourceState.ERROR


def record_status(
    *,
    source: str,
    now: datetime,
    account=None,
    state: str = SourceState.OK,
    message: str = "",
    items: int = 0,
    cursor: datetime | None = None,
) -> SourceStatus:
    """Upsert the (source, account) status row; a success also moves `succeeded_at` (and the cursor)."""
    scope = account.account_id if account is not None else ""
    defaults: dict = {"account": account, "state": state, "message": message[:4000], "checked_at": now}
    if state == SourceState.OK:
        defaults.update(succeeded_at=now, items=items)
        if cursor is not None:
            defaults["cursor"] = cursor
    status, _ = SourceStatus.objects.update_or_create(source=source, scope=scope, defaults=defaults)
    return status


def record_failure(*, source: str, now: datetime, exc: AwsError, account=None) -> str:
    state = state_of(exc)
    record_status(source=source, now=now, account=account, state=state, message=str(exc))
    return state


def recently_unavailable(source: str, now: datetime) -> bool:
    """The endpoint said it lacks this API not long ago: asking again would only cost the wait."""
    hours = getattr(settings, "SIGNALS_RECHECK_UNAVAILABLE_HOURS", 6)
    return SourceStatus.objects.filter(
        source=source, scope="", state=SourceState.NOT_AVAILABLE, checked_at__gte=now - timedelta(hours=hours)
    ).exists()
