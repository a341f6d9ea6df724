"""`verify_audit_log` over 1,000,000 audit events: target ≤ 10 s.

Events are made as services make them (a mix of actions, object types, before/after documents
with nested values and non-ASCII names, a tenth with no JSON at all), hashed with `compute_hash`
and loaded with COPY into a scratch database (`<name>_bench_audit`), created and dropped here, with
a signed checkpoint every 10,000 events. Timed: `verify_chain()` as the command runs it (chain and
checkpoints, read by as many processes as it chooses), wall clock with the CPU time beside it: this
process and its workers, and every PostgreSQL backend of the scratch database (sampled from /proc
every 0.1 s, so a worker's backend may lose its last tenth of a second), on a shared machine
(`load_average_1m`). Timed in the same run: the chain read in this process alone (`workers=1`,
`one_process`), and the floor: one bare `COPY (SELECT the same columns) TO STDOUT`, its bytes put
through SHA-256, in this process. BENCH_AUDIT_EVENTS changes the size.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

from django.db import connection

from governance.audit import signing
from governance.audit.models import GENESIS_HASH, AuditCheckpoint, checkpoint_statement, compute_hash
from governance.audit.reading import _FAST_SQL
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


def _backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to `database` and of the parallel
    query workers they lead (titled `parallel worker for PID <leader>`, no database named), same host only."""
    cpu, workers = {}, {}
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = stat.read_bytes()
            worker = b": parallel worker for PID " in title  # after the cluster name, if any
            if not title.startswith(b"postgres: ") or (not worker and f" {database} ".encode() not in title):
                continue
            fields = (stat.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if worker:
            workers[pid] = int(title.split(b"PID ", 1)[1].split()[0].rstrip(b"\0"))
    leaders = cpu.keys() - workers.keys()
    return {pid: seconds for pid, seconds in cpu.items() if workers.get(pid, pid) in leaders}


@contextmanager
def _cost(database: str):
    """Wall seconds of the block, CPU seconds of this process and its children, and of the
    database's backends (a backend that started meanwhile counts in full)."""
    measured: dict[str, float] = {}
    before = _backends_cpu(database)
    latest = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            latest.update(_backends_cpu(database))

    sampler = threading.Thread(target=sample, daemon=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.start()
    cpu, started = time.process_time(), time.perf_counter()
    yield measured
    measured["seconds"] = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    measured["cpu_seconds"] = time.process_time() - cpu + children_cpu
    done.set()
    sampler.join()
    latest.update(_backends_cpu(database))
    measured["postgres_cpu_seconds"] = sum(value - before.get(pid, 0.0) for pid, value in latest.items())


def _floor() -> int:
    """A bare COPY of the columns verify reads, SHA-256 over its bytes."""
    read = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({_FAST_SQL.format(until='')}) TO STDOUT", [1]) as copy,
    ):
        digest = sha256()
        for block in copy:
            digest.update(block)
            read += len(block)
    return read


def _rounded(measured: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in measured.items()}


def run() -> dict:
    if connection.vendor != "postgresql":
        return {"skipped": "bench_audit_verify needs PostgreSQL: set DATABASE_URL=postgres://... and run it again."}
    events = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_audit"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        load_seconds = _load(events)
        database = connection.settings_dict["NAME"]
        runs = []
        for _ in range(2):
            with _cost(database) as measured:
                report = verify_chain()
            runs.append(measured)
            assert report.events == events, report
            assert not [p for p in report.problems if p.kind != "stale"], report.problems[:3]
        with _cost(database) as serial:  # the chain read in this process alone, as before the split
            assert verify_chain(workers=1).events == events
        with _cost(database) as floor:
            copied = _floor()
        checkpoints = report.checkpoints
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    best = min(runs, key=lambda measured: measured["seconds"])
    best_wall = best["seconds"]
    return {
        "events": events,
        "checkpoints_verified": checkpoints,
        **_rounded(best),
        "events_per_second": round(events / best_wall),
        "runs": [_rounded(measured) for measured in runs],
        "one_process": _rounded(serial),
        "floor": {"copy_bytes": copied, **_rounded(floor)},
        "target_seconds": TARGET_SECONDS * events / 1_000_000,
        "met": best_wall <= TARGET_SECONDS * events / 1_000_000,
        "load_seconds": round(load_seconds, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
