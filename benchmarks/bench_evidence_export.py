"""Evidence export: a campaign's 1,000,000 review items to items.csv + items.jsonl inside a signed, streamed zip.

Target: ≥ 100,000 rows/s with ≤ 50 MB of extra memory, the database read included. A scratch
database (`<name>_bench_evidence`, created and dropped here) gets one campaign whose items are
made by one INSERT .. SELECT, shaped as a launch makes them (every column; principal names and
justifications some hostile: `=HYPERLINK(...)`, `+`, `-`, `@`, quotes, commas, non-ASCII; a third
revoked, with times and the person who decided, whom both files name by e-mail), then closed: its
items locked and the heads of their items.jsonl lines written (`evidence.write_heads`, as
close_campaign does; its time is `close_heads_seconds`). Timed in a fresh
subprocess: the campaign source's items.csv and items.jsonl (on PostgreSQL made by the server and
read with COPY: governance/reviews/evidence_sql.py) streamed through `stream_package`, hashed and
deflated, to a file. Memory is the growth of the subprocess's peak RSS over the run (`ru_maxrss`).
Wall clock with the CPU seconds of the subprocess and of every PostgreSQL backend of the scratch
database beside it (its parallel query workers too, sampled from /proc as bench_audit_verify
does), and the load average. The floors, in the same subprocess after it: a bare COPY of the
items' columns as they are, read to nowhere, and deflate level 1, SHA-256 and CRC-32 over the
very bytes of the two files (deflate and CRC-32 by ISA-L when installed, as the export's:
`deflate` says which). BENCH_EVIDENCE_ITEMS changes the size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

TARGET_ROWS_PER_SECOND = 100_000
TARGET_EXTRA_MB = 50

_CHILD = r"""
import os, resource, sys, tempfile, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from django.test import override_settings
from benchmarks.bench_audit_verify import _cost
from django.db import connection as _connection
from governance.audit import signing
from governance.evidence.package import PackageFile, PackageResult, stream_package
from governance.reviews import evidence
from governance.reviews.models import Campaign

campaign = Campaign.objects.get(pk=int(sys.argv[1]))
with tempfile.TemporaryDirectory() as tmp:
    key = os.path.join(tmp, "k.pem")
    signing.generate_key_file(__import__("pathlib").Path(key))
    with override_settings(SIGNING_KEY_FILE=key, SIGNING_KEY_ID="bench"):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        files = evidence._item_files(campaign)
        result = PackageResult()
        with _cost(_connection.settings_dict["NAME"]) as cost, open(os.path.join(tmp, "out.zip"), "wb") as out:
            for chunk in stream_package(files, subject={"type": "campaign", "id": campaign.pk}, result=result):
                out.write(chunk)
        wall, cpu, backend = cost["seconds"], cost["cpu_seconds"], cost["postgres_cpu_seconds"]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        floors = _floors(campaign, os.path.join(tmp, "out.zip"))
print(__import__("json").dumps({"seconds": wall, "cpu_seconds": cpu, "postgres_cpu_seconds": backend,
                                "extra_kb": after - before, "zip_bytes": result.size,
                                "jsonl_bytes": result.files[0].size, "csv_bytes": result.files[1].size, **floors}))
"""

# The floors, timed in the same subprocess after the export: a bare COPY of the items' columns as
# they are (items.jsonl's, then items.csv's with the decider's email) read to nowhere, and deflate
# level 1, SHA-256 and CRC-32 over the very bytes of items.jsonl and items.csv (inflated from the zip).
_FLOORS = r"""
def _floors(campaign, zip_path):
    import hashlib, zipfile
    from governance.evidence import zipstream
    from django.db import connection, transaction
    from governance.reviews.models import ReviewItem
    users = ReviewItem._meta.get_field("decided_by").related_model._meta.db_table
    selects = [
        "SELECT i.* FROM reviews_item i WHERE i.campaign_id = %s ORDER BY i.id",
        "SELECT " + ", ".join(e for e, _ in evidence._csv_columns())
        + f' FROM reviews_item i LEFT JOIN "{users}" u ON u.id = i.decided_by_id'
        + " WHERE i.campaign_id = %s ORDER BY i.id",
    ]
    with _cost(connection.settings_dict["NAME"]) as cost, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        for select in selects:
            with cursor.cursor.copy(f"COPY ({select}) TO STDOUT", [campaign.pk]) as copy:
                for _ in copy:
                    pass
    copy_wall, copy_cpu, copy_backend = cost["seconds"], cost["cpu_seconds"], cost["postgres_cpu_seconds"]
    spent = {"deflate": 0.0, "sha256": 0.0, "crc32": 0.0}
    with zipfile.ZipFile(zip_path) as archive:
        for name in ("items.jsonl", "items.csv"):
            module = zipstream._deflate  # what the export deflates with: ISA-L, or zlib without it
            deflate, digest, crc = module.compressobj(zipstream.LEVEL, module.DEFLATED, -15), hashlib.sha256(), 0
            with archive.open(name) as entry:
                while chunk := entry.read(256 * 1024):
                    started = time.process_time()
                    deflate.compress(chunk)
                    spent["deflate"] += time.process_time() - started
                    started = time.process_time()
                    digest.update(chunk)
                    spent["sha256"] += time.process_time() - started
                    started = time.process_time()
                    crc = module.crc32(chunk, crc)
                    spent["crc32"] += time.process_time() - started
            deflate.flush()
    return {"floor_copy_seconds": copy_wall, "floor_copy_cpu_seconds": copy_cpu,
            "floor_copy_postgres_cpu_seconds": copy_backend,
            "deflate": zipstream.DEFLATE, **{f"floor_{name}_cpu_seconds": seconds for name, seconds in spent.items()}}
"""

# Per column of reviews_item, what the INSERT .. SELECT writes (n: generate_series); others get a default by type.
_VALUES = {
    "kind": "'role_policy'",
    "source_id": "n",
    "aws_account_id": "(100000000000 + n % 1000)::text",
    "account_name": "'acct-' || n % 1000",
    "principal_arn": "'arn:aws:iam::' || (100000000000 + n % 1000) || ':role/' || (ARRAY['deploy', '=HYPERLINK(\"http://x\")', '+admin', '-ops', '@team', 'ci, \"runner\"', 'analyst'])[1 + n % 7] || '-' || n",  # noqa: E501
    "principal_name": "(ARRAY['deploy', '=HYPERLINK(\"http://x\")', '+admin', '-ops', '@team', 'ci, \"runner\"', 'analyst'])[1 + n % 7] || '-' || n",  # noqa: E501
    "principal_kind": "'role'",
    "target_name": "'AdministratorAccess'",
    "target_arn": "'arn:aws:iam::aws:policy/AdministratorAccess'",
    "via": "'attached'",
    "last_used": "CASE WHEN n % 4 = 0 THEN NULL ELSE timestamptz '2026-11-01 08:00:00+00' + n * interval '1 ms' END",
    "risk": "(ARRAY['low', 'medium', 'high'])[1 + n % 3]",
    "recommendation": "CASE WHEN n % 3 = 0 THEN 'keep' ELSE 'revoke' END",
    "recommendation_reason": "'unused for 120 days'",
    "reviewer_email": "'maria.manager@example.com'",
    "routed_by": "'owner'",
    "decision": "CASE WHEN n % 3 = 0 THEN 'revoke' ELSE '' END",
    "justification": "CASE WHEN n % 3 = 0 THEN 'Zugriff nicht mehr nötig — ticket ' || n ELSE '' END",
    "decided_at": "CASE WHEN n % 3 = 0 THEN timestamptz '2026-12-01 10:00:00+00' + n * interval '1 ms' END",
    "decided_by_id": "CASE WHEN n % 3 = 0 THEN {decider} END",  # the person: both files name them by e-mail
    "remediation_status": "CASE WHEN n % 3 = 0 THEN 'verified' ELSE '' END",
    "remediation_request_id": "CASE WHEN n % 3 = 0 THEN 'req-' || lpad(n::text, 12, '0') ELSE '' END",
    "verified_at": "CASE WHEN n % 3 = 0 THEN timestamptz '2026-12-01 11:00:00+00' + n * interval '1 ms' END",
    "locked": "true",  # closed: every item locked, as close_campaign leaves them
    "context": 'CASE WHEN n % 10 = 0 THEN \'{"aws_hints": {"services": ["s3", "iam"], "days": 120}}\' ELSE \'{}\' END::jsonb',  # noqa: E501
}


def _make_campaign(items: int) -> int:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from governance.reviews import evidence
    from governance.reviews.models import Campaign, CampaignTemplate, ReviewItem

    decider = get_user_model().objects.create(username="maria.manager", email="maria.manager@example.com")
    template = CampaignTemplate.objects.create(name="bench-evidence", fallback_reviewer="fallback@example.com")
    campaign = Campaign.objects.create(
        template=template, name="Q4 2026 access review", period="2026-Q4", launched_at=timezone.now(),
        due_at=timezone.now(), attestation="I reviewed these.", close_action="keep_and_flag",
        remediation_mode="manual", item_count=items,
    )  # fmt: skip
    columns, values = [], []
    for field in ReviewItem._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(f'"{field.column}"')
        if field.name == "campaign":
            values.append(str(campaign.pk))
        elif field.column in _VALUES:
            values.append(_VALUES[field.column].replace("{decider}", str(decider.pk)))
        elif field.null:
            values.append("NULL")
        elif field.get_internal_type() == "BooleanField":
            values.append("false")
        elif field.get_internal_type() in {"CharField", "TextField"}:
            values.append("''")
        else:
            values.append("0")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO reviews_item ({', '.join(columns)}) SELECT {', '.join(values)}"  # noqa: S608
            f" FROM generate_series(1, {int(items)}) AS n"
        )
        cursor.execute("ANALYZE reviews_item")
    # Closed as close_campaign closes it: the status, then the heads of the items.jsonl lines
    # (evidence.write_heads, timed: what the close pays for the export's speed).
    Campaign.objects.filter(pk=campaign.pk).update(status="closed", closed_at=timezone.now())
    campaign.refresh_from_db()
    started = time.perf_counter()
    heads = evidence.write_heads(campaign)
    seconds = time.perf_counter() - started
    if heads != items:
        raise RuntimeError(f"write_heads wrote {heads} heads for {items} items")
    return campaign.pk, seconds


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_evidence_export needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    items = int(os.environ.get("BENCH_EVIDENCE_ITEMS", "1000000"))
    root = Path(__file__).resolve().parents[1]
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_evidence"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        campaign_id, heads_seconds = _make_campaign(items)
        url = urlsplit(os.environ["DATABASE_URL"])
        child_url = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
        done = subprocess.run(
            [sys.executable, "-c", _FLOORS + _CHILD, str(campaign_id)], cwd=root, capture_output=True, text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(root), "DATABASE_URL": child_url},
        )  # fmt: skip
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rows_per_second = items / figures["seconds"]
    extra_mb = figures["extra_kb"] / 1024
    return {
        "items": items,
        "seconds": round(figures["seconds"], 2),
        "cpu_seconds": round(figures["cpu_seconds"], 2),
        "postgres_cpu_seconds": round(figures["postgres_cpu_seconds"], 2),
        "rows_per_second": round(rows_per_second),
        "rows_per_cpu_second": round(items / (figures["cpu_seconds"] + figures["postgres_cpu_seconds"])),
        "extra_memory_mb": round(extra_mb, 1),
        "zip_mb": round(figures["zip_bytes"] / 2**20, 1),
        "csv_mb": round(figures["csv_bytes"] / 2**20, 1),
        "jsonl_mb": round(figures["jsonl_bytes"] / 2**20, 1),
        "close_heads_seconds": round(heads_seconds, 2),
        "floor_copy_seconds": round(figures["floor_copy_seconds"], 2),
        "floor_copy_cpu_seconds": round(figures["floor_copy_cpu_seconds"], 2),
        "floor_copy_postgres_cpu_seconds": round(figures["floor_copy_postgres_cpu_seconds"], 2),
        "deflate": figures["deflate"],
        "floor_deflate_cpu_seconds": round(figures["floor_deflate_cpu_seconds"], 2),
        "floor_sha256_cpu_seconds": round(figures["floor_sha256_cpu_seconds"], 2),
        "floor_crc32_cpu_seconds": round(figures["floor_crc32_cpu_seconds"], 2),
        "target_rows_per_second": TARGET_ROWS_PER_SECOND,
        "target_extra_memory_mb": TARGET_EXTRA_MB,
        "met": rows_per_second >= TARGET_ROWS_PER_SECOND and extra_mb <= TARGET_EXTRA_MB,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
