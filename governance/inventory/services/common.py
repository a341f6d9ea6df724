"""Shared by the ingest services: row layouts, rows, policies and their versions, principals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from governance.aws.readers.types import (
    AttachedPolicy,
    ManagedPolicy,
)
from governance.inventory import ingest
from governance.inventory.ingest import Outcome, Row, digest
from governance.inventory.models import (
    Policy,
    PolicyKind,
    PolicyVersion,
)
from governance.inventory.privilege import admin_access

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
    "admin_access",
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
    "manager_user_id",
    "external_ids",
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
PERMISSION_SET_FIELDS = (
    "instance_arn",
    "arn",
    "name",
    "description",
    "session_duration",
    "relay_state",
    "created",
    "customer_managed_references",
    "unresolved_references",
    "boundary_type",
    "boundary_name",
    "boundary_path",
    "boundary_policy_arn",
)
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
    # Encoded once: the same text gives the hash and is copied into the policy and version rows.
    encoded = ingest.canonical_json(document) if document is not None else None
    document_hash = digest(encoded) if encoded is not None else ""
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
        admin_access(document, kind=kind),
        1,
    )
    # Counters and timestamps AWS bumps on its own (attachment count) are stored but not hashed,
    # so a policy only "changes" when something about the policy itself does.
    hashed = (*values[: POLICY_FIELDS.index("document")], document_hash)
    row = _row(digest("policy", arn), values, hashed=hashed)
    if encoded is not None:
        row.encoded = {"document": encoded}
    return row


@dataclass
class PolicyPlan:
    """Policies to write, and the `PolicyVersion` each changed or new document adds."""

    plan: ingest.Plan
    versions: list[tuple[str, Row, int]]

    def write(self, now: datetime) -> Outcome:
        outcome = ingest.apply(self.plan, fields=POLICY_FIELDS, now=now)
        if self.versions:
            doc_at = POLICY_FIELDS.index("document")
            hash_at = POLICY_FIELDS.index("document_hash")
            aws_version_at = POLICY_FIELDS.index("aws_version_id")
            ingest.insert_plain(
                PolicyVersion,
                ("policy_id", "version", "aws_version_id", "document", "document_hash", "first_seen"),
                [
                    (
                        self.plan.ids[key],
                        version,
                        row.values[aws_version_at],
                        row.values[doc_at],
                        row.values[hash_at],
                        now,
                    )
                    for key, row, version in self.versions
                ],
                encoded=[row.encoded or {} for _key, row, _version in self.versions],
            )
        return outcome


def plan_policies(*, scope: str | Sequence[str], rows: list[Row], remove_missing: bool = True) -> PolicyPlan:
    """Compare policies with what is stored; a changed document bumps `version` and gets a version row."""
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
            updates.append((pk, Row(key=row.key, values=values, hash=row.hash, scope=row.scope, encoded=row.encoded)))
        result.updates = updates
    return PolicyPlan(plan=result, versions=new_versions)


def _reconcile_policies(
    *, scope: str | Sequence[str], rows: list[Row], now: datetime, remove_missing: bool = True
) -> tuple[ingest.Plan, Outcome]:
    """Reconcile policies now (plan and write); see `plan_policies`."""
    planned = plan_policies(scope=scope, rows=rows, remove_missing=remove_missing)
    return planned.plan, planned.write(now)


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
    manager_user_id: str = "",
    external_ids: Any = (),
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
        manager_user_id,
        [dict(e) for e in external_ids],
    )
    if own_footprint:
        # The portal's own read role is "used" by every sync; its last use is our footprint, not a
        # change in AWS, so it is stored but kept out of the hash (a no-change sync writes nothing).
        return _row(digest("principal", arn), values, hashed=(*values[:7], None, "", *values[9:]))
    return _row(digest("principal", arn), values)


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
    return Row(key=key, values=values, hash="")  # a link: see `_link`
