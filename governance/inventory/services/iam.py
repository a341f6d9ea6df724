"""Ingest of member accounts' IAM, one scope per account, several accounts per transaction."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from governance.aws.readers.types import (
    AccountIam,
    AttachedPolicy,
    KnownKeyIds,
    key_created,
)
from governance.inventory import ingest
from governance.inventory.ingest import Outcome, Row, digest
from governance.inventory.models import (
    AccessKey,
    AccessKeyStatus,
    Account,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    PasswordPolicy,
    PolicyKind,
    Principal,
    PrincipalKind,
)
from governance.inventory.services.common import (
    ACCESS_KEY_FIELDS,
    CREDENTIAL_REPORT_FIELDS,
    ENTITLEMENT_FIELDS,
    MEMBERSHIP_FIELDS,
    PASSWORD_POLICY_FIELDS,
    PRINCIPAL_FIELDS,
    IngestResult,
    PolicyIndex,
    PolicyPlan,
    _entitlement,
    _link,
    _policy_row,
    _principal_values,
    _row,
    plan_policies,
)


def iam_scope(account_id: str) -> str:
    return f"iam:{account_id}"


def inline_policy_arn(owner_arn: str, name: str) -> str:
    return f"{owner_arn}#inline/{name}"


def ingest_account_iam(*, iam: AccountIam, account_pk: int, now: datetime, index: PolicyIndex) -> IngestResult:
    """One account's IAM: policies, principals, memberships, entitlements, keys and IAM facts."""
    return ingest_accounts_iam(items=[(iam, account_pk)], now=now, index=index)[iam.account_id]


def stored_iam_digests(account_pks: Iterable[int]) -> dict[int, str]:
    """account pk -> the snapshot digest of its last ingested IAM read ("" when none).

    Lets a caller compare a fresh read's digest before building its dataclasses: an account whose
    digest matches is already stored as it is and needs no parsing (see `readers.iam.raw_iam_counts`
    for its counts).
    """
    return dict(Account.objects.filter(pk__in=list(account_pks)).values_list("pk", "iam_digest"))


def stored_access_key_ids(account_pks: Iterable[int]) -> dict[int, KnownKeyIds]:
    """account pk -> the ids of its stored keys by (user ARN, creation time), for the IAM reader.

    The reader asks AWS (ListAccessKeys) only for keys not in here: the credential report names
    keys by user and slot, not by id.
    """
    known: dict[int, KnownKeyIds] = defaultdict(dict)
    rows = (
        AccessKey.objects.present()
        .filter(account_id__in=list(account_pks), created__isnull=False)
        .exclude(access_key_id="")
        .values_list("account_id", "principal__arn", "created", "access_key_id")
    )
    for account_pk, user_arn, created, key_id in rows.iterator(chunk_size=5000):
        known[account_pk][(user_arn, key_created(created))] = key_id
    return dict(known)


def ingest_accounts_iam(
    *, items: Sequence[tuple[AccountIam, int]], now: datetime, index: PolicyIndex
) -> dict[str, IngestResult]:
    """Several accounts' IAM at once, one transaction, each account its own scope.

    Batching turns per-account round trips (a SELECT, a COPY or UPDATE per table) into per-batch
    ones; the sync ingests whatever accounts have finished reading together. One transaction:
    malformed data anywhere leaves every account of the batch as it was (the sync then retries
    the accounts one by one, so one bad account does not hold back the others).
    """
    batch = plan_accounts_iam(items=items, now=now, index=index)
    batch.write()
    return batch.results


@dataclass
class IamBatch:
    """One batch of accounts' IAM, planned and ready to write in one transaction.

    Planning reads (what each scope holds) and reserves ids but writes no inventory row, so the
    next batch can be planned while this one is written (`services.write_behind`). Whatever the
    planning had to add first, AWS managed policies an account attaches that were not known yet,
    is committed on its own: it is global, and right whether or not this batch succeeds.
    """

    now: datetime
    results: dict[str, IngestResult]
    # Written in this order, each after what it refers to. None: every account was unchanged.
    customer_managed: PolicyPlan | None = None
    principals: ingest.Plan | None = None
    inline: PolicyPlan | None = None
    # Memberships, entitlements, keys, credential report, password policy: nothing refers to
    # them, so their new rows need no ids reserved.
    links: list[tuple[ingest.Plan, tuple[str, ...]]] = field(default_factory=list)
    digests: list[tuple[int, str]] = field(default_factory=list)

    def write(self) -> None:
        if self.customer_managed is None or self.principals is None or self.inline is None:
            return
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                # A bulk ingest need not wait for its WAL flush at commit. A crash can lose the
                # last few hundred milliseconds of committed batches, never corrupt them; the
                # account's digest is written in the same transaction, so a lost batch is simply
                # ingested again by the next sync. Only this transaction is affected (LOCAL).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            self.customer_managed.write(self.now)
            ingest.apply(self.principals, fields=PRINCIPAL_FIELDS, now=self.now)
            self.inline.write(self.now)
            for plan, fields in self.links:
                ingest.apply(plan, fields=fields, now=self.now, ids=False)
            for pk, snapshot_digest in self.digests:
                Account.objects.filter(pk=pk).update(iam_digest=snapshot_digest)

    def plans(self) -> list[ingest.Plan]:
        if self.customer_managed is None or self.principals is None or self.inline is None:
            return []
        return [self.customer_managed.plan, self.principals, self.inline.plan, *(plan for plan, _ in self.links)]


def plan_accounts_iam(*, items: Sequence[tuple[AccountIam, int]], now: datetime, index: PolicyIndex) -> IamBatch:
    """Build every row of `items` and compare it with what is stored; see `IamBatch`."""
    batch = IamBatch(now=now, results={iam.account_id: IngestResult(counts=_iam_counts(iam)) for iam, _pk in items})
    stored_digests = stored_iam_digests(pk for _, pk in items)
    # An account whose read is identical to the last one ingested is already stored as it is.
    items = [(iam, pk) for iam, pk in items if not iam.digest or stored_digests.get(pk) != iam.digest]
    if not items:
        return batch
    scopes = [iam_scope(iam.account_id) for iam, _ in items]
    policy_rows: list[Row] = []
    for iam, account_pk in items:
        scope = iam_scope(iam.account_id)
        for p in iam.policies:
            if p.aws_managed:
                continue
            row = _policy_row(
                kind=PolicyKind.CUSTOMER_MANAGED,
                arn=p.arn,
                name=p.name,
                path=p.path,
                description=p.description,
                document=p.document,
                account_id=account_pk,
                aws_policy_id=p.policy_id,
                aws_version_id=p.default_version_id,
                attachment_count=p.attachment_count,
                aws_created=p.created,
                aws_updated=p.updated,
            )
            row.scope = scope
            policy_rows.append(row)
    policies = plan_policies(scope=scopes, rows=policy_rows)
    ingest.reserve_ids(policies.plan)
    policy_pk = {row.values[1]: policies.plan.ids[row.key] for row in policy_rows}
    aws_attached = [
        a
        for iam, _ in items
        for principal in (*iam.users, *iam.groups, *iam.roles)
        for a in principal.attached
        if a.arn not in policy_pk
    ]
    aws_attached += [
        AttachedPolicy(arn=b, name="")
        for iam, _ in items
        for b in {u.boundary_arn for u in iam.users} | {r.boundary_arn for r in iam.roles}
        if b and b not in policy_pk
    ]
    policy_pk.update(index.resolve(aws_attached, now))

    principal_rows: list[Row] = []
    for iam, account_pk in items:
        principal_rows += _iam_principal_rows(iam, account_pk, policy_pk)
    principals = ingest.plan(Principal, scopes=scopes, rows=principal_rows)
    principal_ids = ingest.reserve_ids(principals)
    principal_pk = {row.values[2]: principal_ids[row.key] for row in principal_rows}

    inline_rows = []
    for iam, account_pk in items:
        scope = f"{iam_scope(iam.account_id)}:inline"
        for p in (*iam.users, *iam.groups, *iam.roles):
            for doc in p.inline:
                row = _policy_row(
                    kind=PolicyKind.INLINE,
                    arn=inline_policy_arn(p.arn, doc.name),
                    name=doc.name,
                    document=doc.document,
                    account_id=account_pk,
                    principal_id=principal_pk[p.arn],
                )
                row.scope = scope
                inline_rows.append(row)
    inline = plan_policies(scope=[f"{scope}:inline" for scope in scopes], rows=inline_rows)
    ingest.reserve_ids(inline.plan)
    policy_pk.update({row.values[1]: inline.plan.ids[row.key] for row in inline_rows})

    per_model: dict[type, list[Row]] = defaultdict(list)
    for iam, account_pk in items:
        built = _iam_account_rows(iam, account_pk, principal_pk, policy_pk)
        for model, rows in built.items():
            per_model[model].extend(rows)
    batch.customer_managed, batch.principals, batch.inline = policies, principals, inline
    for model, fields in (
        (GroupMembership, MEMBERSHIP_FIELDS),
        (Entitlement, ENTITLEMENT_FIELDS),
        (AccessKey, ACCESS_KEY_FIELDS),
        (CredentialReportRow, CREDENTIAL_REPORT_FIELDS),
        (PasswordPolicy, PASSWORD_POLICY_FIELDS),
    ):
        batch.links.append((ingest.plan(model, scopes=scopes, rows=per_model[model]), fields))
    batch.digests = [(pk, iam.digest) for iam, pk in items if iam.digest]

    changes: Counter[str] = Counter()
    for result in batch.plans():
        changes.update(result.changes_by_scope())
    for iam, _pk in items:
        scope = iam_scope(iam.account_id)
        batch.results[iam.account_id].outcome = Outcome(updated=changes[scope] + changes[f"{scope}:inline"])
    return batch


def _iam_counts(iam: AccountIam) -> dict[str, int]:
    everyone = (*iam.users, *iam.groups, *iam.roles)
    group_policies = {g.name: len(g.attached) + len(g.inline) for g in iam.groups}
    return {
        "principals": len(everyone),
        "users": len(iam.users),
        "groups": len(iam.groups),
        "roles": len(iam.roles),
        "policies": sum(1 for p in iam.policies if not p.aws_managed) + sum(len(p.inline) for p in everyone),
        "entitlements": sum(len(p.attached) + len(p.inline) for p in everyone)
        + sum(group_policies.get(name, 0) for u in iam.users for name in u.groups),
        "access_keys": sum(
            (e.access_key_1_last_rotated is not None) + (e.access_key_2_last_rotated is not None)
            for e in iam.credential_report
            if not e.is_root
        ),
    }


def _iam_principal_rows(iam: AccountIam, account_pk: int, policy_pk: dict[str, int]) -> list[Row]:
    scope = iam_scope(iam.account_id)
    report = {entry.arn: entry for entry in iam.credential_report}
    rows = []
    for u in iam.users:
        entry = report.get(u.arn)
        last_used = None
        if entry is not None:
            dates = [
                d
                for d in (
                    entry.password_last_used,
                    entry.access_key_1_last_used_date,
                    entry.access_key_2_last_used_date,
                )
                if d is not None
            ]
            last_used = max(dates) if dates else None
        rows.append(
            _principal_values(
                kind=PrincipalKind.IAM_USER,
                account_id=account_pk,
                arn=u.arn,
                name=u.name,
                path=u.path,
                aws_id=u.user_id,
                created=u.created,
                last_used=last_used,
                mfa_enabled=entry.mfa_active if entry else None,
                password_enabled=entry.password_enabled if entry else None,
                password_last_used=entry.password_last_used if entry else None,
                permissions_boundary_id=policy_pk.get(u.boundary_arn) if u.boundary_arn else None,
                tags=u.tags,
            )
        )
    for g in iam.groups:
        rows.append(
            _principal_values(
                kind=PrincipalKind.IAM_GROUP, account_id=account_pk, arn=g.arn, name=g.name, path=g.path,
                aws_id=g.group_id, created=g.created,
            )
        )  # fmt: skip
    for r in iam.roles:
        rows.append(
            _principal_values(
                kind=PrincipalKind.IAM_ROLE,
                account_id=account_pk,
                arn=r.arn,
                name=r.name,
                path=r.path,
                aws_id=r.role_id,
                created=r.created,
                last_used=r.last_used,
                last_used_region=r.last_used_region,
                permissions_boundary_id=policy_pk.get(r.boundary_arn) if r.boundary_arn else None,
                trust_policy=r.trust_policy,
                tags=r.tags,
                own_footprint=r.name == settings.AWS_MEMBER_ROLE_NAME,
            )
        )
    for row in rows:
        row.scope = scope
    return rows


def _iam_account_rows(
    iam: AccountIam, account_pk: int, principal_pk: dict[str, int], policy_pk: dict[str, int]
) -> dict[type, list[Row]]:
    """Memberships, entitlements, access keys, credential report and password policy rows."""
    scope = iam_scope(iam.account_id)
    account_id = iam.account_id
    group_by_name = {g.name: g for g in iam.groups}
    membership_rows = [
        _link(
            digest("membership", group_by_name[name].arn, u.arn),
            (principal_pk[group_by_name[name].arn], principal_pk[u.arn], account_pk),
        )
        for u in iam.users
        for name in u.groups
        if name in group_by_name
    ]

    def held(p) -> list[tuple[str, str]]:
        return [(a.arn, EntitlementVia.DIRECT) for a in p.attached] + [
            (inline_policy_arn(p.arn, doc.name), EntitlementVia.INLINE) for doc in p.inline
        ]

    group_held = {g.name: held(g) for g in iam.groups}
    entitlement_rows = []
    for p in (*iam.users, *iam.groups, *iam.roles):
        p_pk = principal_pk[p.arn]
        for policy_arn, via in held(p):
            entitlement_rows.append(
                _entitlement(
                    p.arn, policy_arn, via, account_id, (p_pk, policy_pk[policy_arn], via, account_pk, None, None)
                )
            )
    for u in iam.users:
        u_pk = principal_pk[u.arn]
        for name in u.groups:
            group = group_by_name.get(name)
            if group is None:
                continue
            g_pk = principal_pk[group.arn]
            for policy_arn, _via in group_held[name]:
                entitlement_rows.append(
                    _entitlement(
                        u.arn, policy_arn, EntitlementVia.GROUP, account_id,
                        (u_pk, policy_pk[policy_arn], EntitlementVia.GROUP, account_pk, g_pk, None),
                        via_group_arn=group.arn,
                    )
                )  # fmt: skip

    key_rows = []
    report_rows = []
    for entry in iam.credential_report:
        user_pk = principal_pk.get(entry.arn)
        report_rows.append(
            _row(
                digest("credential-report", entry.arn),
                (account_pk, user_pk, entry.user, entry.arn, entry.is_root, entry.user_creation_time,
                 entry.password_enabled, entry.password_last_used, entry.password_last_changed,
                 entry.password_next_rotation, entry.mfa_active, entry.access_key_1_active,
                 entry.access_key_1_last_rotated, entry.access_key_1_last_used_date,
                 entry.access_key_1_last_used_service, entry.access_key_2_active, entry.access_key_2_last_rotated,
                 entry.access_key_2_last_used_date, entry.access_key_2_last_used_service, entry.cert_1_active,
                 entry.cert_2_active),
            )
        )  # fmt: skip
        if user_pk is None:
            continue
        slots = (
            (1, entry.access_key_1_active, entry.access_key_1_last_rotated, entry.access_key_1_last_used_date,
             entry.access_key_1_last_used_service, entry.access_key_1_last_used_region),
            (2, entry.access_key_2_active, entry.access_key_2_last_rotated, entry.access_key_2_last_used_date,
             entry.access_key_2_last_used_service, entry.access_key_2_last_used_region),
        )  # fmt: skip
        for slot, active, rotated, used, service, region in slots:
            if rotated is None:
                continue
            status = AccessKeyStatus.ACTIVE if active else AccessKeyStatus.INACTIVE
            key_rows.append(
                _row(
                    digest("access-key", entry.arn, slot),
                    (
                        user_pk,
                        account_pk,
                        slot,
                        iam.access_key_ids.get((entry.arn, slot), ""),
                        status,
                        rotated,
                        used,
                        service,
                        region,
                    ),
                )
            )

    raw = iam.password_policy.raw
    password_row = _row(
        digest("password-policy", account_id),
        (
            account_pk,
            iam.password_policy.configured,
            raw.get("MinimumPasswordLength"),
            bool(raw.get("RequireSymbols")),
            bool(raw.get("RequireNumbers")),
            bool(raw.get("RequireUppercaseCharacters")),
            bool(raw.get("RequireLowercaseCharacters")),
            bool(raw.get("AllowUsersToChangePassword")),
            bool(raw.get("ExpirePasswords")),
            raw.get("MaxPasswordAge"),
            raw.get("PasswordReusePrevention"),
            bool(raw.get("HardExpiry")),
            raw,
        ),
    )
    built = {
        GroupMembership: membership_rows,
        Entitlement: entitlement_rows,
        AccessKey: key_rows,
        CredentialReportRow: report_rows,
        PasswordPolicy: [password_row],
    }
    for rows in built.values():
        for row in rows:
            row.scope = scope
    return built
