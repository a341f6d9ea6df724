"""Evidence export: 1,000,000 review items to items.csv + items.jsonl inside a signed, streamed zip.

Target: ≥ 100,000 rows/s with ≤ 50 MB of extra memory. The rows are made here, shaped as the
reviews app's item rows (22 columns: campaign, account, principal ARN/type/name, entitlement,
risk, reviewer, decider, decision, justification, times, remediation, AWS request id), some
hostile (`=HYPERLINK(...)`, `+`, `-`, `@` prefixes); the database read belongs to the reviews
selectors and is not in this figure. Each row is written twice (CSV with every cell made
spreadsheet-safe, and JSONL), hashed and deflated, and the zip goes to a file. Memory is the
growth of the process's peak RSS over the run (`ru_maxrss`), measured in a fresh subprocess.
BENCH_EVIDENCE_ITEMS changes the size; wall clock with CPU time beside it, and the load average.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TARGET_ROWS_PER_SECOND = 100_000
TARGET_EXTRA_MB = 50

_CHILD = r"""
import os, resource, sys, tempfile, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from django.test import override_settings
from governance.audit import signing
from governance.audit.spreadsheet import csv_chunks
from governance.evidence.package import PackageFile, PackageResult, jsonl_chunks, stream_package

items = int(sys.argv[1])
HEADER = ["campaign_id", "campaign_name", "account_id", "account_name", "principal_arn", "principal_type",
          "principal_name", "policy_arn", "policy_name", "held_via", "risk", "recommendation", "reviewer",
          "decided_by", "decision", "justification", "decided_at", "bulk", "remediation", "status",
          "aws_request_id", "verified_at"]
NAMES = ["deploy", "=HYPERLINK(\"http://x\")", "+admin", "-ops", "@team", "ci-runner", "analyst"]

def rows():
    for n in range(items):
        account = f"{100000000000 + n % 1000}"
        name = NAMES[n % 7]
        yield [42, "Q4 2026 access review", account, f"acct-{n % 1000}", f"arn:aws:iam::{account}:role/{name}-{n}",
               "role", f"{name}-{n}", "arn:aws:iam::aws:policy/AdministratorAccess", "AdministratorAccess",
               "attached", n % 5, "revoke" if n % 3 else "keep", "maria.manager@example.com",
               "maria.manager@example.com", "revoke" if n % 3 else "keep", "no longer needed — ticket 4711",
               "2026-12-01T10:00:00.000000Z", n % 2 == 0, "detach_policy", "verified", f"req-{n:012d}",
               "2026-12-01T11:00:00.000000Z"]

def dict_rows():
    for row in rows():
        yield dict(zip(HEADER, row))

with tempfile.TemporaryDirectory() as tmp:
    key = os.path.join(tmp, "k.pem")
    signing.generate_key_file(__import__("pathlib").Path(key))
    with override_settings(SIGNING_KEY_FILE=key, SIGNING_KEY_ID="bench"):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        files = [PackageFile("items.csv", lambda: csv_chunks(HEADER, rows())),
                 PackageFile("items.jsonl", lambda: jsonl_chunks(dict_rows()))]
        result = PackageResult()
        wall, cpu = time.perf_counter(), time.process_time()
        with open(os.path.join(tmp, "out.zip"), "wb") as out:
            for chunk in stream_package(files, subject={"type": "campaign", "id": 42}, result=result):
                out.write(chunk)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(__import__("json").dumps({"seconds": wall, "cpu_seconds": cpu, "extra_kb": after - before,
                                "zip_bytes": result.size, "csv_bytes": result.files[0].size,
                                "jsonl_bytes": result.files[1].size}))
"""


def run() -> dict:
    items = int(os.environ.get("BENCH_EVIDENCE_ITEMS", "1000000"))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(items)], cwd=root, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rows_per_second = items / figures["seconds"]
    extra_mb = figures["extra_kb"] / 1024
    return {
        "items": items,
        "seconds": round(figures["seconds"], 2),
        "cpu_seconds": round(figures["cpu_seconds"], 2),
        "rows_per_second": round(rows_per_second),
        "rows_per_cpu_second": round(items / figures["cpu_seconds"]),
        "extra_memory_mb": round(extra_mb, 1),
        "zip_mb": round(figures["zip_bytes"] / 2**20, 1),
        "csv_mb": round(figures["csv_bytes"] / 2**20, 1),
        "jsonl_mb": round(figures["jsonl_bytes"] / 2**20, 1),
        "target_rows_per_second": TARGET_ROWS_PER_SECOND,
        "target_extra_memory_mb": TARGET_EXTRA_MB,
        "met": rows_per_second >= TARGET_ROWS_PER_SECOND and extra_mb <= TARGET_EXTRA_MB,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
