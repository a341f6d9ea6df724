"""Every change to findings: evaluation (the lifecycle), suppressions, and the baseline.

Evaluation runs the registered rules and reconciles their hits with the stored findings, set-based:
new hits are inserted (COPY on PostgreSQL), findings hit again get `last_seen`, resolved ones that
are back are reopened, and unresolved ones no longer hit are resolved; each later transition is a
`FindingEvent` (the opening is the finding's own `first_seen` and `first_run`, not a row of its own,
since an organization's first evaluation opens hundreds of thousands), and the run is one
`AuditEvent`. Rules run per scope: after a sync, account rules
only for the accounts whose inventory changed, organization-wide rules only when something
organization-wide changed (`governance.inventory.after_sync.changes`).
"""

from __future__ import annotations

import gc
import json
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import blake2b
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from governance.audit.services import record
from governance.findings import rules as registry
from governance.findings.models import (
    SEVERITY_RANK,
    BaselineSettings,
    EvaluationRun,
    EvaluationTrigger,
    EventKind,
    Finding,
    FindingEvent,
    FindingStatus,
    Suppression,
    SuppressionEnd,
)
from governance.findings.rules import Hit, Rule
from governance.findings.rules.context import Context
from governance.inventory.ingest import digest, insert_plain
from governance.inventory.models import Account

logger = logging.getLogger(__name__)

CHUNK = 5000
# Rows per UPDATE .. FROM (VALUES ..): five parameters each, well under either database's limit.
UPDATE_CHUNK = 500
MAX_SUPPRESSION_DAYS = 366
# Key of the advisory lock evaluations take turns with; an arbitrary constant no other lock uses.
EVALUATION_LOCK_KEY = 0x7F1D_0A11_5EED_0011
FINDING_FIELDS = (
    "fingerprint",
    "rule_id",
    "severity",
    "severity_rank",
    "status",
    "account_id",
    "principal_id",
    "policy_id",
    "permission_set_id",
    "resource_type",
    "resource_arn",
    "resource_name",
    "message",
    "evidence",
    "evidence_hash",
    "first_seen",
    "last_seen",
    "times_reopened",
    "first_run_id",
)
EVENT_FIELDS = ("finding_id", "kind", "at", "run_id", "actor_id", "actor_name", "note")


class FindingsError(ValueError):
    """A request the findings services refuse; the message says why, and nothing was written."""


@dataclass
class Summary:
    run: EvaluationRun

    def as_dict(self) -> dict[str, Any]:
        run = self.run
        return {
            "rules": len(run.rules),
            "open": run.open,
            "new": run.new,
            "resolved": run.resolved,
            "by_rule": run.by_rule,
            "seconds": run.seconds,
            "reopened": run.reopened,
            "accounts": run.accounts,
            "full": run.full,
            "run": run.pk,
        }


def fingerprint(rule_id: str, hit: Hit) -> str:
    return digest(rule_id, hit.resource_arn, hit.key)


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _plan(
    account_ids: Iterable[str] | None, organization: bool, rule_ids: Iterable[str] | None
) -> tuple[list[tuple[Rule, frozenset[int] | None]], frozenset[int] | None]:
    """Which rules run over which accounts: [(rule, account pks or None for all)], and the changed pks."""
    chosen = registry.all_rules()
    if rule_ids is not None:
        wanted = set(rule_ids)
        unknown = wanted - {r.id for r in chosen}
        if unknown:
            raise FindingsError(f"Unknown rule ids: {', '.join(sorted(unknown))}.")
        chosen = [r for r in chosen if r.id in wanted]
    if account_ids is None:
        return [(r, None) for r in chosen], None
    wanted_ids = sorted(set(account_ids))
    pks = frozenset(Account.objects.filter(account_id__in=wanted_ids).values_list("pk", flat=True))
    plan: list[tuple[Rule, frozenset[int] | None]] = []
    for r in chosen:
        if organization and (not r.per_account or r.organization_inputs):
            plan.append((r, None))
        elif r.per_account and pks:
            plan.append((r, pks))
    return plan, pks


def evaluate(
    *,
    actor=None,
    trigger: str = EvaluationTrigger.COMMAND,
    account_ids: Iterable[str] | None = None,
    organization: bool = True,
    rule_ids: Iterable[str] | None = None,
    sync_run=None,
    now: datetime | None = None,
) -> EvaluationRun:
    """Run the rules and bring the findings up to date; returns the run (see `Summary`).

    `account_ids` (AWS ids) limits account rules to those accounts (None: every account);
    `organization=False` skips the rules that read organization-wide data. Idempotent: running it
    again on the same inventory changes nothing but `last_seen`.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    plan, changed = _plan(account_ids, organization, rule_ids)
    refresh_statistics()
    # A large organization's evaluation holds hundreds of thousands of hits (no reference cycles):
    # the cyclic collector would rescan them all, over and over, for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(
            plan,
            changed,
            actor=actor,
            trigger=trigger,
            full=account_ids is None and rule_ids is None,
            sync_run=sync_run,
            now=now,
            started=started,
        )
    finally:
        if collecting:
            gc.enable()


def _evaluate(
    plan, changed, *, actor, trigger: str, full: bool, sync_run, now: datetime, started: float
) -> EvaluationRun:
    """`evaluate` once the plan is made: run the rules, and reconcile their hits in one transaction.

    On PostgreSQL, outside any transaction of the caller's, the reconciling runs in a thread of its own
    (its own connection, so the database works on one rule's findings while this thread runs the next
    rule, see `_write_alongside`); elsewhere every rule runs first, then the reconciling.
    """
    baseline = BaselineSettings.current()
    removed_accounts = list(Account.objects.removed().values_list("pk", flat=True))
    hits = _rule_hits(plan, now, baseline)
    write = dict(actor=actor, trigger=trigger, full=full, sync_run=sync_run, now=now, started=started)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _write_alongside(hits, plan, changed, removed_accounts, **write)
    return _write(list(hits), plan, changed, removed_accounts, **write)


def _rule_hits(
    plan, now: datetime, baseline: BaselineSettings
) -> Iterable[tuple[Rule, frozenset[int] | None, dict[str, Hit]]]:
    """Each planned rule with its scope and its hits by fingerprint, one rule at a time."""
    contexts: dict[frozenset[int] | None, Context] = {}
    for rule, scope in plan:
        ctx = contexts.get(scope)
        if ctx is None:
            ctx = contexts[scope] = Context(now=now, account_pks=scope, baseline=baseline)
        hits: dict[str, Hit] = {}
        for hit in rule.evaluate(ctx):
            if rule.per_account and hit.account_id is None:
                raise FindingsError(f"Rule {rule.id} is per account but found {hit.resource_arn} without an account.")
            hits[fingerprint(rule.id, hit)] = hit
        yield rule, scope, hits


def _write(
    results: Iterable[tuple[Rule, frozenset[int] | None, dict[str, Hit]]],
    plan,
    changed,
    removed_accounts: list[int],
    *,
    actor,
    trigger: str,
    full: bool,
    sync_run,
    now: datetime,
    started: float,
) -> EvaluationRun:
    """Reconcile each rule's hits, as `results` hands them over, in one transaction (this thread's
    connection), and record the run."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # As the inventory's bulk ingest: a crash may lose this evaluation's commit (the next one
            # redoes it), never corrupt it; hundreds of thousands of rows need not wait for the WAL.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        _one_writer_at_a_time()
        run = EvaluationRun.objects.create(
            trigger=trigger,
            sync_run=sync_run,
            started_at=now,
            full=full,
            accounts=len(changed) if changed is not None else Account.objects.present().count(),
            rules=[rule.id for rule, _scope in plan],
        )
        counts: Counter[str] = Counter()
        for rule, scope, hits in results:
            counts.update(_reconcile(rule, scope, hits, run, now, removed_accounts))
        _write_totals(run, counts, started)
        record(
            actor=actor,
            action="findings.evaluated",
            obj=run,
            after={k: v for k, v in Summary(run).as_dict().items() if k != "by_rule"},
        )
    return run


class _Stopped(Exception):
    """The rules stopped (an error in this thread): the writer rolls back."""


_DONE = object()


def _write_alongside(results, plan, changed, removed_accounts: list[int], **write) -> EvaluationRun:
    """`_write` in a thread of its own while this thread runs the rules.

    A large first evaluation is half rules (Python) and half inserting findings (PostgreSQL); one after
    the other they take the sum of the two, side by side about the larger. Each rule's hits go to the
    writer as soon as the rule has run; the writer reconciles them in order, in one transaction on its
    own connection (Django's connections are per thread), which it closes when done. An error on either
    side stops both and is raised here: a rule's error rolls the writer back, so nothing is written.
    """
    feed: queue.SimpleQueue = queue.SimpleQueue()
    outcome: dict[str, Any] = {}

    def handed_over():
        while (item := feed.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise _Stopped from item
            yield item

    def writer() -> None:
        try:
            outcome["run"] = _write(handed_over(), plan, changed, removed_accounts, **write)
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=writer, name="findings-writer", daemon=True)
    thread.start()
    try:
        for item in results:
            if "error" in outcome:
                break
            feed.put(item)
    except BaseException as error:
        feed.put(error)
        thread.join()
        raise
    feed.put(_DONE)
    thread.join()
    error = outcome.get("error")
    if error is not None:
        raise error
    return outcome["run"]


# The tables the rules read, and the findings themselves, whose planner statistics must be current.
STATISTICS_MODELS = (
    "inventory.Account",
    "inventory.Principal",
    "inventory.Policy",
    "inventory.Entitlement",
    "inventory.AccessKey",
    "inventory.CredentialReportRow",
    "inventory.PasswordPolicy",
    "inventory.ScpAttachment",
    "inventory.AccountAssignment",
    "inventory.GroupMembership",
    "inventory.PermissionSet",
    "inventory.PermissionSetPolicy",
    "findings.Finding",
)


def refresh_statistics(models: Iterable[str] = STATISTICS_MODELS) -> list[str]:
    """ANALYZE the tables an evaluation reads whose statistics are missing or stale; returns their names.

    An evaluation runs straight after the sync that wrote the inventory, before autovacuum has
    analyzed it (or where autovacuum is off): a first sync's tables look empty to the planner, which
    then joins 200,000 principals by nested loops (seconds per query at 1,000 accounts). The test is
    autovacuum's own (changes since the last ANALYZE over 50 rows + 10% of the table), so a table
    autovacuum keeps current is left alone; an ANALYZE samples at most 30,000 rows, whatever the size.
    PostgreSQL only; a table the role does not own is skipped by PostgreSQL with a warning.
    """
    if connection.vendor != "postgresql":
        return []
    from django.apps import apps

    tables = [apps.get_model(label)._meta.db_table for label in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.relname = ANY(%s) AND s.schemaname = current_schema() "
            "AND s.n_mod_since_analyze > 50 + 0.1 * GREATEST(c.reltuples, 0)",
            [tables],
        )
        stale = sorted(row[0] for row in cursor.fetchall())
        for table in stale:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return stale


def _one_writer_at_a_time() -> None:
    """Evaluations (after a sync, on schedule, from the command) write one after another, each
    reconciling with what the one before it wrote: a transaction-scoped advisory lock on PostgreSQL;
    on SQLite the transaction's IMMEDIATE write lock does the same."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVALUATION_LOCK_KEY])


def _reconcile(
    rule: Rule,
    scope: frozenset[int] | None,
    hits: dict[str, Hit],
    run: EvaluationRun,
    now: datetime,
    removed_accounts: list[int],
) -> Counter[str]:
    stored = Finding.objects.filter(rule_id=rule.id)
    if scope is not None:
        stored = stored.filter(account_id__in=[*scope, *removed_accounts])
    existing = {
        fp: (pk, status, evidence_hash)
        for pk, fp, status, evidence_hash in stored.values_list("id", "fingerprint", "status", "evidence_hash")
    }
    severity = str(rule.severity)
    rank = SEVERITY_RANK[rule.severity]
    # COPY takes the timestamp as text: formatted once, not twice per new row.
    stamp = now.isoformat() if connection.vendor == "postgresql" else now
    run_pk = run.pk
    new_rows, encoded, changed, reopened = [], [], [], []
    shown = _EvidenceText()
    for fp, hit in hits.items():
        evidence_hash = shown.hash(hit)
        found = existing.get(fp)
        if found is None:
            encoded.append({"evidence": shown.json(hit.evidence)})
            new_rows.append(
                (
                    fp,
                    rule.id,
                    severity,
                    rank,
                    FindingStatus.OPEN,
                    hit.account_id,
                    hit.principal_id,
                    hit.policy_id,
                    hit.permission_set_id,
                    hit.resource_type,
                    hit.resource_arn[:2048],
                    hit.resource_name[:512],
                    hit.message,
                    hit.evidence,
                    evidence_hash,
                    stamp,
                    stamp,
                    0,
                    run_pk,
                )
            )
            continue
        pk, status, old_hash = found
        if status == FindingStatus.RESOLVED:
            reopened.append(pk)
        if old_hash != evidence_hash:
            changed.append((pk, hit, evidence_hash))
    resolved = [pk for fp, (pk, status, _h) in existing.items() if fp not in hits and status != FindingStatus.RESOLVED]

    _insert_findings(new_rows, encoded)
    for part in _chunks(changed, UPDATE_CHUNK):
        _update_evidence(part, severity, rank)
    for part in _chunks(resolved):
        Finding.objects.filter(pk__in=part).update(status=FindingStatus.RESOLVED, resolved_at=now)
    # Everything still found (resolved rows excluded, as just written) is seen now: one statement.
    stored.exclude(status=FindingStatus.RESOLVED).exclude(first_run=run).update(
        last_seen=now, severity=severity, severity_rank=rank
    )
    if reopened:
        suppressed = set(
            Suppression.objects.active().filter(finding_id__in=reopened).values_list("finding_id", flat=True)
        )
        for status, pks in (
            (FindingStatus.SUPPRESSED, [p for p in reopened if p in suppressed]),
            (FindingStatus.OPEN, [p for p in reopened if p not in suppressed]),
        ):
            for part in _chunks(pks):
                Finding.objects.filter(pk__in=part).update(status=status, resolved_at=None, last_seen=now)
        for part in _chunks(reopened):
            Finding.objects.filter(pk__in=part).update(times_reopened=_plus_one())
    events = [(pk, EventKind.REOPENED, now, run.pk, None, "", "") for pk in reopened]
    events += [(pk, EventKind.RESOLVED, now, run.pk, None, "", "") for pk in resolved]
    insert_plain(FindingEvent, EVENT_FIELDS, events)
    return Counter(new=len(new_rows), reopened=len(reopened), resolved=len(resolved))


# A new finding's evidence at least this long (JSON characters) and held by several new findings of one
# rule is sent and stored once, then shared (see `_insert_findings`).
SHARED_EVIDENCE_MIN_CHARS = 2000
# ... when that saves at least this many copies (a small rule is not worth the stage's statements).
SHARED_EVIDENCE_MIN_SAVED = 100
EVIDENCE_INDEX = FINDING_FIELDS.index("evidence")


def _insert_findings(rows: list[tuple], encoded: list[dict[str, str]]) -> None:
    """Insert one rule's new findings (rows of FINDING_FIELDS; `encoded` their evidence as JSON text).

    A rule whose findings repeat one large evidence (parliament's lint of a document every account
    deploys: kilobytes, a hundred thousand times) would have PostgreSQL parse and compress the same
    JSON for every row. On PostgreSQL such rows go through a temporary stage: each distinct shared
    evidence is copied once, the rows without it, and one INSERT .. SELECT joins them, in the rows'
    order, so the stored rows (and the references each statement checks) are those a direct COPY
    writes, and the stored evidence is the jsonb the direct COPY would have stored.
    """
    if connection.vendor != "postgresql" or not rows:
        insert_plain(Finding, FINDING_FIELDS, rows, encoded=encoded)
        return
    uses = Counter(id(e["evidence"]) for e in encoded if len(e["evidence"]) >= SHARED_EVIDENCE_MIN_CHARS)
    shared = {key for key, n in uses.items() if n > 1}
    saved = sum(uses[key] - 1 for key in shared)
    if saved < SHARED_EVIDENCE_MIN_SAVED:
        insert_plain(Finding, FINDING_FIELDS, rows, encoded=encoded)
        return
    refs: dict[int, int] = {}
    texts: list[tuple[int, str]] = []
    qn = connection.ops.quote_name
    columns = ", ".join(qn(Finding._meta.get_field(name).column) for name in FINDING_FIELDS)
    stage, shared_table = "findings_stage_rows", "findings_stage_evidence"
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns}, 0::integer AS stage_ref, 0::integer AS stage_order "
            f"FROM {qn(Finding._meta.db_table)} WITH NO DATA"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE {shared_table} (ref integer PRIMARY KEY, evidence jsonb) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {stage} ({columns}, stage_ref, stage_order) FROM STDIN") as copy:
            for order, (row, evidence) in enumerate(zip(rows, encoded, strict=True)):
                text = evidence["evidence"]
                key = id(text)
                values = list(row)
                if key in shared:
                    ref = refs.get(key)
                    if ref is None:
                        ref = refs[key] = len(refs)
                        texts.append((ref, text))
                    values[EVIDENCE_INDEX] = None
                    values += [ref, order]
                else:
                    values[EVIDENCE_INDEX] = text
                    values += [None, order]
                copy.write_row(values)
        with cursor.cursor.copy(f"COPY {shared_table} (ref, evidence) FROM STDIN") as copy:
            for ref, text in texts:
                copy.write_row((ref, text))
        picked = ", ".join(
            f"COALESCE(e.evidence, s.{qn('evidence')})"
            if name == "evidence"
            else f"s.{qn(Finding._meta.get_field(name).column)}"
            for name in FINDING_FIELDS
        )
        cursor.execute(
            f"INSERT INTO {qn(Finding._meta.db_table)} ({columns}) SELECT {picked} FROM {stage} s "  # noqa: S608
            f"LEFT JOIN {shared_table} e ON e.ref = s.stage_ref ORDER BY s.stage_order"
        )
        cursor.execute(f"DROP TABLE {stage}, {shared_table}")


class _EvidenceText:
    """A hit's evidence as its hash and its JSON take it, each worked out once per evidence object.

    Rules hand many hits the same evidence object (every policy with one document shares its lint and
    its statements), and the largest evidence (parliament's) repeats across a hundred thousand findings
    in a large organization. Keyed by the object's id: every hit, so every evidence object, stays alive
    for as long as one reconcile keeps this. The values are those `governance.inventory.ingest.fingerprint`
    and `evidence_json` give.
    """

    __slots__ = ("_json", "_repr")

    def __init__(self) -> None:
        self._repr: dict[int, str] = {}
        self._json: dict[int, str] = {}

    def hash(self, hit: Hit) -> str:
        """`fingerprint((hit.evidence, hit.message, hit.resource_name))`: the digest of the tuple's repr,
        which is its parts' reprs in parentheses."""
        evidence = hit.evidence
        shown = self._repr.get(id(evidence))
        if shown is None:
            shown = self._repr[id(evidence)] = repr(evidence)
        text = f"({shown}, {hit.message!r}, {hit.resource_name!r})"
        return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def json(self, evidence: dict[str, Any]) -> str:
        text = self._json.get(id(evidence))
        if text is None:
            text = self._json[id(evidence)] = evidence_json(evidence)
        return text


# What orjson would write where json.dumps refuses (datetimes, dataclasses): refused here too, by json.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def evidence_json(evidence: dict[str, Any]) -> str:
    """Evidence as the JSON text the database parses into jsonb, which keeps the values, not the spelling:
    orjson's (several times faster than json.dumps over half a million findings), or json.dumps's for
    what orjson refuses (integers beyond 64 bits, and the types json.dumps refuses, which it raises for)."""
    try:
        return orjson.dumps(evidence, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(evidence)


def _update_evidence(changed: list[tuple[int, Hit, str]], severity: str, rank: int) -> None:
    """New evidence for findings found again with other facts: one UPDATE .. FROM (VALUES ..) per chunk
    (a rule whose message changes touches every one of its findings; a statement per row would crawl)."""
    qn = connection.ops.quote_name
    table = qn(Finding._meta.db_table)
    postgres = connection.vendor == "postgresql"
    row = "(%s::bigint, %s, %s::jsonb, %s, %s)" if postgres else "(%s, %s, %s, %s, %s)"
    params: list[Any] = []
    for pk, hit, evidence_hash in changed:
        params += [pk, hit.message, evidence_json(hit.evidence), evidence_hash, hit.resource_name[:512]]
    sql = (
        f"WITH v (pk, message, evidence, evidence_hash, resource_name) AS (VALUES {', '.join([row] * len(changed))}) "  # noqa: S608
        f"UPDATE {table} SET {qn('message')} = v.message, {qn('evidence')} = v.evidence, "
        f"{qn('evidence_hash')} = v.evidence_hash, {qn('resource_name')} = v.resource_name, "
        f"{qn('severity')} = %s, {qn('severity_rank')} = %s "
        f"FROM v WHERE {table}.{qn('id')} = v.pk"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, severity, rank])


def _plus_one():
    from django.db.models import F

    return F("times_reopened") + 1


def _write_totals(run: EvaluationRun, counts: Counter[str], started: float) -> None:
    # One pass over the open findings for both totals (a rule has one severity, so the pairs are few).
    by_severity: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    for rule_id, severity, n in (
        Finding.objects.filter(status=FindingStatus.OPEN)
        .values_list("rule_id", "severity")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_severity[severity] += n
        by_rule[rule_id] += n
    run.new, run.reopened, run.resolved = counts["new"], counts["reopened"], counts["resolved"]
    run.open = sum(by_severity.values())
    run.open_by_severity = dict(by_severity)
    run.by_rule = {rule_id: by_rule.get(rule_id, 0) for rule_id in sorted(set(by_rule) | set(run.rules))}
    run.finished_at = timezone.now()
    run.seconds = round(time.perf_counter() - started, 3)
    run.save(
        update_fields=["new", "reopened", "resolved", "open", "open_by_severity", "by_rule", "finished_at", "seconds"]
    )


# Suppressions ---------------------------------------------------------------------------------


def _actor_name(actor) -> str:
    return actor.get_username()[:150] if actor is not None and getattr(actor, "is_authenticated", False) else "system"


def _event(finding: Finding, kind: str, *, actor, note: str = "", at: datetime) -> None:
    FindingEvent.objects.create(
        finding=finding,
        kind=kind,
        at=at,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=_actor_name(actor),
        note=note,
    )


def check_suppression(*, justification: str, owner: str, expires_at: datetime | None) -> tuple[str, str]:
    """The cleaned justification and owner, or FindingsError saying what is wrong (nothing is written)."""
    justification = (justification or "").strip()
    owner = (owner or "").strip()
    now = timezone.now()
    if len(justification) < 10:
        raise FindingsError("Give a justification of at least 10 characters: why is this risk accepted?")
    if len(justification) > 4000:
        raise FindingsError("The justification is limited to 4,000 characters.")
    try:
        validate_email(owner)
    except ValidationError:
        raise FindingsError("The owner must be the e-mail address of the person accountable for the risk.") from None
    if expires_at is None or timezone.is_naive(expires_at):
        raise FindingsError("Give the expiry as a date and time with a time zone.")
    if expires_at <= now:
        raise FindingsError("The expiry must be in the future.")
    if expires_at > now + timedelta(days=MAX_SUPPRESSION_DAYS):
        raise FindingsError(f"A suppression lasts at most {MAX_SUPPRESSION_DAYS} days; review it again then.")
    return justification, owner


def suppress_finding(
    *, finding: Finding, justification: str, owner: str, expires_at: datetime, actor, request=None
) -> Suppression:
    """Accept a finding's risk until `expires_at`: it stops counting as open, and opens again when the
    suppression expires (or is lifted). Refuses a resolved or already suppressed finding."""
    justification, owner = check_suppression(justification=justification, owner=owner, expires_at=expires_at)
    now = timezone.now()
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status == FindingStatus.RESOLVED:
            raise FindingsError("This finding is resolved: there is nothing to suppress.")
        if Suppression.objects.active().filter(finding=locked).exists():
            raise FindingsError("This finding is already suppressed; lift that suppression first.")
        suppression = Suppression.objects.create(
            finding=locked,
            justification=justification,
            owner=owner,
            expires_at=expires_at,
            created_at=now,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            created_by_name=_actor_name(actor),
        )
        locked.status = FindingStatus.SUPPRESSED
        locked.save(update_fields=["status"])
        _event(locked, EventKind.SUPPRESSED, actor=actor, note=f"until {expires_at:%Y-%m-%d}: {justification}", at=now)
        record(
            actor=actor,
            action="findings.suppressed",
            obj=locked,
            after={
                "justification": justification,
                "owner": owner,
                "expires_at": expires_at,
                "suppression": suppression.pk,
            },
            request=request,
        )
    finding.status = locked.status
    return suppression


def lift_suppression(*, suppression: Suppression, actor, reason: str = "", request=None) -> Suppression:
    """End a suppression now; its finding counts as open again (unless it has been resolved meanwhile)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Suppression.objects.select_for_update().select_related("finding").get(pk=suppression.pk)
        if locked.ended_at is not None:
            raise FindingsError("This suppression has already ended.")
        locked.ended_at = now
        locked.ended_by_name = _actor_name(actor)
        locked.end_reason = SuppressionEnd.LIFTED
        locked.save(update_fields=["ended_at", "ended_by_name", "end_reason"])
        finding = locked.finding
        if finding.status == FindingStatus.SUPPRESSED:
            finding.status = FindingStatus.OPEN
            finding.save(update_fields=["status"])
        _event(finding, EventKind.UNSUPPRESSED, actor=actor, note=reason.strip()[:1000], at=now)
        record(
            actor=actor,
            action="findings.suppression_lifted",
            obj=finding,
            before={"suppression": locked.pk, "expires_at": locked.expires_at},
            after={"reason": reason.strip()[:1000]},
            request=request,
        )
    return locked


def expire_suppressions(*, now: datetime | None = None) -> int:
    """End every suppression whose expiry has passed and open its finding again; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Suppression.objects.active().select_for_update().filter(expires_at__lte=now).values_list("pk", "finding_id")
        )
        if not due:
            return 0
        pks = [pk for pk, _finding in due]
        findings = [finding for _pk, finding in due]
        for part in _chunks(pks):
            Suppression.objects.filter(pk__in=part).update(
                ended_at=now, ended_by_name="system", end_reason=SuppressionEnd.EXPIRED
            )
        reopened = []
        for part in _chunks(findings):
            reopened += list(
                Finding.objects.filter(pk__in=part, status=FindingStatus.SUPPRESSED).values_list("pk", flat=True)
            )
            Finding.objects.filter(pk__in=part, status=FindingStatus.SUPPRESSED).update(status=FindingStatus.OPEN)
        insert_plain(
            FindingEvent,
            EVENT_FIELDS,
            [(finding, EventKind.SUPPRESSION_EXPIRED, now, None, None, "system", "") for finding in findings],
        )
        record(
            actor=None,
            action="findings.suppressions_expired",
            object_type="findings.suppression",
            object_id=",".join(str(pk) for pk in pks[:50]),
            object_repr=f"{len(pks)} suppression{'s' if len(pks) != 1 else ''} expired",
            after={"suppressions": pks, "findings_open_again": reopened},
        )
    return len(pks)


# Baseline -------------------------------------------------------------------------------------

BASELINE_FIELDS = ("required_scp_names", "required_denies", "admin_permission_set_max_principals", "max_session_hours")


def clean_baseline(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    names = values.get("required_scp_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise FindingsError("Required SCP names must be a list of names.")
    cleaned["required_scp_names"] = sorted({n.strip() for n in names})
    denies = values.get("required_denies", [])
    if not isinstance(denies, list):
        raise FindingsError('Required denies must be a list like [{"action": "s3:PutObject", "principal": "role"}].')
    cleaned_denies = []
    for deny in denies:
        if not isinstance(deny, dict) or set(deny) - {"action", "principal"}:
            raise FindingsError(
                'Each required deny is {"action": "service:Action", "principal": "role"|"root"|"user"}.'
            )
        action = str(deny.get("action", "")).strip()
        principal = str(deny.get("principal", "role")).strip()
        if ":" not in action or "*" in action:
            raise FindingsError(f"{action!r} is not an action (service:Action, no wildcards).")
        if principal not in ("role", "root", "user"):
            raise FindingsError(f"A required deny's principal is role, root or user, not {principal!r}.")
        cleaned_denies.append({"action": action, "principal": principal})
    cleaned["required_denies"] = cleaned_denies
    for name, low, high in (("admin_permission_set_max_principals", 0, 100_000), ("max_session_hours", 1, 12)):
        value = values.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise FindingsError(f"{name.replace('_', ' ')} must be a whole number from {low} to {high}.")
        cleaned[name] = value
    return cleaned


def update_baseline(*, actor, values: dict[str, Any], request=None) -> BaselineSettings:
    """Change the baseline the scp.* and permission_set.* rules judge by, then re-run those rules."""
    cleaned = clean_baseline(values)
    with transaction.atomic():
        baseline = BaselineSettings.objects.select_for_update().filter(pk=1).first() or BaselineSettings(pk=1)
        before = {name: getattr(baseline, name) for name in BASELINE_FIELDS}
        for name, value in cleaned.items():
            setattr(baseline, name, value)
        baseline.updated_at = timezone.now()
        baseline.updated_by_name = _actor_name(actor)
        baseline.save()
        record(
            actor=actor, action="findings.baseline_changed", obj=baseline, before=before, after=cleaned, request=request
        )
        transaction.on_commit(_queue_baseline_evaluation)
    return baseline


BASELINE_RULES = (
    "scp.baseline_missing",
    "permission_set.admin_overassigned",
    "permission_set.long_session",
)


def _queue_baseline_evaluation() -> None:
    from django_q.tasks import async_task

    async_task("governance.findings.tasks.evaluate_rules", rule_ids=list(BASELINE_RULES))
