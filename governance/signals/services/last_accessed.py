"""Service last accessed, fetched incrementally within a budget of IAM calls per run.

A run (every minute, from the schedule) spends at most `budget` IAM calls
(`SIGNALS_LAST_ACCESSED_CALLS_PER_MINUTE`): first reading the jobs it started earlier (one call
each, a second for a very long list), then starting jobs for the principals that need one, in this
order: asked for by a review (`prioritize_last_accessed`), never fetched, permissions changed since
the last fetch (the inventory's content hash moved), data older than
`SIGNALS_LAST_ACCESSED_REFRESH_DAYS`, a failure worth retrying. A principal whose permissions did
not change and whose data is fresh costs nothing. Throttling ends the run (the budget was too
high); a denied account is skipped until the next run; an endpoint without the API stops it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from governance.aws.errors import AwsError, AwsThrottled
from governance.aws.readers import last_accessed as reader
from governance.aws.readers.availability import AwsNotAvailable
from governance.inventory.models import Principal, PrincipalKind
from governance.signals.models import (
    FetchState,
    LastAccessedFetch,
    ServiceLastAccessed,
    Source,
    SourceState,
    UsageSource,
)
from governance.signals.services.common import reader_account_id, record_usage
from governance.signals.services.status import RunSummary, recently_unavailable, record_failure, record_status

IAM_KINDS = (PrincipalKind.IAM_USER, PrincipalKind.IAM_GROUP, PrincipalKind.IAM_ROLE)
SERVICE_LINKED_PATH = "/aws-service-role/"
RETRY_FAILED_AFTER = timedelta(hours=1)


class _Stop(Exception):
    def __init__(self, exc: AwsError) -> None:
        self.exc = exc


def candidates(now: datetime, limit: int) -> list[Principal]:
    """Principals to start a job for, most wanted first (see the module docstring)."""
    stale = now - timedelta(days=settings.SIGNALS_LAST_ACCESSED_REFRESH_DAYS)
    queryset = (
        Principal.objects.present()
        .filter(kind__in=IAM_KINDS, account__isnull=False, account__removed_at__isnull=True)
        .exclude(path__startswith=SERVICE_LINKED_PATH)
        .select_related("account")
    )
    never = queryset.filter(signals_fetch__isnull=True)
    wanted = queryset.filter(signals_fetch__wanted_at__isnull=False).exclude(signals_fetch__state=FetchState.RUNNING)
    due = queryset.exclude(signals_fetch__state=FetchState.RUNNING).filter(
        Q(signals_fetch__state=FetchState.DONE)
        & (~Q(signals_fetch__content_hash=F("content_hash")) | Q(signals_fetch__completed_at__lt=stale))
        | Q(signals_fetch__state=FetchState.FAILED, signals_fetch__requested_at__lt=now - RETRY_FAILED_AFTER)
    )
    picked: dict[int, Principal] = {}
    for group in (
        wanted.order_by("signals_fetch__wanted_at", "id"),
        never.order_by("id"),
        due.order_by("signals_fetch__completed_at", "id"),
    ):
        if len(picked) >= limit:
            break
        for principal in group[: limit - len(picked)]:
            picked.setdefault(principal.pk, principal)
    return list(picked.values())[:limit]


def _complete(fetch: LastAccessedFetch, report: reader.LastAccessedReport, now: datetime) -> int:
    """Replace the principal's services with the report's and move its actions' last use."""
    principal = fetch.principal
    rows = [
        ServiceLastAccessed(
            principal=principal,
            namespace=s.namespace[:64],
            service_name=s.name[:256],
            last_authenticated=s.last_authenticated,
            entity=s.entity[:2048],
            region=s.region[:32],
            total_entities=s.total_entities,
            fetched_at=now,
        )
        for s in report.services
    ]
    usage = {
        (principal.account_id, principal.arn, a.action): a.last_accessed
        for s in report.services
        for a in s.actions
        if a.last_accessed is not None
    }
    with transaction.atomic():
        ServiceLastAccessed.objects.filter(principal=principal).delete()
        ServiceLastAccessed.objects.bulk_create(rows)
        record_usage(usage, source=UsageSource.LAST_ACCESSED, principals={principal.arn: principal.pk})
        fetch.state, fetch.completed_at, fetch.error, fetch.wanted_at = FetchState.DONE, now, "", None
        fetch.save(update_fields=["state", "completed_at", "error", "wanted_at"])
    return len(rows)


def refresh_last_accessed(*, budget: int | None = None, now: datetime | None = None, force: bool = False) -> RunSummary:
    """One run within `budget` IAM calls (default: the configured calls per minute)."""
    now = now or timezone.now()
    budget = settings.SIGNALS_LAST_ACCESSED_CALLS_PER_MINUTE if budget is None else budget
    summary = RunSummary(source=Source.LAST_ACCESSED)
    if not force and recently_unavailable(Source.LAST_ACCESSED, now):
        summary.state, summary.skipped = SourceState.NOT_AVAILABLE, "not available from this endpoint"
        return summary
    denied: set[str] = set()
    try:
        running = LastAccessedFetch.objects.filter(state=FetchState.RUNNING).select_related("principal__account")
        for fetch in running.order_by("requested_at", "id"):
            if summary.api_calls >= budget:
                break
            account = fetch.principal.account
            if account is None or account.account_id in denied:
                continue
            try:
                report = reader.read_job(fetch.job_id, account_id=reader_account_id(account))
            except (AwsNotAvailable, AwsThrottled) as exc:
                summary.api_calls += 1
                raise _Stop(exc) from exc
            except AwsError as exc:
                summary.api_calls += 1
                denied.add(account.account_id)
                _fail(fetch, exc, now, summary)
                continue
            summary.api_calls += report.calls
            if report.status == reader.COMPLETED:
                summary.items += _complete(fetch, report, now)
            elif report.status == reader.FAILED:
                fetch.state, fetch.error = FetchState.FAILED, report.error or "the job failed"
                fetch.save(update_fields=["state", "error"])
        for principal in candidates(now, max(0, budget - summary.api_calls)):
            if principal.account.account_id in denied:
                continue
            try:
                job_id = reader.start_job(principal.arn, account_id=reader_account_id(principal.account))
            except (AwsNotAvailable, AwsThrottled) as exc:
                summary.api_calls += 1
                raise _Stop(exc) from exc
            except AwsError as exc:
                summary.api_calls += 1
                denied.add(principal.account.account_id)
                with transaction.atomic():
                    record_failure(source=Source.LAST_ACCESSED, now=now, exc=exc, account=principal.account)
                summary.errors.append({"account": principal.account.account_id, "error": str(exc)})
                continue
            summary.api_calls += 1
            LastAccessedFetch.objects.update_or_create(
                principal=principal,
                defaults={
                    "state": FetchState.RUNNING,
                    "job_id": job_id,
                    "content_hash": principal.content_hash,
                    "requested_at": now,
                    "completed_at": None,
                    "error": "",
                },
            )
    except _Stop as stop:
        with transaction.atomic():
            summary.state = record_failure(source=Source.LAST_ACCESSED, now=now, exc=stop.exc)
        summary.errors.append({"account": "", "error": str(stop.exc)})
        return summary
    with transaction.atomic():
        record_status(source=Source.LAST_ACCESSED, now=now, items=summary.items)
    return summary


def _fail(fetch: LastAccessedFetch, exc: AwsError, now: datetime, summary: RunSummary) -> None:
    with transaction.atomic():
        fetch.state, fetch.error = FetchState.FAILED, str(exc)
        fetch.save(update_fields=["state", "error"])
        record_failure(source=Source.LAST_ACCESSED, now=now, exc=exc, account=fetch.principal.account)
    summary.errors.append({"account": fetch.principal.account.account_id, "error": str(exc)})


def prioritize_last_accessed(*, principal_ids: Iterable[int] | QuerySet, now: datetime | None = None) -> int:
    """Fetch these principals' data ahead of the queue (a review is about to show it); idempotent.

    `principal_ids` may be a queryset of ids (a campaign's `values("principal_id")`): the work is
    then two statements whatever their number, nothing passing through Python (a million-item
    launch has a hundred thousand principals). Returns how many fetches were put first.
    No audit event: it changes only the order of background reads, not anything a person decided.
    """
    now = now or timezone.now()
    if not isinstance(principal_ids, QuerySet):
        principal_ids = sorted(set(principal_ids))
    wanted = (
        LastAccessedFetch.objects.filter(principal_id__in=principal_ids, wanted_at__isnull=True)
        .exclude(state=FetchState.RUNNING)
        .update(wanted_at=now)
    )
    missing = Principal.objects.filter(pk__in=principal_ids, kind__in=IAM_KINDS, signals_fetch__isnull=True)
    select, params = missing.order_by().annotate(wanted_id=F("pk")).values_list("wanted_id").query.sql_with_params()
    table = connection.ops.quote_name(LastAccessedFetch._meta.db_table)
    # WHERE true: SQLite's parser needs a WHERE before ON CONFLICT in an INSERT .. SELECT. A fetch
    # the scheduler queued meanwhile wins (DO NOTHING): it is already in the queue.
    sql = (
        f"INSERT INTO {table} (principal_id, state, job_id, content_hash, requested_at, error, wanted_at) "  # noqa: S608
        f"SELECT m.wanted_id, %s, '', '', %s, '', %s FROM ({select}) AS m WHERE true ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        at = connection.ops.adapt_datetimefield_value(now)
        cursor.execute(sql, [FetchState.QUEUED.value, at, at, *params])
        added = cursor.rowcount
    return wanted + added
