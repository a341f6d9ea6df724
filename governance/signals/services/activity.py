"""The activity feed: CloudTrail management events of IAM, Organizations, STS and Identity Center.

Per account, LookupEvents from the newest event already held (the first read looks back
`SIGNALS_ACTIVITY_LOOKBACK_DAYS`), inserted by event id (a re-read event is skipped). Each event is
attributed: its actor is matched to the inventory's principal, a change made through the portal's
writer role (`AWS_WRITER_ROLE_NAME`) names the person in `source_identity`, and any other
successful change is flagged `out_of_band`. Every event also moves the last use of its action by
its actor (impact analysis reads that).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.aws.errors import AwsError
from governance.aws.readers import cloudtrail
from governance.aws.readers.availability import AwsNotAvailable
from governance.signals.models import ActivityEvent, Source, SourceState, SourceStatus, UsageSource
from governance.signals.services.common import (
    BATCH,
    account_pks,
    accounts_in_scope,
    principal_pks,
    reader_account_id,
    record_usage,
)
from governance.signals.services.status import RunSummary, recently_unavailable, record_failure, record_status


def is_writer_role(arn: str) -> bool:
    """Whether `arn` is the portal's writer role (any account, any path)."""
    if ":role/" not in arn:
        return False
    return arn.rsplit("/", 1)[-1] == settings.AWS_WRITER_ROLE_NAME


def _row(event: cloudtrail.TrailEvent, accounts: dict[str, int], principals: dict[str, int]) -> ActivityEvent:
    via_writer = is_writer_role(event.actor_arn)
    return ActivityEvent(
        event_id=event.event_id,
        account_id=accounts.get(event.recipient_account_id),
        recipient_account_id=event.recipient_account_id[:12],
        actor_id=principals.get(event.actor_arn),
        event_time=event.event_time,
        event_source=event.event_source[:64],
        event_name=event.event_name[:128],
        read_only=event.read_only,
        identity_type=event.identity_type[:32],
        actor_arn=event.actor_arn[:2048],
        session_arn=event.session_arn[:2048],
        actor_account_id=event.actor_account_id[:12],
        user_name=event.user_name[:256],
        source_identity=event.source_identity[:64],
        source_ip=event.source_ip[:256],
        user_agent=event.user_agent[:512],
        error_code=event.error_code[:128],
        error_message=event.error_message,
        target=event.target[:2048],
        request_parameters=event.request_parameters,
        via_writer=via_writer,
        out_of_band=not event.read_only and not event.error_code and not via_writer,
    )


def ingest_events(events: Iterable[cloudtrail.TrailEvent]) -> tuple[int, int]:
    """Insert the events not held yet and move the actions' last use; (inserted, usage rows written)."""
    events = list(events)
    accounts = account_pks(e.recipient_account_id for e in events)
    principals = principal_pks(e.actor_arn for e in events)
    rows = [_row(e, accounts, principals) for e in events]
    held = set()
    for start in range(0, len(rows), BATCH):
        chunk = [r.event_id for r in rows[start : start + BATCH]]
        held.update(ActivityEvent.objects.filter(event_id__in=chunk).values_list("event_id", flat=True))
    new = [r for r in rows if r.event_id not in held]
    ActivityEvent.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
    usage: dict[tuple[int, str, str], datetime] = {}
    for row in rows:
        if row.error_code or not row.actor_arn or row.account_id is None:
            continue
        key = (row.account_id, row.actor_arn, row.action)
        if key not in usage or usage[key] < row.event_time:
            usage[key] = row.event_time
    return len(new), record_usage(usage, source=UsageSource.CLOUDTRAIL, principals=principals)


def refresh_activity(
    *, account_ids: Iterable[str] | None = None, now: datetime | None = None, force: bool = False
) -> RunSummary:
    """Read new management events of every account in scope (or `account_ids`); one account's
    failure is recorded for it and the others still run. An endpoint without CloudTrail is asked
    again only after `SIGNALS_RECHECK_UNAVAILABLE_HOURS` (or with `force`)."""
    now = now or timezone.now()
    summary = RunSummary(source=Source.CLOUDTRAIL)
    if not force and recently_unavailable(Source.CLOUDTRAIL, now):
        summary.state, summary.skipped = SourceState.NOT_AVAILABLE, "not available from this endpoint"
        return summary
    cursors = dict(
        SourceStatus.objects.filter(source=Source.CLOUDTRAIL).exclude(scope="").values_list("scope", "cursor")
    )
    lookback = timedelta(days=settings.SIGNALS_ACTIVITY_LOOKBACK_DAYS)
    for account in accounts_in_scope(account_ids):
        start = cursors.get(account.account_id) or now - lookback
        try:
            read = cloudtrail.read_events(
                start=start, max_pages=settings.SIGNALS_ACTIVITY_MAX_PAGES, account_id=reader_account_id(account)
            )
        except AwsNotAvailable as exc:
            with transaction.atomic():
                record_failure(source=Source.CLOUDTRAIL, now=now, exc=exc, account=account)
                record_failure(source=Source.CLOUDTRAIL, now=now, exc=exc)
            summary.state = SourceState.NOT_AVAILABLE
            summary.errors.append({"account": account.account_id, "error": str(exc)})
            return summary  # one endpoint serves every account: the others would answer the same
        except AwsError as exc:
            with transaction.atomic():
                record_failure(source=Source.CLOUDTRAIL, now=now, exc=exc, account=account)
            summary.errors.append({"account": account.account_id, "error": str(exc)})
            continue
        summary.api_calls += read.calls
        newest = max((e.event_time for e in read.events), default=None)
        message = ""
        if read.truncated:
            message = (
                f"More events than {settings.SIGNALS_ACTIVITY_MAX_PAGES} pages from {', '.join(read.truncated)}: "
                "the oldest of this window were not read."
            )
        with transaction.atomic():
            inserted, _ = ingest_events(read.events)
            record_status(
                source=Source.CLOUDTRAIL,
                now=now,
                account=account,
                message=message,
                items=inserted,
                cursor=max(filter(None, [newest, cursors.get(account.account_id)]), default=None),
            )
        summary.accounts += 1
        summary.items += inserted
    with transaction.atomic():
        record_status(
            source=Source.CLOUDTRAIL,
            now=now,
            state=SourceState.OK if summary.accounts or not summary.errors else SourceState.ERROR,
            message="; ".join(f"{e['account']}: {e['error']}" for e in summary.errors[:5]),
            items=summary.items,
        )
    if summary.errors and not summary.accounts:
        summary.state = SourceState.ERROR
    return summary
