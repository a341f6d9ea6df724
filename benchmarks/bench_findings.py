"""Findings: every rule over the ingest benchmark's 1,000 accounts x 200 principals, and after 1% changed.

The inventory is built as bench_ingest builds it (the same recorded authorization details, the same
ingest), plus the AWS managed policies those accounts attach, with their documents (moto's copy of
AWS's). Then, each three times, median reported:

- (d) `services.evaluate()` from nothing: every rule, every account, every finding inserted, with
  the in-process document cache and the lint cache emptied first. Target 30 s. The CPU seconds beside
  the wall time count this process (all threads) and PostgreSQL: this connection's backend and the
  evaluation's writer connection's (services writes on a thread of its own). Beside them, a floor:
  the same findings copied by one bare CREATE TABLE AS.
- (e) 1% of the accounts change (a new console user without MFA holding an old access key, and a
  changed inline policy in each), are re-ingested, and `evaluate(account_ids=changed)` runs, as the
  after-sync step does. Target 3 s.
- cloudsplaining 0.9.1 (requirements-dev.txt) scanning the same accounts' authorization-details JSON
  (AWS managed policies included, as AWS returns them), in this process, one account after another
  as its CLI does. It takes about a second per account, so it scans a sample
  (BENCH_FINDINGS_CLOUDSPLAINING_ACCOUNTS, default 10) and the portal evaluates the same sample too:
  the ratio is measured on the same accounts, and the projection to all accounts is reported beside it.

PostgreSQL only, in a scratch database (`<name>_bench_findings`) created and dropped here.
BENCH_FINDINGS_ACCOUNTS / BENCH_FINDINGS_PRINCIPALS shrink it.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from benchmarks import bench_ingest
from benchmarks.fixtures import authorization_details as recorded
from governance.aws.readers.iam import account_iam_from, parse_credential_report
from governance.aws.readers.types import ManagedPolicy, PasswordPolicyInfo
from governance.findings import analysis, rules, services
from governance.findings.models import EvaluationRun, Finding, FindingEvent, LintCache, Suppression
from governance.inventory import services as inventory
from governance.inventory.models import Account

TARGET_FULL_SECONDS = 30
TARGET_CHANGED_SECONDS = 3
ROUNDS = 3
CLOUDSPLAINING_CHECKS = (
    "PrivilegeEscalation",
    "DataExfiltration",
    "ResourceExposure",
    "InfrastructureModification",
    "CredentialsExposure",
    "ServiceWildcard",
    "ServicesAssumable (trust policies)",
)


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_findings needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    accounts = int(os.environ.get("BENCH_FINDINGS_ACCOUNTS", "1000"))
    principals = int(os.environ.get("BENCH_FINDINGS_PRINCIPALS", "200"))
    sample = min(accounts, int(os.environ.get("BENCH_FINDINGS_CLOUDSPLAINING_ACCOUNTS", "10")))
    files = sorted(recorded.ensure(accounts=accounts, principals=principals).glob("*.json"))[:accounts]

    load_at_start = _loadavg()
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_findings"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    writer = _WriterBackend()
    try:
        now = datetime.now(UTC)
        inventory.ingest_organization(snapshot=bench_ingest._org(accounts), now=now)
        inventory.ingest_aws_managed_policies(policies=_aws_managed(), now=now, index=inventory.PolicyIndex())
        account_pks = dict(Account.objects.values_list("account_id", "id"))
        built = bench_ingest._ingest_all(files, account_pks, now)

        full = []
        for _ in range(ROUNDS):
            _forget_findings()
            cpu, backend = time.process_time(), bench_ingest._backend_cpu()
            writer.cpu = 0.0
            started = time.perf_counter()
            evaluation = services.evaluate()
            full.append(
                {
                    "seconds": round(time.perf_counter() - started, 2),
                    # CPU actually spent, which a machine busy with other work does not inflate: this
                    # process's (every thread) and PostgreSQL's (this connection's backend and the
                    # writer thread's).
                    "python_cpu_seconds": round(time.process_time() - cpu, 2),
                    "postgres_cpu_seconds": round(bench_ingest._backend_cpu() - backend + writer.cpu, 2),
                    "postgres_writer_cpu_seconds": round(writer.cpu, 2),
                    "open": evaluation.open,
                    "new": evaluation.new,
                }
            )
        by_rule = evaluation.by_rule
        floor = _bare_copy_floor()

        changed_ids = [p.stem for p in files[:: max(1, len(files) // max(1, accounts // 100))]][
            : max(1, accounts // 100)
        ]
        changed = []
        for round_number in range(ROUNDS):
            _change(files, changed_ids, account_pks, round_number)
            cpu, backend = time.process_time(), bench_ingest._backend_cpu()
            writer.cpu = 0.0
            started = time.perf_counter()
            evaluation = services.evaluate(account_ids=changed_ids, organization=False)
            changed.append(
                {
                    "seconds": round(time.perf_counter() - started, 2),
                    "python_cpu_seconds": round(time.process_time() - cpu, 2),
                    "postgres_cpu_seconds": round(bench_ingest._backend_cpu() - backend + writer.cpu, 2),
                    "postgres_writer_cpu_seconds": round(writer.cpu, 2),
                    "new": evaluation.new,
                    "resolved": evaluation.resolved,
                    "accounts": evaluation.accounts,
                }
            )

        sample_files = files[:sample]
        portal_sample = []
        for _ in range(ROUNDS):
            _forget_findings()
            started = time.perf_counter()
            services.evaluate(account_ids=[p.stem for p in sample_files], organization=False)
            portal_sample.append(round(time.perf_counter() - started, 2))
        cloudsplaining = _cloudsplaining(sample_files)
    finally:
        writer.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    full_median = statistics.median(r["seconds"] for r in full)
    changed_median = statistics.median(r["seconds"] for r in changed)
    portal_sample_median = statistics.median(portal_sample)
    result = {
        "accounts": accounts,
        "principals_per_account": principals,
        "rules": len(rules.all_rules()),
        "inventory": {
            "principals": built["principals"],
            "entitlements": built["entitlements"],
            "ingest_seconds": built["seconds"],
        },
        "full_evaluation": {
            "runs": full,
            "median_seconds": full_median,
            "target_seconds": TARGET_FULL_SECONDS,
            "met": full_median <= TARGET_FULL_SECONDS,
            "open_by_rule": by_rule,
            "floor_bare_copy": floor,
        },
        "one_percent_changed": {
            "changed_accounts": len(changed_ids),
            "runs": changed,
            "median_seconds": changed_median,
            "target_seconds": TARGET_CHANGED_SECONDS,
            "met": changed_median <= TARGET_CHANGED_SECONDS,
        },
        # The machine's load beside the wall-clock figures: on a shared machine they stretch with it,
        # the CPU seconds do not (much).
        "loadavg_at_start": load_at_start,
        "loadavg": _loadavg(),
        "cpu_count": os.cpu_count(),
    }
    if cloudsplaining is not None:
        per_account = cloudsplaining["median_seconds"] / len(sample_files)
        result["cloudsplaining"] = {
            **cloudsplaining,
            "sample_accounts": len(sample_files),
            "portal_same_accounts_seconds": {"runs": portal_sample, "median": portal_sample_median},
            "ratio_same_accounts": round(cloudsplaining["median_seconds"] / portal_sample_median, 1)
            if portal_sample_median
            else None,
            "projected_all_accounts_seconds": round(per_account * accounts, 1),
            "ratio_projected_all_accounts": round(per_account * accounts / full_median, 1) if full_median else None,
            "target_ratio": 10,
            "portal_checks": len(rules.all_rules()),
            "cloudsplaining_checks": list(CLOUDSPLAINING_CHECKS),
        }
    else:
        result["cloudsplaining"] = {"skipped": "not installed: pip install -r requirements-dev.txt"}
    return result


def _loadavg() -> list[str] | None:
    return Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None


class _WriterBackend:
    """The CPU seconds of the connection `services.evaluate` writes on (its writer thread's, on
    PostgreSQL outside a transaction), which closes with its thread: read by wrapping `services._write`."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._write = services._write

        def measured(*args, **kwargs):
            before = bench_ingest._backend_cpu()
            try:
                return self._write(*args, **kwargs)
            finally:
                self.cpu += bench_ingest._backend_cpu() - before

        services._write = measured

    def stop(self) -> None:
        services._write = self._write


def _bare_copy_floor() -> dict:
    """A floor for the database's share: the evaluation's findings copied by one CREATE TABLE AS (no
    indexes, no reference checks, no parsing), timed and its backend CPU counted, then dropped."""
    table = connection.ops.quote_name(Finding._meta.db_table)
    with connection.cursor() as cursor:
        backend, started = bench_ingest._backend_cpu(), time.perf_counter()
        cursor.execute(f"CREATE TABLE bench_findings_floor AS SELECT * FROM {table}")  # noqa: S608
        seconds = time.perf_counter() - started
        cpu = bench_ingest._backend_cpu() - backend
        cursor.execute("DROP TABLE bench_findings_floor")
    return {"seconds": round(seconds, 2), "postgres_cpu_seconds": round(cpu, 2)}


def _forget_findings() -> None:
    tables = ", ".join(m._meta.db_table for m in (Suppression, FindingEvent, Finding, EvaluationRun, LintCache))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")
    analysis.ANALYZER._facts.clear()


def _aws_managed() -> tuple[ManagedPolicy, ...]:
    """The AWS managed policies the recorded accounts attach, with AWS's documents (moto's copy),
    under the ARNs the recording uses."""
    from moto.iam.models import aws_managed_policies_data

    data = json.loads(aws_managed_policies_data)
    return tuple(
        ManagedPolicy(
            arn=f"arn:aws:iam::aws:policy/{name}",
            name=name,
            path="/",
            policy_id=f"ANPA{name.upper()[:17]}",
            default_version_id=data[name]["DefaultVersionId"],
            document=data[name]["Document"],
            attachment_count=None,
            description="",
            created=None,
            updated=None,
        )
        for name in recorded.AWS_MANAGED
    )


def _change(files: list[Path], account_ids: list[str], account_pks: dict[str, int], round_number: int) -> None:
    """Change each account a little (as a sync would find it) and ingest it again."""
    items = []
    for path in files:
        if path.stem not in account_ids:
            continue
        record = json.loads(path.read_bytes())
        details = record["details"]
        name = f"changed-{round_number}"
        arn = f"arn:aws:iam::{path.stem}:user/{name}"
        details["UserDetailList"].append(
            {
                "Path": "/",
                "UserName": name,
                "UserId": f"AIDACHANGED{round_number}",
                "Arn": arn,
                "CreateDate": recorded._iso(400),
                "UserPolicyList": [],
                "GroupList": [],
                "AttachedManagedPolicies": [],
                "Tags": [],
            }
        )
        details["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"].append(
            f"s3:GetObjectVersion{round_number}"
        )
        report = (
            record["credential_report"].rstrip("\n")
            + "\n"
            + (
                f"{name},{arn},{recorded._iso(400)},true,{recorded._iso(1)},{recorded._iso(300)},N/A,false,true,"
                f"{recorded._iso(300)},{recorded._iso(2)},us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
            )
        )
        iam = account_iam_from(
            path.stem,
            details=details,
            credential_report=parse_credential_report(report),
            generated_at=record["credential_report_generated"],
            password_policy=PasswordPolicyInfo(configured=True, raw=record["password_policy"]),
            digest=f"changed-{round_number}",
        )
        items.append((iam, account_pks[path.stem]))
    inventory.plan_accounts_iam(items=items, now=datetime.now(UTC), index=inventory.PolicyIndex()).write()


def _cloudsplaining(files: list[Path]) -> dict | None:
    try:
        from cloudsplaining.command.scan import scan_account_authorization_details
        from cloudsplaining.shared.exclusions import DEFAULT_EXCLUSIONS_CONFIG, Exclusions
    except ImportError:
        return None
    import contextlib
    import io

    exclusions = Exclusions(DEFAULT_EXCLUSIONS_CONFIG)
    managed = [
        {
            "PolicyName": p.name,
            "PolicyId": p.policy_id,
            "Arn": p.arn,
            "Path": "/",
            "DefaultVersionId": p.default_version_id,
            "AttachmentCount": 1,
            "IsAttachable": True,
            "PolicyVersionList": [
                {"Document": p.document, "VersionId": p.default_version_id, "IsDefaultVersion": True}
            ],
        }
        for p in _aws_managed()
    ]
    inputs = []
    for path in files:
        details = json.loads(path.read_bytes())["details"]
        details["Policies"] = details["Policies"] + managed
        inputs.append((path.stem, details))
    runs = []
    findings = 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for account_id, details in inputs:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                results = scan_account_authorization_details(details, exclusions, account_id, None, False, True, True)
            findings = len(results.get("policies", {}))
        runs.append(round(time.perf_counter() - started, 2))
    return {"runs": runs, "median_seconds": statistics.median(runs), "policies_reported_last_account": findings}
