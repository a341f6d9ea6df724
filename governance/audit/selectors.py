"""Reads for the audit pages: filters over the indexed columns, keyset pages by sequence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from governance.audit.models import AuditCheckpoint, AuditEvent

ORDER = ("-sequence",)
_LIMIT = 200


def _clean(value: str | None, limit: int = _LIMIT) -> str:
    text = (value or "").strip()[:limit]
    return "" if "\x00" in text else text


def _moment(value: str, *, end: bool) -> datetime | None:
    """A date (the whole day) or an ISO date-time, in UTC; None when blank or unreadable."""
    if not value:
        return None
    try:
        day = parse_date(value) if len(value) == 10 else None
        if day is not None:  # a whole day: "To" includes it
            moment = datetime.combine(day, time.min) + (timedelta(days=1) if end else timedelta())
        else:
            moment = parse_datetime(value)
            if moment is None:
                return None
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


@dataclass(frozen=True)
class Filters:
    actor: str = ""
    action: str = ""
    object: str = ""  # "app.model:id", "app.model", or an object id / ARN
    since: str = ""
    until: str = ""
    errors: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query) -> Filters:
        since, until = _clean(query.get("since"), 40), _clean(query.get("until"), 40)
        errors = []
        if since and _moment(since, end=False) is None:
            errors.append(f"'From' is not a date or date-time: {since!r}.")
        if until and _moment(until, end=True) is None:
            errors.append(f"'To' is not a date or date-time: {until!r}.")
        return cls(
            actor=_clean(query.get("actor"), 150),
            action=_clean(query.get("action"), 64),
            object=_clean(query.get("object"), 620),
            since=since,
            until=until,
            errors=tuple(errors),
        )

    @property
    def active(self) -> bool:
        return any((self.actor, self.action, self.object, self.since, self.until))


def events(filters: Filters) -> QuerySet[AuditEvent]:
    """Events matching the filters; every condition is on an indexed column (exact, or a prefix for actions)."""
    queryset = AuditEvent.objects.all()
    if filters.actor:
        queryset = queryset.filter(actor_name=filters.actor)
    if filters.action:
        # "review." finds every review action; a full name finds that one.
        queryset = (
            queryset.filter(action__startswith=filters.action)
            if filters.action.endswith(".")
            else queryset.filter(action=filters.action)
        )
    if filters.object:
        kind, sep, ident = filters.object.partition(":")
        if sep and "." in kind and " " not in kind and not kind.startswith("arn"):
            queryset = (
                queryset.filter(object_type=kind, object_id=ident) if ident else queryset.filter(object_type=kind)
            )
        elif "." in filters.object and ":" not in filters.object and "/" not in filters.object:
            queryset = queryset.filter(object_type=filters.object)
        else:
            queryset = queryset.filter(object_id=filters.object)
    since = _moment(filters.since, end=False)
    until = _moment(filters.until, end=True)
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def newest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-sequence", "-id").first()


CSV_HEADER = ("sequence", "created_at", "actor", "action", "object_type", "object_id", "object", "request_id",
              "before", "after", "prev_hash", "hash")  # fmt: skip


def csv_rows(queryset: QuerySet[AuditEvent]):
    import json

    columns = ("sequence", "created_at", "actor_name", "action", "object_type", "object_id", "object_repr",
               "request_id", "before", "after", "prev_hash", "hash")  # fmt: skip
    for row in queryset.order_by(*ORDER).values_list(*columns).iterator(chunk_size=2000):
        values = list(row)
        values[8] = "" if values[8] is None else json.dumps(values[8], sort_keys=True, ensure_ascii=False)
        values[9] = "" if values[9] is None else json.dumps(values[9], sort_keys=True, ensure_ascii=False)
        yield values
