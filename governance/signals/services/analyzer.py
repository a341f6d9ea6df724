"""IAM Access Analyzer findings of the organization's analyzers, copied into `AnalyzerFinding`.

One ListAnalyzers, one paginated ListFindingsV2 (ACTIVE only) per active analyzer, and GetFindingV2
for findings that are new or changed since the last read, at most `SIGNALS_ANALYZER_DETAIL_CALLS`
per run (the rest get their details on a later run). A finding the analyzer no longer lists as
active is marked resolved. When anything changed, the findings rules that read these rows
(`analyzer.*`) are re-run once the refresh commits.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from governance.aws import calls
from governance.aws.errors import AwsError
from governance.aws.readers import access_analyzer
from governance.signals.models import AnalyzerFinding, AnalyzerFindingStatus, AnalyzerKind, Source, SourceState
from governance.signals.services.common import account_pks, principal_pks
from governance.signals.services.status import RunSummary, recently_unavailable, record_failure, record_status

ANALYZER_RULES = ["analyzer.external_access", "analyzer.unused_access"]
UPDATED = ["kind", "finding_type", "status", "resource_arn", "resource_type", "resource_owner_account", "account",
           "principal", "created_at", "updated_at", "analyzed_at", "error", "last_seen"]  # fmt: skip


def refresh_analyzer(*, now: datetime | None = None, force: bool = False) -> RunSummary:
    """Bring the analyzer findings up to date (organization-wide; idempotent)."""
    # Every call counts, each page of a paginated listing included.
    with calls.counting(this_thread_only=True) as log:
        summary = _refresh_analyzer(now=now, force=force)
    summary.api_calls = log.total
    return summary


def _refresh_analyzer(*, now: datetime | None, force: bool) -> RunSummary:
    now = now or timezone.now()
    summary = RunSummary(source=Source.ACCESS_ANALYZER)
    if not force and recently_unavailable(Source.ACCESS_ANALYZER, now):
        summary.state, summary.skipped = SourceState.NOT_AVAILABLE, "not available from this endpoint"
        return summary
    try:
        analyzers = [a for a in access_analyzer.list_analyzers() if a.status in ("ACTIVE", "")]
        listed = {a.arn: (a, access_analyzer.list_findings(a.arn, status="ACTIVE")) for a in analyzers}
    except AwsError as exc:
        with transaction.atomic():
            summary.state = record_failure(source=Source.ACCESS_ANALYZER, now=now, exc=exc)
        summary.errors.append({"account": "", "error": str(exc)})
        return summary

    found = [(analyzer, f) for analyzer, findings in listed.values() for f in findings]
    stored = {
        (row.analyzer_arn, row.finding_id): row
        for row in AnalyzerFinding.objects.filter(analyzer_arn__in=list(listed)).only(
            "id", "analyzer_arn", "finding_id", "updated_at", "status", "details"
        )
    }
    budget = settings.SIGNALS_ANALYZER_DETAIL_CALLS
    details: dict[tuple[str, str], list] = {}
    for analyzer, finding in found:
        key = (analyzer.arn, finding.finding_id)
        previous = stored.get(key)
        if previous is not None and previous.updated_at == finding.updated_at and previous.details:
            continue
        if budget <= 0:
            break
        try:
            details[key] = list(access_analyzer.get_finding(analyzer.arn, finding.finding_id).details)
        except AwsError as exc:
            summary.errors.append({"account": finding.resource_owner_account, "error": str(exc)})
            break
        finally:
            budget -= 1

    accounts = account_pks(f.resource_owner_account for _, f in found)
    principals = principal_pks(f.resource for _, f in found if f.resource_type in ("AWS::IAM::Role", "AWS::IAM::User"))
    rows = []
    for analyzer, finding in found:
        key = (analyzer.arn, finding.finding_id)
        previous = stored.get(key)
        rows.append(
            AnalyzerFinding(
                analyzer_arn=analyzer.arn,
                finding_id=finding.finding_id,
                kind=AnalyzerKind.UNUSED if analyzer.unused_access else AnalyzerKind.EXTERNAL,
                finding_type=finding.finding_type or ("ExternalAccess" if not analyzer.unused_access else ""),
                status=AnalyzerFindingStatus.ACTIVE,
                resource_arn=finding.resource[:2048],
                resource_type=finding.resource_type[:64],
                resource_owner_account=finding.resource_owner_account[:12],
                account_id=accounts.get(finding.resource_owner_account),
                principal_id=principals.get(finding.resource),
                created_at=finding.created_at,
                updated_at=finding.updated_at,
                analyzed_at=finding.analyzed_at,
                error=finding.error[:256],
                details=details.get(key, previous.details if previous is not None else []),
                first_seen=now,
                last_seen=now,
            )
        )
    active_keys = {(r.analyzer_arn, r.finding_id) for r in rows}
    gone = [
        row.pk for key, row in stored.items() if key not in active_keys and row.status == AnalyzerFindingStatus.ACTIVE
    ]
    changed = bool(gone) or any(
        (r.analyzer_arn, r.finding_id) not in stored
        or stored[(r.analyzer_arn, r.finding_id)].status != AnalyzerFindingStatus.ACTIVE
        or stored[(r.analyzer_arn, r.finding_id)].updated_at != r.updated_at
        for r in rows
    )
    with transaction.atomic():
        AnalyzerFinding.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["analyzer_arn", "finding_id"],
            update_fields=[*UPDATED, "details"],
        )
        AnalyzerFinding.objects.filter(pk__in=gone).update(status=AnalyzerFindingStatus.RESOLVED, last_seen=now)
        # Analyzers that disappeared take their findings with them.
        AnalyzerFinding.objects.filter(status=AnalyzerFindingStatus.ACTIVE).exclude(
            analyzer_arn__in=list(listed)
        ).update(status=AnalyzerFindingStatus.RESOLVED, last_seen=now)
        record_status(
            source=Source.ACCESS_ANALYZER,
            now=now,
            items=len(rows),
            message="" if listed else "No active analyzer in this account or organization.",
        )
        if changed:
            transaction.on_commit(
                lambda: async_task("governance.findings.tasks.evaluate_rules", rule_ids=ANALYZER_RULES)
            )
    summary.items = len(rows)
    summary.accounts = len({r.account_id for r in rows if r.account_id})
    return summary
