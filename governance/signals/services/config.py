"""AWS Config: the compliance of each account's IAM-related rules, replaced at every read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.aws import calls
from governance.aws.errors import AwsError
from governance.aws.readers import config as config_reader
from governance.aws.readers.availability import AwsNotAvailable
from governance.signals.models import ConfigRuleCompliance, Source, SourceState
from governance.signals.services.common import accounts_in_scope, reader_account_id
from governance.signals.services.status import RunSummary, recently_unavailable, record_failure, record_status


def refresh_config(
    *, account_ids: Iterable[str] | None = None, now: datetime | None = None, force: bool = False
) -> RunSummary:
    """Read every account's IAM Config rules; an account that fails keeps its last known rows."""
    now = now or timezone.now()
    summary = RunSummary(source=Source.CONFIG)
    if not force and recently_unavailable(Source.CONFIG, now):
        summary.state, summary.skipped = SourceState.NOT_AVAILABLE, "not available from this endpoint"
        return summary
    for account in accounts_in_scope(account_ids):
        try:
            with calls.counting(this_thread_only=True) as log:
                try:
                    rules = config_reader.read_iam_compliance(account_id=reader_account_id(account))
                finally:
                    summary.api_calls += log.total  # every page and the account's AssumeRole
        except AwsNotAvailable as exc:
            with transaction.atomic():
                record_failure(source=Source.CONFIG, now=now, exc=exc, account=account)
                record_failure(source=Source.CONFIG, now=now, exc=exc)
            summary.state = SourceState.NOT_AVAILABLE
            summary.errors.append({"account": account.account_id, "error": str(exc)})
            return summary
        except AwsError as exc:
            with transaction.atomic():
                record_failure(source=Source.CONFIG, now=now, exc=exc, account=account)
            summary.errors.append({"account": account.account_id, "error": str(exc)})
            continue
        rows = [
            ConfigRuleCompliance(
                account=account,
                rule_name=r.rule.name[:128],
                rule_arn=r.rule.arn[:256],
                identifier=r.rule.identifier[:256],
                owner=r.rule.owner[:32],
                description=r.rule.description,
                resource_types=list(r.rule.resource_types),
                compliance=r.compliance,
                non_compliant=r.non_compliant,
                capped=r.capped,
                conformance_pack=r.conformance_pack[:256],
                checked_at=now,
            )
            for r in rules
        ]
        with transaction.atomic():
            ConfigRuleCompliance.objects.filter(account=account).exclude(
                rule_name__in=[r.rule_name for r in rows]
            ).delete()
            ConfigRuleCompliance.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["account", "rule_name"],
                update_fields=[
                    "rule_arn",
                    "identifier",
                    "owner",
                    "description",
                    "resource_types",
                    "compliance",
                    "non_compliant",
                    "capped",
                    "conformance_pack",
                    "checked_at",
                ],
            )
            record_status(
                source=Source.CONFIG,
                now=now,
                account=account,
                items=len(rows),
                message="" if rows else "No IAM-related AWS Config rules in this account and region.",
            )
        summary.accounts += 1
        summary.items += len(rows)
    with transaction.atomic():
        record_status(
            source=Source.CONFIG,
            now=now,
            state=SourceState.OK if summary.accounts or not summary.errors else SourceState.ERROR,
            message="; ".join(f"{e['account']}: {e['error']}" for e in summary.errors[:5]),
            items=summary.items,
        )
    if summary.errors and not summary.accounts:
        summary.state = SourceState.ERROR
    return summary
