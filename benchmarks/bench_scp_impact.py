"""Impact analysis of one SCP change over the ingest benchmark's inventory: target 30 s on 2 cores.

The inventory is bench_ingest's (1,000 accounts x 200 principals x 5 entitlements, recorded
authorization details, AWS managed documents from the emulator's copy) in an organization of ten OUs
with AWS's FullAWSAccess on every node and a baseline SCP on the root. The change request updates the
baseline to also deny deleting buckets, tables and KMS keys and terminating instances, so it reaches
every account. Timed: `governance.scp.impact.analyze`, the task's whole work (chains, principals,
entitlements, documents, usage), three times over the one ingest, each with the impact's own caches
(parsed statements, expanded patterns) emptied first; the median is reported, with each run's CPU
seconds (Python, PostgreSQL) and the load average.
PostgreSQL only, in a scratch database (`<name>_bench_scp`).

BENCH_SCP_ACCOUNTS / BENCH_SCP_PRINCIPALS shrink it for a quick look.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from benchmarks import bench_findings, bench_ingest
from benchmarks.fixtures import authorization_details as recorded
from governance.aws.readers.types import OrgAccount, OrgInfo, OrgSnapshot, OrgUnit, Scp, ScpTarget
from governance.inventory import services as inventory
from governance.inventory.models import Account

TARGET_SECONDS = 30
ROUNDS = 3
MANAGEMENT = "100000000000"
ORG = "o-benchmark0"
OUS = 10
BASELINE = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}],
}
PROPOSED = {
    "Version": "2012-10-17",
    "Statement": [
        *BASELINE["Statement"],
        {
            "Sid": "NoDestruction",
            "Effect": "Deny",
            "Action": ["s3:DeleteBucket", "dynamodb:DeleteTable", "kms:ScheduleKeyDeletion", "ec2:TerminateInstances"],
            "Resource": "*",
        },
    ],
}
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _org(accounts: int) -> OrgSnapshot:
    def arn(kind: str, ident: str) -> str:
        return f"arn:aws:organizations::{MANAGEMENT}:{kind}/{ORG}/{ident}"

    info = OrgInfo(ORG, f"arn:aws:organizations::{MANAGEMENT}:organization/{ORG}", "ALL", MANAGEMENT, "m@example.com")
    units = [OrgUnit(ou_id="r-bench", arn=arn("root", "r-bench"), name="Root", parent_id=None, is_root=True)]
    units += [OrgUnit(ou_id=f"ou-bench-{k:02d}", arn=arn("ou", f"ou-bench-{k:02d}"), name=f"Workloads {k}",
                      parent_id="r-bench") for k in range(OUS)]  # fmt: skip
    members = tuple(
        OrgAccount(
            account_id=recorded.account_id(i),
            arn=arn("account", recorded.account_id(i)),
            name=f"bench-{i}",
            email=f"bench-{i}@example.com",
            status="ACTIVE",
            joined_method="CREATED",
            joined_at=None,
            parent_id=f"ou-bench-{i % OUS:02d}",
        )
        for i in range(accounts)
    )
    everywhere = tuple(ScpTarget(u.ou_id, "ROOT" if u.is_root else "ORGANIZATIONAL_UNIT", u.name) for u in units)
    everywhere += tuple(ScpTarget(a.account_id, "ACCOUNT", a.name) for a in members)
    scps = (
        Scp("p-FullAWSAccess", "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
            "FullAWSAccess", "Allows access to every operation", True, FULL_ACCESS, everywhere),
        Scp("p-baseline01", arn("policy", "service_control_policy/p-baseline01"), "Baseline", "The baseline", False,
            BASELINE, (ScpTarget("r-bench", "ROOT", "Root"),)),
    )  # fmt: skip
    return OrgSnapshot(org=info, units=tuple(units), accounts=members, scps=scps)


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_scp_impact needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    accounts = int(os.environ.get("BENCH_SCP_ACCOUNTS", "1000"))
    principals = int(os.environ.get("BENCH_SCP_PRINCIPALS", "200"))
    files = sorted(recorded.ensure(accounts=accounts, principals=principals).glob("*.json"))[:accounts]
    load_at_start = _loadavg()
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_scp"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        now = datetime.now(UTC)
        inventory.ingest_organization(snapshot=_org(accounts), now=now)
        inventory.ingest_aws_managed_policies(
            policies=bench_findings._aws_managed(), now=now, index=inventory.PolicyIndex()
        )
        account_pks = dict(Account.objects.values_list("account_id", "id"))
        built = bench_ingest._ingest_all(files, account_pks, now)
        change = _change_request()

        from governance.scp import impact as impact_module

        runs = []
        steps: list[tuple[int, int]] = []
        for _ in range(ROUNDS):
            _forget_parsed(impact_module)
            steps.clear()
            cpu, backend = time.process_time(), bench_ingest._backend_cpu()
            started = time.perf_counter()
            impact = impact_module.analyze(change, progress=lambda done, total: steps.append((done, total)))
            runs.append(
                {
                    "seconds": round(time.perf_counter() - started, 2),
                    # CPU actually spent, which a machine busy with other work does not inflate.
                    "python_cpu_seconds": round(time.process_time() - cpu, 2),
                    "postgres_cpu_seconds": round(bench_ingest._backend_cpu() - backend, 2),
                    "loadavg": _loadavg(),
                }
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    median = statistics.median(r["seconds"] for r in runs)
    return {
        "accounts": accounts,
        "principals_per_account": principals,
        "principals": built["principals"],
        "entitlements": built["entitlements"],
        "ingest_seconds": built["seconds"],
        "impact": {
            "runs": runs,
            "median_seconds": median,
            "median_python_cpu_seconds": statistics.median(r["python_cpu_seconds"] for r in runs),
            "median_postgres_cpu_seconds": statistics.median(r["postgres_cpu_seconds"] for r in runs),
            "accounts_affected": impact["accounts_affected"],
            "principals_evaluated": impact["principals_evaluated"],
            "principals_losing": impact["principals_losing"],
            "accounts_losing": impact["accounts_losing"],
            "lost_services": impact["lost_services"],
            "used_recently_count": impact["used_recently_count"],
            "progress_reports": len(steps),
            "target_seconds": TARGET_SECONDS,
            "met": median <= TARGET_SECONDS,
        },
        "loadavg_at_start": load_at_start,
        "loadavg": _loadavg(),
        "cpu_count": os.cpu_count(),
    }


def _change_request():
    from governance.authz.models import User
    from governance.inventory.models import Policy
    from governance.scp.models import ChangeKind, ChangeRequest

    author = User.objects.create(username="bench.author", email="bench.author@example.com")
    policy = Policy.objects.get(aws_policy_id="p-baseline01")
    return ChangeRequest.objects.create(
        kind=ChangeKind.UPDATE,
        policy=policy,
        aws_policy_id=policy.aws_policy_id,
        name=policy.name,
        document=PROPOSED,
        document_text=json.dumps(PROPOSED),
        base_document=policy.document,
        base_hash=policy.document_hash,
        reason="Benchmark: deny destructive actions everywhere",
        author=author,
        author_name="bench",
    )


def _forget_parsed(impact_module) -> None:
    """Each run starts cold, as the first analysis in a fresh worker does: no parsed statements, no
    expanded action patterns kept from the run before."""
    impact_module._STATEMENTS.clear()
    for cached in (impact_module._expanded, impact_module._well_formed, impact_module._all_actions):
        cached.cache_clear()


def _loadavg() -> list[str] | None:
    path = Path("/proc/loadavg")
    return path.read_text().split()[:3] if path.exists() else None
