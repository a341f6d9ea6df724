"""Inventory state changes: ingest what the AWS readers returned, one scope at a time.

Each `ingest_*` turns reader dataclasses into rows (natural key digest, values, content hash) and
reconciles them scope by scope through `governance.inventory.ingest`: inserts, changed rows and
removals are written in bulk, an unchanged scope writes nothing. Sync runs are bookkeeping, not
admin actions, so no audit event is recorded per row.

Scopes: "org" (organization, OUs, accounts, SCPs and attachments), "aws" (AWS managed policies,
global, never marked removed), "sso" (Identity Center), "iam:<account>" (one account's IAM;
its inline policies live in "iam:<account>:inline").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from governance.aws.readers.types import (
    AccountIam,
    AttachedPolicy,
    IdentityCenterSnapshot,
    ManagedPolicy,
    OrgSnapshot,
)
from governance.inventory import ingest
from governance.inventory.ingest import Outcome, Row, digest
from governance.inventory.models import (
    AccessKey,
    AccessKeyStatus,
    Account,
    AccountAssignment,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    Organization,
    OrganizationalUnit,
    PasswordPolicy,
    PermissionSet,
    PermissionSetPolicy,
    Policy,
    PolicyKind,
    PolicyVersion,
    Principal,
    PrincipalKind,
    ScpAttachment,
    ScpTargetType,
)

ORG_SCOPE = "org"
AWS_SCOPE = "aws"
SSO_SCOPE = "sso"

ORGANIZATION_FIELDS = ("org_id", "arn", "feature_set", "management_account_id", "management_account_email")
OU_FIELDS = ("organization_id", "ou_id", "arn", "name", "is_root", "parent_id", "path", "depth")
ACCOUNT_FIELDS = (
    "organization_id",
    "account_id",
    "arn",
    "name",
    "email",
    "status",
    "joined_method",
    "joined_at",
    "parent_id",
    "is_management",
)
# `version` is last and kept out of the content hash: it is derived from document changes.
POLICY_FIELDS = (
    "kind",
    "arn",
    "name",
    "path",
    "description",
    "account_id",
    "organization_id",
    "principal_id",
    "permission_set_id",
    "aws_policy_id",
    "aws_version_id",
    "document",
    "document_hash",
    "attachment_count",
    "aws_created",
    "aws_updated",
    "version",
)
SCP_ATTACHMENT_FIELDS = ("policy_id", "target_type", "target_id", "unit_id", "account_id")
PRINCIPAL_FIELDS = (
    "kind",
    "account_id",
    "arn",
    "name",
    "path",
    "aws_id",
    "created",
    "last_used",
    "last_used_region",
    "mfa_enabled",
    "password_enabled",
    "password_last_used",
    "permissions_boundary_id",
    "trust_policy",
    "tags",
    "owner",
    "identity_store_id",
    "identity_store_principal_id",
    "user_name",
    "display_name",
    "email",
)
MEMBERSHIP_FIELDS = ("group_id", "member_id", "account_id")
ENTITLEMENT_FIELDS = ("principal_id", "policy_id", "via", "account_id", "via_group_id", "permission_set_id")
ACCESS_KEY_FIELDS = (
    "principal_id",
    "account_id",
    "slot",
    "access_key_id",
    "status",
    "created",
    "last_used_date",
    "last_used_service",
    "last_used_region",
)
CREDENTIAL_REPORT_FIELDS = (
    "account_id",
    "principal_id",
    "user_name",
    "arn",
    "is_root",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_2_active",
)
PASSWORD_POLICY_FIELDS = (
    "account_id",
    "configured",
    "minimum_length",
    "require_symbols",
    "require_numbers",
    "require_uppercase",
    "require_lowercase",
    "allow_users_to_change",
    "expire_passwords",
    "max_age_days",
    "reuse_prevention",
    "hard_expiry",
    "raw",
)
PERMISSION_SET_FIELDS = ("instance_arn", "arn", "name", "description", "session_duration", "relay_state", "created")
PERMISSION_SET_POLICY_FIELDS = ("permission_set_id", "policy_id")
ASSIGNMENT_FIELDS = (
    "permission_set_id",
    "account_id",
    "aws_account_id",
    "principal_id",
    "principal_type",
    "principal_aws_id",
)


@dataclass
class IngestResult:
    """What one ingest wrote (`outcome`) and saw (`counts`, rows present in AWS per kind)."""

    outcome: Outcome = field(default_factory=Outcome)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        return self.outcome.changes


def _row(key: str, values: tuple, *, hashed: tuple | None = None) -> Row:
    return Row(key=key, values=values, hash=ingest.fingerprint(values if hashed is None else hashed))


def _link(key: str, values: tuple) -> Row:
    """A row whose values are all part of its natural key, so its content never changes."""
    return Row(key=key, values=values, hash="")


def _owner(tags: dict[str, str]) -> str:
    return tags.get("owner", "") or tags.get("Owner", "")


# Policies and their versions ---------------------------------------------------------------------


def _policy_row(
    *,
    kind: str,
    arn: str,
    name: str,
    document: Any,
    path: str = "",
    description: str = "",
    account_id: int | None = None,
    organization_id: int | None = None,
    principal_id: int | None = None,
    permission_set_id: int | None = None,
    aws_policy_id: str = "",
    aws_version_id: str = "",
    attachment_count: int | None = None,
    aws_created: datetime | None = None,
    aws_updated: datetime | None = None,
) -> Row:
    document_hash = digest(document) if document is not None else ""
    values = (
        kind,
        arn,
        name,
        path,
        description,
        account_id,
        organization_id,
        principal_id,
        permission_set_id,
        aws_policy_id,
        aws_version_id,
        document,
        document_hash,
        attachment_count,
        aws_created,
        aws_updated,
        1,
    )
    # Counters and timestamps AWS bumps on its own (attachment count) are stored but not hashed,
    # so a policy only "changes" when something about the policy itself does.
    hashed = (
        kind,
        arn,
        name,
        path,
        description,
        account_id,
        organization_id,
        principal_id,
        permission_set_id,
        aws_policy_id,
        aws_version_id,
        document_hash,
    )
    return _row(digest("policy", arn), values, hashed=hashed)


def _reconcile_policies(
    *, scope: str | Sequence[str], rows: list[Row], now: datetime, remove_missing: bool = True
) -> tuple[ingest.Plan, Outcome]:
    """Reconcile policies; a changed document bumps `version` and adds a `PolicyVersion`."""
    result = ingest.plan(Policy, scopes=scope, rows=rows, remove_missing=remove_missing)
    version_at = POLICY_FIELDS.index("version")
    hash_at = POLICY_FIELDS.index("document_hash")
    new_versions: list[tuple[str, Row, int]] = [(r.key, r, 1) for r in result.inserts if r.values[hash_at]]
    if result.updates:
        old = {
            pk: (doc_hash, version)
            for pk, doc_hash, version in Policy.objects.filter(pk__in=[pk for pk, _ in result.updates]).values_list(
                "pk", "document_hash", "version"
            )
        }
        updates = []
        for pk, row in result.updates:
            old_hash, old_version = old[pk]
            version = old_version
            if row.values[hash_at] and row.values[hash_at] != old_hash:
                version = old_version + 1
                new_versions.append((row.key, row, version))
            values = (*row.values[:version_at], version, *row.values[version_at + 1 :])
            updates.append((pk, Row(key=row.key, values=values, hash=row.hash, scope=row.scope)))
        result.updates = updates
    outcome = ingest.apply(result, fields=POLICY_FIELDS, now=now)
    if new_versions:
        doc_at = POLICY_FIELDS.index("document")
        aws_version_at = POLICY_FIELDS.index("aws_version_id")
        ingest.insert_plain(
            PolicyVersion,
            [
                PolicyVersion(
                    policy_id=result.ids[key],
                    version=version,
                    aws_version_id=row.values[aws_version_at],
                    document=row.values[doc_at],
                    document_hash=row.values[hash_at],
                    first_seen=now,
                )
                for key, row, version in new_versions
            ],
        )
    return result, outcome


class PolicyIndex:
    """arn -> Policy id for AWS managed policies, loaded once per sync and grown as needed."""

    def __init__(self) -> None:
        self._ids: dict[str, int] | None = None

    def _load(self) -> dict[str, int]:
        if self._ids is None:
            self._ids = dict(Policy.objects.filter(scope=AWS_SCOPE).values_list("arn", "id"))
        return self._ids

    def update(self, ids: dict[str, int]) -> None:
        self._load().update(ids)

    def resolve(self, attached: list[AttachedPolicy], now: datetime) -> dict[str, int]:
        """Ids for AWS managed policies, adding a placeholder (no document) for any not yet known.

        An endpoint may leave AWS managed documents out (the emulator loads none by default);
        the policy is still a real grant, so it is recorded by ARN and name.
        """
        ids = self._load()
        missing = {a.arn: a for a in attached if a.arn not in ids}
        if missing:
            rows = [
                _policy_row(
                    kind=PolicyKind.AWS_MANAGED, arn=a.arn, name=a.name or a.arn.rsplit("/", 1)[-1], document=None
                )
                for a in missing.values()
            ]
            result = ingest.plan(Policy, scopes=AWS_SCOPE, rows=rows, remove_missing=False)
            result.updates = []
            ingest.apply(result, fields=POLICY_FIELDS, now=now)
            ids.update({arn: result.ids[digest("policy", arn)] for arn in missing})
        return {a.arn: ids[a.arn] for a in attached}


def ingest_aws_managed_policies(
    *, policies: tuple[ManagedPolicy, ...], now: datetime, index: PolicyIndex
) -> IngestResult:
    """AWS managed policies (global); documents change as AWS publishes new default versions."""
    rows = [
        _policy_row(
            kind=PolicyKind.AWS_MANAGED,
            arn=p.arn,
            name=p.name,
            path=p.path,
            description=p.description,
            document=p.document,
            aws_policy_id=p.policy_id,
            aws_version_id=p.default_version_id,
            aws_created=p.created,
            aws_updated=p.updated,
        )
        for p in policies
    ]
    with transaction.atomic():
        result, outcome = _reconcile_policies(scope=AWS_SCOPE, rows=rows, now=now, remove_missing=False)
    index.update({p.arn: result.ids[digest("policy", p.arn)] for p in policies})
    return IngestResult(outcome=outcome, counts={"aws_managed_policies": len(rows)})


# Organization --------------------------------------------------------------------------------------


def ingest_organization(*, snapshot: OrgSnapshot, now: datetime) -> IngestResult:
    """The organization, its OU tree, accounts, SCPs and SCP attachments (scope "org")."""
    out = Outcome()
    with transaction.atomic():
        org = snapshot.org
        values = (org.org_id, org.arn, org.feature_set, org.management_account_id, org.management_account_email)
        result, outcome = ingest.reconcile(
            Organization,
            scope=ORG_SCOPE,
            fields=ORGANIZATION_FIELDS,
            rows=[_row(digest("org", org.org_id), values)],
            now=now,
        )
        out.add(outcome)
        org_pk = result.ids[digest("org", org.org_id)]

        # Parents before children: rows are planned level by level so a child's parent id is known.
        by_parent: dict[str | None, list] = defaultdict(list)
        for unit in snapshot.units:
            by_parent[unit.parent_id].append(unit)
        unit_ids: dict[str, int] = {}
        paths: dict[str, str] = {}
        stored = ingest.existing(OrganizationalUnit, ORG_SCOPE)
        level = [None]
        depth = 0
        all_keys: set[str] = set()
        while level:
            rows = []
            next_level = []
            for parent_id in level:
                for unit in by_parent.get(parent_id, ()):
                    path = f"{paths[parent_id]}{unit.ou_id}/" if parent_id else f"{unit.ou_id}/"
                    paths[unit.ou_id] = path
                    parent_pk = unit_ids[parent_id] if parent_id else None
                    values = (org_pk, unit.ou_id, unit.arn, unit.name, unit.is_root, parent_pk, path, depth)
                    rows.append(_row(digest("ou", unit.ou_id), values))
                    next_level.append(unit.ou_id)
            if rows:
                result = ingest.plan(
                    OrganizationalUnit, scopes=ORG_SCOPE, rows=rows, remove_missing=False, stored=stored
                )
                out.add(ingest.apply(result, fields=OU_FIELDS, now=now))
                all_keys.update(r.key for r in rows)
                ou_ids = {r.key: r.values[1] for r in rows}
                for unit_key, unit_pk in result.ids.items():
                    unit_ids[ou_ids[unit_key]] = unit_pk
            level = next_level
            depth += 1
        gone = [pk for key, (pk, _h, removed, _s) in stored.items() if not removed and key not in all_keys]
        if gone:
            out.removed += OrganizationalUnit.objects.filter(pk__in=gone).update(removed_at=now, last_seen=now)

        account_rows = [
            _row(
                digest("account", a.account_id),
                (
                    org_pk,
                    a.account_id,
                    a.arn,
                    a.name,
                    a.email,
                    a.status,
                    a.joined_method,
                    a.joined_at,
                    unit_ids.get(a.parent_id),
                    a.account_id == org.management_account_id,
                ),
            )
            for a in snapshot.accounts
        ]
        accounts, outcome = ingest.reconcile(
            Account, scope=ORG_SCOPE, fields=ACCOUNT_FIELDS, rows=account_rows, now=now
        )
        out.add(outcome)
        account_ids = {a.account_id: accounts.ids[digest("account", a.account_id)] for a in snapshot.accounts}

        scp_rows = [
            _policy_row(
                kind=PolicyKind.SCP,
                arn=s.arn,
                name=s.name,
                description=s.description,
                document=s.document,
                organization_id=org_pk,
                aws_policy_id=s.policy_id,
            )
            for s in snapshot.scps
        ]
        scps, outcome = _reconcile_policies(scope=ORG_SCOPE, rows=scp_rows, now=now)
        out.add(outcome)
        attachment_rows = []
        for scp in snapshot.scps:
            policy_pk = scps.ids[digest("policy", scp.arn)]
            for target in scp.targets:
                is_account = target.target_type == ScpTargetType.ACCOUNT
                values = (
                    policy_pk,
                    target.target_type,
                    target.target_id,
                    None if is_account else unit_ids.get(target.target_id),
                    account_ids.get(target.target_id) if is_account else None,
                )
                attachment_rows.append(_link(digest("scp-attachment", scp.arn, target.target_id), values))
        _, outcome = ingest.reconcile(
            ScpAttachment, scope=ORG_SCOPE, fields=SCP_ATTACHMENT_FIELDS, rows=attachment_rows, now=now
        )
        out.add(outcome)
    counts = {
        "accounts": len(snapshot.accounts),
        "organizational_units": len(snapshot.units),
        "scps": len(snapshot.scps),
        "scp_attachments": len(attachment_rows),
    }
    return IngestResult(outcome=out, counts=counts)


def ingest_account_tags(*, account_pk: int, tags: dict[str, str], now: datetime) -> int:
    """Store an account's tags and owner when they differ from what is stored; returns changes.

    Tags are read per account (see governance.aws.readers.organizations), after the org
    structure, so they are compared directly rather than through the account's content hash.
    """
    owner = _owner(tags)
    stored = Account.objects.filter(pk=account_pk).values_list("tags", "owner").first()
    if stored is None or (stored[0] == tags and stored[1] == owner):
        return 0
    return Account.objects.filter(pk=account_pk).update(tags=tags, owner=owner, last_seen=now)


# IAM Identity Center -------------------------------------------------------------------------------


def sso_user_arn(user_id: str) -> str:
    return f"arn:aws:identitystore:::user/{user_id}"


def sso_group_arn(group_id: str) -> str:
    return f"arn:aws:identitystore:::group/{group_id}"


def _principal_values(
    *,
    kind: str,
    account_id: int | None,
    arn: str,
    name: str,
    path: str = "",
    aws_id: str = "",
    created: datetime | None = None,
    last_used: datetime | None = None,
    last_used_region: str = "",
    mfa_enabled: bool | None = None,
    password_enabled: bool | None = None,
    password_last_used: datetime | None = None,
    permissions_boundary_id: int | None = None,
    trust_policy: Any = None,
    tags: dict | None = None,
    identity_store_id: str = "",
    identity_store_principal_id: str = "",
    user_name: str = "",
    display_name: str = "",
    email: str = "",
    own_footprint: bool = False,
) -> Row:
    tags = tags or {}
    values = (
        kind,
        account_id,
        arn,
        name,
        path,
        aws_id,
        created,
        last_used,
        last_used_region,
        mfa_enabled,
        password_enabled,
        password_last_used,
        permissions_boundary_id,
        trust_policy,
        tags,
        _owner(tags),
        identity_store_id,
        identity_store_principal_id,
        user_name,
        display_name,
        email,
    )
    if own_footprint:
        # The portal's own read role is "used" by every sync; its last use is our footprint, not a
        # change in AWS, so it is stored but kept out of the hash (a no-change sync writes nothing).
        return _row(digest("principal", arn), values, hashed=(*values[:7], None, "", *values[9:]))
    return _row(digest("principal", arn), values)


def ingest_identity_center(*, snapshot: IdentityCenterSnapshot, now: datetime, index: PolicyIndex) -> IngestResult:
    """Identity Center users, groups, memberships, permission sets, assignments and entitlements."""
    out = Outcome()
    instance = snapshot.instance
    account_pks = dict(Account.objects.values_list("account_id", "id"))
    owner_pk = account_pks.get(instance.owner_account_id) if instance else None
    store_id = instance.identity_store_id if instance else ""
    with transaction.atomic():
        principal_rows = [
            _principal_values(
                kind=PrincipalKind.SSO_USER,
                account_id=owner_pk,
                arn=sso_user_arn(u.user_id),
                name=u.user_name or u.display_name,
                aws_id=u.user_id,
                identity_store_id=store_id,
                identity_store_principal_id=u.user_id,
                user_name=u.user_name,
                display_name=u.display_name,
                email=u.email,
            )
            for u in snapshot.users
        ] + [
            _principal_values(
                kind=PrincipalKind.SSO_GROUP,
                account_id=owner_pk,
                arn=sso_group_arn(g.group_id),
                name=g.display_name,
                aws_id=g.group_id,
                identity_store_id=store_id,
                identity_store_principal_id=g.group_id,
                display_name=g.display_name,
            )
            for g in snapshot.groups
        ]
        principals, outcome = ingest.reconcile(
            Principal, scope=SSO_SCOPE, fields=PRINCIPAL_FIELDS, rows=principal_rows, now=now
        )
        out.add(outcome)
        user_pk = {u.user_id: principals.ids[digest("principal", sso_user_arn(u.user_id))] for u in snapshot.users}
        group_pk = {g.group_id: principals.ids[digest("principal", sso_group_arn(g.group_id))] for g in snapshot.groups}

        members: dict[str, list[str]] = defaultdict(list)
        membership_rows = []
        for m in snapshot.memberships:
            if m.group_id in group_pk and m.user_id in user_pk:
                members[m.group_id].append(m.user_id)
                membership_rows.append(
                    _link(
                        digest("membership", sso_group_arn(m.group_id), sso_user_arn(m.user_id)),
                        (group_pk[m.group_id], user_pk[m.user_id], owner_pk),
                    )
                )
        _, outcome = ingest.reconcile(
            GroupMembership, scope=SSO_SCOPE, fields=MEMBERSHIP_FIELDS, rows=membership_rows, now=now
        )
        out.add(outcome)

        ps_rows = [
            _row(
                digest("permission-set", ps.arn),
                (
                    instance.instance_arn if instance else "",
                    ps.arn,
                    ps.name,
                    ps.description,
                    ps.session_duration,
                    ps.relay_state,
                    ps.created,
                ),
            )
            for ps in snapshot.permission_sets
        ]
        permission_sets, outcome = ingest.reconcile(
            PermissionSet, scope=SSO_SCOPE, fields=PERMISSION_SET_FIELDS, rows=ps_rows, now=now
        )
        out.add(outcome)
        ps_pk = {ps.arn: permission_sets.ids[digest("permission-set", ps.arn)] for ps in snapshot.permission_sets}

        inline_rows = [
            _policy_row(
                kind=PolicyKind.PERMISSION_SET_INLINE,
                arn=f"{ps.arn}#inline",
                name=f"{ps.name} (inline)",
                document=ps.inline_policy,
                permission_set_id=ps_pk[ps.arn],
            )
            for ps in snapshot.permission_sets
            if ps.inline_policy is not None
        ]
        inline, outcome = _reconcile_policies(scope=SSO_SCOPE, rows=inline_rows, now=now)
        out.add(outcome)

        managed_ids = index.resolve([p for ps in snapshot.permission_sets for p in ps.managed_policies], now)
        ps_policies: dict[str, list[tuple[str, int]]] = defaultdict(list)
        link_rows = []
        for ps in snapshot.permission_sets:
            for p in ps.managed_policies:
                ps_policies[ps.arn].append((p.arn, managed_ids[p.arn]))
                link_rows.append(_link(digest("ps-policy", ps.arn, p.arn), (ps_pk[ps.arn], managed_ids[p.arn])))
            if ps.inline_policy is not None:
                arn = f"{ps.arn}#inline"
                ps_policies[ps.arn].append((arn, inline.ids[digest("policy", arn)]))
        _, outcome = ingest.reconcile(
            PermissionSetPolicy, scope=SSO_SCOPE, fields=PERMISSION_SET_POLICY_FIELDS, rows=link_rows, now=now
        )
        out.add(outcome)

        assignment_rows = []
        entitlement_rows = []
        for a in snapshot.assignments:
            if a.permission_set_arn not in ps_pk:
                continue
            is_group = a.principal_type == "GROUP"
            arn = sso_group_arn(a.principal_id) if is_group else sso_user_arn(a.principal_id)
            principal_pk = (group_pk if is_group else user_pk).get(a.principal_id)
            account_pk = account_pks.get(a.account_id)
            pset = ps_pk[a.permission_set_arn]
            assignment_rows.append(
                _link(
                    digest("assignment", a.permission_set_arn, a.account_id, a.principal_type, a.principal_id),
                    (pset, account_pk, a.account_id, principal_pk, a.principal_type, a.principal_id),
                )
            )
            if principal_pk is None:
                continue
            for policy_arn, policy_pk in ps_policies[a.permission_set_arn]:
                entitlement_rows.append(
                    _entitlement(
                        arn,
                        policy_arn,
                        EntitlementVia.PERMISSION_SET,
                        a.account_id,
                        (principal_pk, policy_pk, EntitlementVia.PERMISSION_SET, account_pk, None, pset),
                        permission_set_arn=a.permission_set_arn,
                    )
                )
                if is_group:
                    for user_id in members[a.principal_id]:
                        entitlement_rows.append(
                            _entitlement(
                                sso_user_arn(user_id),
                                policy_arn,
                                EntitlementVia.GROUP,
                                a.account_id,
                                (user_pk[user_id], policy_pk, EntitlementVia.GROUP, account_pk, principal_pk, pset),
                                via_group_arn=arn,
                                permission_set_arn=a.permission_set_arn,
                            )
                        )
        _, outcome = ingest.reconcile(
            AccountAssignment, scope=SSO_SCOPE, fields=ASSIGNMENT_FIELDS, rows=assignment_rows, now=now
        )
        out.add(outcome)
        _, outcome = ingest.reconcile(
            Entitlement, scope=SSO_SCOPE, fields=ENTITLEMENT_FIELDS, rows=entitlement_rows, now=now
        )
        out.add(outcome)
    counts = {
        "sso_users": len(snapshot.users),
        "sso_groups": len(snapshot.groups),
        "permission_sets": len(snapshot.permission_sets),
        "account_assignments": len(assignment_rows),
        "principals": len(principal_rows),
        "entitlements": len({r.key for r in entitlement_rows}),
    }
    return IngestResult(outcome=out, counts=counts)


def _entitlement(
    principal_arn: str,
    policy_arn: str,
    via: str,
    account_id: str,
    values: tuple,
    *,
    via_group_arn: str = "",
    permission_set_arn: str = "",
) -> Row:
    key = digest("entitlement", principal_arn, policy_arn, via, account_id, via_group_arn, permission_set_arn)
    return _link(key, values)


# IAM, per member account ---------------------------------------------------------------------------


def iam_scope(account_id: str) -> str:
    return f"iam:{account_id}"


def inline_policy_arn(owner_arn: str, name: str) -> str:
    return f"{owner_arn}#inline/{name}"


def ingest_account_iam(*, iam: AccountIam, account_pk: int, now: datetime, index: PolicyIndex) -> IngestResult:
    """One account's IAM: policies, principals, memberships, entitlements, keys and IAM facts."""
    return ingest_accounts_iam(items=[(iam, account_pk)], now=now, index=index)[iam.account_id]


def ingest_accounts_iam(
    *, items: Sequence[tuple[AccountIam, int]], now: datetime, index: PolicyIndex
) -> dict[str, IngestResult]:
    """Several accounts' IAM at once, one transaction, each account its own scope.

    Batching turns per-account round trips (a SELECT, a COPY or UPDATE per table) into per-batch
    ones; the sync ingests whatever accounts have finished reading together. One transaction:
    malformed data anywhere leaves every account of the batch as it was (the sync then retries
    the accounts one by one, so one bad account does not hold back the others).
    """
    if not items:
        return {}
    results = {iam.account_id: IngestResult(counts=_iam_counts(iam)) for iam, _pk in items}
    stored_digests = dict(Account.objects.filter(pk__in=[pk for _, pk in items]).values_list("pk", "iam_digest"))
    # An account whose read is identical to the last one ingested is already stored as it is.
    items = [(iam, pk) for iam, pk in items if not iam.digest or stored_digests.get(pk) != iam.digest]
    if not items:
        return results
    plans: list[ingest.Plan] = []
    with transaction.atomic():
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
        policies, _ = _reconcile_policies(
            scope=[iam_scope(iam.account_id) for iam, _ in items], rows=policy_rows, now=now
        )
        plans.append(policies)
        policy_pk = {row.values[1]: policies.ids[row.key] for row in policy_rows}
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
        principals, _ = ingest.reconcile(
            Principal, scope=[iam_scope(iam.account_id) for iam, _ in items], fields=PRINCIPAL_FIELDS,
            rows=principal_rows, now=now,
        )  # fmt: skip
        plans.append(principals)
        principal_pk = {row.values[2]: principals.ids[row.key] for row in principal_rows}

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
        inline, _ = _reconcile_policies(
            scope=[f"{iam_scope(iam.account_id)}:inline" for iam, _ in items], rows=inline_rows, now=now
        )
        plans.append(inline)
        policy_pk.update({row.values[1]: inline.ids[row.key] for row in inline_rows})

        per_model: dict[type, list[Row]] = defaultdict(list)
        for iam, account_pk in items:
            built = _iam_account_rows(iam, account_pk, principal_pk, policy_pk)
            for model, rows in built.items():
                per_model[model].extend(rows)
        account_scopes = [iam_scope(iam.account_id) for iam, _ in items]
        for model, fields in (
            (GroupMembership, MEMBERSHIP_FIELDS),
            (Entitlement, ENTITLEMENT_FIELDS),
            (AccessKey, ACCESS_KEY_FIELDS),
            (CredentialReportRow, CREDENTIAL_REPORT_FIELDS),
            (PasswordPolicy, PASSWORD_POLICY_FIELDS),
        ):
            result, _ = ingest.reconcile(model, scope=account_scopes, fields=fields, rows=per_model[model], now=now)
            plans.append(result)
        for iam, pk in items:
            if iam.digest and stored_digests.get(pk) != iam.digest:
                Account.objects.filter(pk=pk).update(iam_digest=iam.digest)
    changes: Counter[str] = Counter()
    for result in plans:
        changes.update(result.changes_by_scope())
    for iam, _pk in items:
        scope = iam_scope(iam.account_id)
        results[iam.account_id].outcome = Outcome(updated=changes[scope] + changes[f"{scope}:inline"])
    return results


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
                    (user_pk, account_pk, slot, "", status, rotated, used, service, region),
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
