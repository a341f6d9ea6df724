"""(b) and (c): ingest recorded IAM data for 1,000 accounts x 200 principals x 5 entitlements.

No emulator: the recorded authorization details (benchmarks/fixtures/authorization_details.py)
are read in worker processes one batch ahead of the ingest (as the sync reads accounts on worker
threads while it ingests): the snapshot digest of the raw JSON first, and only when it differs
from the account's stored `iam_digest` the IAM reader's own `account_iam_from`. They are ingested
as the sync does, 25 accounts a batch: `services.plan_accounts_iam` here, the write on
`services.WriteBehind`'s thread while the next batch is planned. Runs on PostgreSQL only,
in a scratch database (`<name>_bench_ingest`) created and dropped here, so nothing touches the
configured database's data.

(b) first ingest into empty tables: target 60 s. (c) the same data again: target 15 s, zero rows
written, checked both by the ingest's own change count and by PostgreSQL's row counters.

BENCH_INGEST_ACCOUNTS / BENCH_INGEST_PRINCIPALS shrink it for a quick look; BENCH_INGEST_READERS sets
the reader processes (default: one per core).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from benchmarks.fixtures import authorization_details as recorded
from governance.aws.readers.iam import account_iam_from, parse_credential_report, raw_iam_counts, snapshot_digest
from governance.aws.readers.types import AccountIam, OrgAccount, OrgInfo, OrgSnapshot, OrgUnit, PasswordPolicyInfo
from governance.inventory import services
from governance.inventory.models import Account

TARGET_FIRST_SECONDS = 60
TARGET_AGAIN_SECONDS = 15
# Accounts ingested per transaction, as the sync batches the accounts that finish reading together.
BATCH = int(os.environ.get("BENCH_INGEST_BATCH", "25"))
# BENCH_INGEST_FAST_PATH=0 measures the full row-by-row comparison instead of the digest skip.
FAST_PATH = os.environ.get("BENCH_INGEST_FAST_PATH", "1") != "0"
# Processes reading the recorded files (JSON, digest, dataclasses) ahead of the ingest.
WORKERS = int(os.environ.get("BENCH_INGEST_READERS", str(os.cpu_count() or 1)))


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_ingest needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    accounts = int(os.environ.get("BENCH_INGEST_ACCOUNTS", "1000"))
    principals = int(os.environ.get("BENCH_INGEST_PRINCIPALS", "200"))
    started = time.perf_counter()
    data = recorded.ensure(accounts=accounts, principals=principals)
    generate_seconds = time.perf_counter() - started
    files = sorted(data.glob("*.json"))[:accounts]

    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_ingest"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        now = datetime.now(UTC)
        services.ingest_organization(snapshot=_org(accounts), now=now)
        account_pks = dict(Account.objects.values_list("account_id", "id"))
        first = _ingest_all(files, account_pks, now)
        again = _ingest_all(files, account_pks, datetime.now(UTC))
        rows = _table_rows()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return {
        "accounts": accounts,
        "principals_per_account": principals,
        "principals": first["principals"],
        "entitlements": first["entitlements"],
        "first_ingest": {
            **first,
            "target_seconds": TARGET_FIRST_SECONDS,
            "met": first["seconds"] <= TARGET_FIRST_SECONDS,
        },
        "unchanged_reingest": {
            **again,
            "target_seconds": TARGET_AGAIN_SECONDS,
            "met": again["seconds"] <= TARGET_AGAIN_SECONDS and again["changes"] == 0 and again["rows_written"] == 0,
        },
        "table_rows": rows,
        "digest_fast_path": FAST_PATH,
        "fixture_seconds": round(generate_seconds, 2),
        "cpu_count": os.cpu_count(),
    }


def _org(accounts: int) -> OrgSnapshot:
    info = OrgInfo(
        org_id="o-benchmark0",
        arn="arn:aws:organizations::100000000000:organization/o-benchmark0",
        feature_set="ALL",
        management_account_id="100000000000",
        management_account_email="management@example.com",
    )
    root = OrgUnit(ou_id="r-bench", arn="arn:aws:organizations::100000000000:root/o-benchmark0/r-bench", name="Root",
                   parent_id=None, is_root=True)  # fmt: skip
    members = tuple(
        OrgAccount(
            account_id=recorded.account_id(i),
            arn=f"arn:aws:organizations::100000000000:account/o-benchmark0/{recorded.account_id(i)}",
            name=f"bench-{i}",
            email=f"bench-{i}@example.com",
            status="ACTIVE",
            joined_method="CREATED",
            joined_at=None,
            parent_id="r-bench",
        )
        for i in range(accounts)
    )
    return OrgSnapshot(org=info, units=(root,), accounts=members, scps=())


def _written() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE relname LIKE 'inventory\\_%%' AND relname NOT LIKE 'inventory\\_sync%%'"
        )
        return int(cursor.fetchone()[0])


def _read(path: Path, stored_digest: str) -> tuple[str, AccountIam | None, dict[str, int]]:
    """One recorded account, read in a worker process: (account id, its IAM or None, counts).

    The snapshot digest is computed from the raw JSON first; an account whose digest matches the
    stored one is not parsed into dataclasses at all (its counts come from the raw read), which
    is what an unchanged re-sync costs.
    """
    record = json.loads(path.read_bytes())
    details, report, policy = record["details"], record["credential_report"], record["password_policy"]
    digest = snapshot_digest(details, report, policy) if FAST_PATH else ""
    if digest and digest == stored_digest:
        return record["account_id"], None, raw_iam_counts(details, report)
    iam = account_iam_from(
        record["account_id"],
        details=details,
        credential_report=parse_credential_report(report),
        generated_at=record["credential_report_generated"],
        password_policy=PasswordPolicyInfo(configured=True, raw=policy),
        digest=digest,
    )
    return record["account_id"], iam, {}


def _ingest_all(files, account_pks: dict[str, int], now: datetime) -> dict:
    index = services.PolicyIndex()
    before = _written()
    parse_wait = 0.0
    changes = principals = entitlements = skipped = 0
    backend = _backend_cpu()
    cpu = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    batches = [files[start : start + BATCH] for start in range(0, len(files), BATCH)]
    written = []
    # Reading (JSON, digest, dataclasses) runs in worker processes one batch ahead of the ingest,
    # as the sync reads accounts on worker threads while it ingests the ones already read; each
    # batch is planned here and written by the sync's write-behind thread while the next is planned.
    with (
        ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("fork")) as pool,
        services.WriteBehind() as writer,
    ):

        def submit(batch):
            stored = services.stored_iam_digests(account_pks[p.stem] for p in batch)
            return [pool.submit(_read, p, stored.get(account_pks[p.stem], "")) for p in batch]

        ahead = submit(batches[0]) if batches else []
        for i in range(len(batches)):
            current, ahead = ahead, (submit(batches[i + 1]) if i + 1 < len(batches) else [])
            t0 = time.perf_counter()
            reads = [future.result() for future in current]
            parse_wait += time.perf_counter() - t0
            unchanged = [services.IngestResult(counts=counts) for _id, iam, counts in reads if iam is None]
            skipped += len(unchanged)
            written.append(unchanged)
            items = [(iam, account_pks[account_id]) for account_id, iam, _counts in reads if iam is not None]
            written.append(writer.submit(services.plan_accounts_iam(items=items, now=now, index=index)))
        writer.drain()
        # The writer's own connection does most of the database work; its backend is new, so
        # everything it used was this ingest's.
        writer_backend = writer.call(_backend_cpu) if writer.background else 0.0
    for outcome in written:
        for result in outcome if isinstance(outcome, list) else outcome.result().values():
            changes += result.changes
            principals += result.counts["principals"]
            entitlements += result.counts["entitlements"]
    seconds = time.perf_counter() - started
    python_cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    postgres_cpu = _backend_cpu() - backend + writer_backend
    time.sleep(0.5)
    return {
        "seconds": round(seconds, 2),
        # CPU actually spent, which a busy machine does not inflate (the process's threads, the
        # reader processes, both database connections' backends).
        "python_cpu_seconds": round(python_cpu, 2),
        "reader_workers_cpu_seconds": round(worker_cpu, 2),
        "postgres_cpu_seconds": round(postgres_cpu, 2),
        # Time the ingest waited for the reader processes (reading overlaps the previous batch).
        "parse_wait_seconds": round(parse_wait, 2),
        "reader_workers": WORKERS,
        "batch_accounts": BATCH,
        "accounts_unchanged_by_digest": skipped,
        "changes": changes,
        "rows_written": _written() - before,
        "principals": principals,
        "entitlements": entitlements,
    }


def _backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same host only)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _table_rows() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in ("inventory_principal", "inventory_entitlement", "inventory_policy", "inventory_policy_version"):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
        return counts
