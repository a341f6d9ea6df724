"""One sync of the organization: read AWS in parallel, ingest on this thread, record the run.

The organization is read first (on this thread), then a bounded pool (`AWS_SYNC_WORKERS`) reads
each member account (its tags, AssumeRole, IAM) and Identity Center over the one shared boto3
Session, while this thread plans each batch of finished reads and hands it to
`services.WriteBehind`, which writes it on its own connection while the next one is planned (on
PostgreSQL; elsewhere it writes here, in turn). Reading threads never touch the database, and a
page polling the `SyncRun` sees accounts done / total grow as batches are written.

Most accounts are unchanged from one sync to the next. This thread looks up the stored snapshot
digests once and hands each read its account's; a worker whose raw read digests the same skips
building the dataclasses, and the account is recorded (counts from the raw read, tags ingested)
without an IAM ingest. `SyncRun.counts["accounts_unchanged"]` says how many were.

An account that refuses AssumeRole, stays throttled past the retries, or returns data the readers
or ingest cannot use is recorded on its `SyncAccountRun`; its stored inventory is left as it was
(nothing is marked removed on a failed read), the other accounts complete, and the run is
`partial`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from governance.aws import calls
from governance.aws.errors import AwsError
from governance.aws.readers import iam as iam_reader
from governance.aws.readers import identity_center, organizations
from governance.aws.readers.iam import UnchangedIam
from governance.aws.readers.types import AccountIam, IdentityCenterSnapshot, KnownKeyIds, MalformedData
from governance.aws.session import management_client
from governance.inventory import services
from governance.inventory.models import (
    Account,
    AccountStatus,
    AccountSyncStatus,
    SyncAccountRun,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from governance.inventory.models.sync import HEARTBEAT_SECONDS

logger = logging.getLogger(__name__)

# Most accounts planned and written in one transaction.
BATCH_ACCOUNTS = 25


class SyncAlreadyRunning(RuntimeError):
    pass


@dataclass
class AccountRead:
    account_id: str
    iam: AccountIam | None = None
    unchanged: UnchangedIam | None = None
    tags: dict[str, str] = field(default_factory=dict)
    error: str = ""
    api_calls: int = 0
    seconds: float = 0.0


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a page: the AWS error code and message, or the exception."""
    if isinstance(exc, AwsError):
        return str(exc)
    if isinstance(exc, MalformedData):
        return f"Malformed data: {exc}"
    return f"{type(exc).__name__}: {exc}"


def read_account(account_id: str, stored_digest: str = "", known_key_ids: KnownKeyIds | None = None) -> AccountRead:
    """Worker-thread half of an account's sync: AWS reads only, calls counted on this thread.

    `stored_digest` and `known_key_ids` (looked up by the caller: workers never touch the
    database) let an unchanged account come back as `unchanged`, not parsed, and spare a
    ListAccessKeys for keys the inventory already names.
    """
    started = time.perf_counter()
    result = AccountRead(account_id=account_id)
    with calls.counting(this_thread_only=True) as log:
        try:
            result.tags = organizations.account_tags(account_id)
            read = iam_reader.read_account_unless_unchanged(
                account_id, stored_digest=stored_digest, known_key_ids=known_key_ids
            )
            if isinstance(read, UnchangedIam):
                result.unchanged = read
            else:
                result.iam = read
        except Exception as exc:  # one account's failure, whatever it is, must not stop the others
            result.error = describe_error(exc)
            result.iam = result.unchanged = None
    result.api_calls = log.total
    result.seconds = time.perf_counter() - started
    return result


def _read_identity_center() -> tuple[IdentityCenterSnapshot | None, str, int]:
    with calls.counting(this_thread_only=True) as log:
        try:
            return identity_center.read_identity_center(), "", log.total
        except Exception as exc:
            return None, describe_error(exc), log.total


def start_run(*, trigger: str = SyncTrigger.MANUAL, only_account_id: str = "") -> SyncRun:
    """Create the run row; refuses while another run is alive (its heartbeat recent).

    The partial unique index `inventory_sync_one_running` makes this hold when two workers race:
    the second insert fails and becomes SyncAlreadyRunning.
    """
    now = timezone.now()
    SyncRun.objects.fail_dead(now)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                started_at=now, heartbeat_at=now, trigger=trigger, only_account_id=only_account_id
            )
    except IntegrityError:
        raise SyncAlreadyRunning("Another sync is running.") from None


@contextmanager
def heartbeat(run_id: int, *, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Stamp the run's `heartbeat_at` from a thread of its own while the block runs.

    A thread, not the sync's own progress updates, so one account that takes long to read does
    not look like a dead worker; a killed process stops beating, and `start_run` notices.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                SyncRun.objects.filter(pk=run_id, status=SyncStatus.RUNNING).update(heartbeat_at=timezone.now())
        except Exception:  # a lost database connection must not kill the sync; the next beat retries
            logger.warning("sync: heartbeat failed", exc_info=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"sync-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every + 5)


def sync_organization(
    *, run: SyncRun | None = None, only_account_id: str = "", trigger: str = SyncTrigger.MANUAL
) -> SyncRun:
    """Sync the organization, Identity Center and every active member account (or one)."""
    run = run or start_run(trigger=trigger, only_account_id=only_account_id)
    with heartbeat(run.pk):
        return _sync(run, only_account_id=only_account_id)


def _sync(run: SyncRun, *, only_account_id: str) -> SyncRun:
    started = time.perf_counter()
    now = run.started_at
    errors: list[dict[str, str]] = []
    counts: dict[str, int] = {"accounts": 0, "principals": 0, "entitlements": 0, "accounts_unchanged": 0}
    changes = 0
    with calls.counting() as total:
        try:
            with calls.counting(this_thread_only=True) as org_log:
                snapshot = organizations.read_organization()
            result = services.ingest_organization(snapshot=snapshot, now=now)
        except Exception as exc:
            logger.exception("sync: organization read failed")
            errors.append({"scope": "organization", "error": describe_error(exc)})
            return _finish(run, started, total, counts, changes, errors, failed=True)
        changes += result.changes
        counts.update({k: v for k, v in result.counts.items() if k != "accounts"})
        counts["organization_api_calls"] = org_log.total

        index = services.PolicyIndex()
        try:
            managed = iam_reader.read_aws_managed_policies(management_client("iam"))
            changes += services.ingest_aws_managed_policies(policies=managed, now=now, index=index).changes
        except Exception as exc:
            logger.exception("sync: AWS managed policies")
            errors.append({"scope": "aws_managed_policies", "error": describe_error(exc)})

        targets = [
            a
            for a in snapshot.accounts
            if a.status == AccountStatus.ACTIVE and (not only_account_id or a.account_id == only_account_id)
        ]
        account_pks = dict(
            Account.objects.filter(account_id__in=[a.account_id for a in targets]).values_list("account_id", "id")
        )
        account_runs = {
            account_run.aws_account_id: account_run
            for account_run in SyncAccountRun.objects.bulk_create(
                [
                    SyncAccountRun(run=run, aws_account_id=a.account_id, account_id=account_pks.get(a.account_id))
                    for a in targets
                ]
            )
        }
        SyncRun.objects.filter(pk=run.pk).update(accounts_total=len(targets))
        stored = services.stored_iam_digests(account_pks.values())
        digests = {account_id: stored.get(pk, "") for account_id, pk in account_pks.items()}
        key_ids = services.stored_access_key_ids(account_pks.values())
        if only_account_id and not targets:
            errors.append(
                {"scope": "account", "account": only_account_id, "error": "Not an active account of the organization."}
            )

        def record(outcomes: list[tuple[AccountRead, tuple[int, dict[str, int], str]]]) -> None:
            nonlocal changes
            for read, (changed, account_counts, error) in outcomes:
                changes += changed
                if error:
                    errors.append({"scope": "account", "account": read.account_id, "error": error})
                else:
                    counts["accounts"] += 1
                    if read.unchanged is not None:
                        counts["accounts_unchanged"] += 1
                    for k, v in account_counts.items():
                        counts[k] = counts.get(k, 0) + v

        with (
            ThreadPoolExecutor(max_workers=settings.AWS_SYNC_WORKERS, thread_name_prefix="sync") as pool,
            services.WriteBehind() as writer,
        ):
            ic_future = pool.submit(_read_identity_center)
            pending = {
                pool.submit(
                    read_account,
                    a.account_id,
                    digests.get(a.account_id, ""),
                    key_ids.get(account_pks.get(a.account_id, 0), {}),
                )
                for a in targets
            }
            writing: deque[_Batch] = deque()
            ready: list[AccountRead] = []
            while pending or ready or writing:
                # Wake when a read finishes or the oldest batch is written.
                done, _ = wait({*pending, *(b.written for b in list(writing)[:1])}, return_when=FIRST_COMPLETED)
                for future in done & pending:
                    ready.append(future.result())
                pending -= done
                while writing and writing[0].written.done():
                    record(_finish_batch(run, account_runs, writing.popleft(), account_pks, now, index))
                # Accounts that finished reading are planned together as one batch (fewer round
                # trips): at once when the writer is idle, else once a full batch has gathered.
                while ready and (not writing or len(ready) >= BATCH_ACCOUNTS or not pending):
                    reads, ready = sorted(ready, key=lambda r: r.account_id), []
                    reads, ready = reads[:BATCH_ACCOUNTS], reads[BATCH_ACCOUNTS:]
                    writing.append(_submit_batch(writer, reads, account_pks, now, index))
            ic, ic_error, ic_calls = ic_future.result()
        counts["identity_center_api_calls"] = ic_calls
        if ic_error:
            errors.append({"scope": "identity_center", "error": ic_error})
        elif ic is not None:
            try:
                ic_result = services.ingest_identity_center(snapshot=ic, now=now, index=index)
                changes += ic_result.changes
                for k, v in ic_result.counts.items():
                    counts[k] = counts.get(k, 0) + v
            except Exception as exc:
                logger.exception("sync: Identity Center ingest")
                errors.append({"scope": "identity_center", "error": describe_error(exc)})
        return _finish(run, started, total, counts, changes, errors, failed=bool(targets) and counts["accounts"] == 0)


@dataclass
class _Batch:
    reads: list[AccountRead]
    good: list[AccountRead]  # read cleanly and changed: planned and written together
    written: Future
    started: float


def _submit_batch(
    writer: services.WriteBehind,
    reads: list[AccountRead],
    account_pks: dict[str, int],
    now,
    index: services.PolicyIndex,
) -> _Batch:
    """Plan the changed accounts that read cleanly and queue them for writing as one batch."""
    started = time.perf_counter()
    good = [r for r in reads if not r.error and r.iam is not None and r.account_id in account_pks]
    try:
        planned = services.plan_accounts_iam(
            items=[(r.iam, account_pks[r.account_id]) for r in good], now=now, index=index
        )
    except Exception as exc:  # malformed data in one account: `_finish_batch` isolates it
        written: Future = Future()
        written.set_exception(exc)
    else:
        written = writer.submit(planned)
    return _Batch(reads=reads, good=good, written=written, started=started)


def _finish_batch(
    run: SyncRun,
    account_runs: dict[str, SyncAccountRun],
    batch: _Batch,
    account_pks: dict[str, int],
    now,
    index: services.PolicyIndex,
) -> list[tuple[AccountRead, tuple[int, dict[str, int], str]]]:
    """Record each account of a written batch; if the batch failed, ingest its accounts one by one.

    The bookkeeping is per batch, not per account: one query for the tags, one for the accounts'
    runs and one for the run's progress.
    """
    try:
        results = batch.written.result()
    except Exception:
        if len(batch.good) > 1:
            logger.info("sync: batch ingest failed; retrying its %d accounts one by one", len(batch.good))
        results = {}
    outcomes = {
        read.account_id: _ingest_account_iam(read, account_pks.get(read.account_id), now, index, results)
        for read in batch.reads
    }
    tagged = [(read, account_pks[read.account_id]) for read in batch.reads if not outcomes[read.account_id][2]]
    for account_id, (tag_changes, error) in _ingest_tags(tagged, now).items():
        changed, counts, _ = outcomes[account_id]
        outcomes[account_id] = (changed + tag_changes, counts, "") if not error else (0, {}, error)
    share = (time.perf_counter() - batch.started) / max(1, len(batch.good))
    batched_ids = {r.account_id for r in batch.good}
    finished = timezone.now()
    for read in batch.reads:
        changed, counts, error = outcomes[read.account_id]
        account_run = account_runs[read.account_id]
        account_run.status = AccountSyncStatus.FAILED if error else AccountSyncStatus.SUCCEEDED
        account_run.error = error
        account_run.api_calls = read.api_calls
        # An unchanged account or a failed read had no share of the batch's ingest.
        account_run.seconds = round(read.seconds + (share if read.account_id in batched_ids else 0.0), 3)
        account_run.counts = counts
        account_run.changes = changed
        account_run.credential_report_generated_at = _report_time(read) if not error else None
        account_run.finished_at = finished
    SyncAccountRun.objects.bulk_update(
        [account_runs[read.account_id] for read in batch.reads],
        fields=["status", "error", "api_calls", "seconds", "counts", "changes", "credential_report_generated_at",
                "finished_at"],
    )  # fmt: skip
    failed = sum(1 for changed, counts, error in outcomes.values() if error)
    SyncRun.objects.filter(pk=run.pk).update(
        accounts_done=F("accounts_done") + len(batch.reads), accounts_failed=F("accounts_failed") + failed
    )
    return [(read, outcomes[read.account_id]) for read in batch.reads]


def _ingest_account_iam(
    read: AccountRead,
    account_pk: int | None,
    now,
    index: services.PolicyIndex,
    results: dict[str, services.IngestResult],
) -> tuple[int, dict[str, int], str]:
    """(changes, counts, error) of one account's IAM: written with its batch, unchanged, or
    ingested here on its own when its batch failed."""
    if read.error:
        return 0, {}, read.error
    if account_pk is None:
        return 0, {}, "The account is not in the inventory."
    if read.unchanged is not None:
        return 0, read.unchanged.counts, ""
    assert read.iam is not None
    try:
        result = results.get(read.account_id) or services.ingest_account_iam(
            iam=read.iam, account_pk=account_pk, now=now, index=index
        )
    except Exception as exc:
        logger.exception("sync: ingest of account %s", read.account_id)
        return 0, {}, describe_error(exc)
    return result.changes, result.counts, ""


def _ingest_tags(tagged: list[tuple[AccountRead, int]], now) -> dict[str, tuple[int, str]]:
    """account id -> (changes, error) for the accounts' tags: together, or one by one if that fails."""
    try:
        changes = services.ingest_accounts_tags(items=[(pk, read.tags) for read, pk in tagged], now=now)
        return {read.account_id: (changes[pk], "") for read, pk in tagged}
    except Exception:
        outcomes = {}
        for read, pk in tagged:
            try:
                outcomes[read.account_id] = (services.ingest_accounts_tags(items=[(pk, read.tags)], now=now)[pk], "")
            except Exception as exc:
                logger.exception("sync: tags of account %s", read.account_id)
                outcomes[read.account_id] = (0, describe_error(exc))
        return outcomes


def _report_time(read: AccountRead) -> datetime | None:
    source = read.iam or read.unchanged
    return source.credential_report_generated_at if source is not None else None


def _finish(
    run: SyncRun,
    started: float,
    total: calls.CallLog,
    counts: dict[str, Any],
    changes: int,
    errors: list[dict[str, str]],
    *,
    failed: bool,
) -> SyncRun:
    status = SyncStatus.FAILED if failed else (SyncStatus.PARTIAL if errors else SyncStatus.SUCCEEDED)
    seconds = round(time.perf_counter() - started, 3)
    SyncRun.objects.filter(pk=run.pk).update(
        status=status,
        finished_at=timezone.now(),
        counts=counts,
        api_calls=total.total,
        changes=changes,
        seconds=seconds,
        errors=errors,
    )
    run.refresh_from_db()
    return run


def summary(run: SyncRun) -> dict[str, Any]:
    """The one-line JSON summary `manage.py sync_aws` prints (DESIGN.md)."""
    counts = run.counts or {}
    return {
        "accounts": counts.get("accounts", 0),
        "principals": counts.get("principals", 0),
        "entitlements": counts.get("entitlements", 0),
        "api_calls": run.api_calls,
        "changes": run.changes,
        "seconds": run.seconds,
        "errors": len(run.errors or []),
        "status": run.status,
        "run": run.pk,
    }
