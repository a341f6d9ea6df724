"""`verify_audit_log` over 1,000,000 audit events: target ≤ 10 s.

Events are made as services make them (a mix of actions, object types, before/after documents
with nested values and non-ASCII names, a tenth with no JSON at all), hashed with `compute_hash`
and loaded with COPY into a scratch database (`<name>_bench_audit`), created and dropped here, with
a signed checkpoint every 10,000 events. Timed: `verify_chain()` as the command runs it (chain and
checkpoints), wall clock with the CPU time of this process and of its PostgreSQL backend beside it,
on a shared machine (`load_average_1m`). BENCH_AUDIT_EVENTS changes the size.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from django.db import connection

from benchmarks.bench_ingest import _backend_cpu
from governance.audit import signing
from governance.audit.models import GENESIS_HASH, AuditCheckpoint, checkpoint_statement, compute_hash
from governance.audit.verify import verify_chain

TARGET_SECONDS = 10.0
CHECKPOINT_EVERY = 10_000
COLUMNS = (
    "sequence",
    "created_at",
    "actor_pk",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "request_id",
    "prev_hash",
    "hash",
)
ACTIONS = ("review.decide", "inventory.sync", "scp.change.approve", "jit.grant", "aws.write", "authz.login")


def _event(sequence: int, created_at: datetime, prev_hash: str) -> dict:
    kind = sequence % 10
    before = None if kind == 0 else {"status": "open", "decision": None, "count": sequence % 97}
    after = (
        None
        if kind == 0
        else {
            "status": "decided",
            "decision": "revoke" if sequence % 3 else "keep",
            "justification": f"Zugriff nicht mehr nötig — Ticket {sequence}",
            "items": [sequence, sequence + 1, 2.5],
            "at": created_at.isoformat(),
        }
    )
    return {
        "sequence": sequence,
        "created_at": created_at,
        "actor_pk": None if kind == 1 else 1 + sequence % 50,
        "actor_name": "system" if kind == 1 else f"user{sequence % 50}@example.com",
        "action": ACTIONS[sequence % len(ACTIONS)],
        "object_type": "reviews.reviewitem",
        "object_id": str(sequence),
        "object_repr": f"arn:aws:iam::{100000000000 + sequence % 1000}:role/team-{sequence % 300}",
        "before": before,
        "after": after,
        "request_id": f"req-{sequence:012d}",
        "prev_hash": prev_hash,
    }


def _load(events: int) -> float:
    import json

    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    key = signing.current_key()
    checkpoints = []
    raw = connection.connection
    with raw.cursor() as cursor, cursor.copy(f"COPY audit_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for sequence in range(1, events + 1):
            event = _event(sequence, base + timedelta(milliseconds=sequence * 37), prev)
            event["hash"] = compute_hash(event)
            prev = event["hash"]
            row = [event[name] for name in COLUMNS]
            row[8] = None if event["before"] is None else json.dumps(event["before"])
            row[9] = None if event["after"] is None else json.dumps(event["after"])
            copy.write_row(row)
            if sequence % CHECKPOINT_EVERY == 0 or sequence == events:
                signed_at = event["created_at"] + timedelta(seconds=1)
                statement = checkpoint_statement(
                    sequence=sequence, head_hash=prev, signed_at=signed_at, key_id=key.key_id
                )
                checkpoints.append(
                    AuditCheckpoint(
                        sequence=sequence,
                        head_hash=prev,
                        signed_at=signed_at,
                        key_id=key.key_id,
                        statement=statement,
                        signature=signing.b64(key.sign(statement.encode())),
                    )
                )
    AuditCheckpoint.objects.bulk_create(checkpoints)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
    return time.perf_counter() - started


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_audit_verify needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    events = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_audit"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        load_seconds = _load(events)
        runs = []
        for _ in range(2):
            backend, wall, cpu = _backend_cpu(), time.perf_counter(), time.process_time()
            report = verify_chain()
            runs.append((time.perf_counter() - wall, time.process_time() - cpu, _backend_cpu() - backend))
            assert report.events == events, report
            assert not [p for p in report.problems if p.kind != "stale"], report.problems[:3]
        checkpoints = report.checkpoints
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    best_wall, best_cpu, best_postgres = min(runs)
    return {
        "events": events,
        "checkpoints_verified": checkpoints,
        "seconds": round(best_wall, 2),
        "cpu_seconds": round(best_cpu, 2),
        "postgres_cpu_seconds": round(best_postgres, 2),
        "events_per_second": round(events / best_wall),
        "runs": [
            {"seconds": round(w, 2), "cpu_seconds": round(c, 2), "postgres_cpu_seconds": round(pg, 2)}
            for w, c, pg in runs
        ],
        "target_seconds": TARGET_SECONDS * events / 1_000_000,
        "met": best_wall <= TARGET_SECONDS * events / 1_000_000,
        "load_seconds": round(load_seconds, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
