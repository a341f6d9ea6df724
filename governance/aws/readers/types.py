"""What the readers return: frozen dataclasses, no boto3 types, ready for inventory ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class MalformedData(ValueError):
    """AWS (or the endpoint) returned something the readers cannot interpret."""


# Organizations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgInfo:
    org_id: str
    arn: str
    feature_set: str
    management_account_id: str
    management_account_email: str


@dataclass(frozen=True)
class OrgUnit:
    ou_id: str
    arn: str
    name: str
    parent_id: str | None
    is_root: bool = False


@dataclass(frozen=True)
class OrgAccount:
    account_id: str
    arn: str
    name: str
    email: str
    status: str
    joined_method: str
    joined_at: datetime | None
    parent_id: str


@dataclass(frozen=True)
class ScpTarget:
    target_id: str
    target_type: str
    name: str


@dataclass(frozen=True)
class Scp:
    policy_id: str
    arn: str
    name: str
    description: str
    aws_managed: bool
    document: Any
    targets: tuple[ScpTarget, ...]


@dataclass(frozen=True)
class OrgSnapshot:
    org: OrgInfo
    units: tuple[OrgUnit, ...]
    accounts: tuple[OrgAccount, ...]
    scps: tuple[Scp, ...]
    # Resource control policies, when the root has them enabled (governance/aws/readers/org_policies.py).
    rcps: tuple[Scp, ...] = ()


# IAM, per member account -------------------------------------------------------------------------


@dataclass(frozen=True)
class InlinePolicy:
    name: str
    document: Any


@dataclass(frozen=True)
class AttachedPolicy:
    arn: str
    name: str


@dataclass(frozen=True)
class ManagedPolicy:
    arn: str
    name: str
    path: str
    policy_id: str
    default_version_id: str
    document: Any
    attachment_count: int | None
    description: str
    created: datetime | None
    updated: datetime | None

    @property
    def aws_managed(self) -> bool:
        return self.arn.startswith("arn:aws:iam::aws:policy/") or ":iam::aws:policy/" in self.arn


@dataclass(frozen=True)
class IamUser:
    arn: str
    name: str
    path: str
    user_id: str
    created: datetime | None
    groups: tuple[str, ...]
    attached: tuple[AttachedPolicy, ...]
    inline: tuple[InlinePolicy, ...]
    boundary_arn: str
    tags: dict[str, str]


@dataclass(frozen=True)
class IamGroup:
    arn: str
    name: str
    path: str
    group_id: str
    created: datetime | None
    attached: tuple[AttachedPolicy, ...]
    inline: tuple[InlinePolicy, ...]


@dataclass(frozen=True)
class IamRole:
    arn: str
    name: str
    path: str
    role_id: str
    created: datetime | None
    trust_policy: Any
    attached: tuple[AttachedPolicy, ...]
    inline: tuple[InlinePolicy, ...]
    boundary_arn: str
    tags: dict[str, str]
    last_used: datetime | None
    last_used_region: str


@dataclass(frozen=True)
class CredentialReportEntry:
    user: str
    arn: str
    user_creation_time: datetime | None
    password_enabled: bool | None
    password_last_used: datetime | None
    password_last_changed: datetime | None
    password_next_rotation: datetime | None
    mfa_active: bool
    access_key_1_active: bool
    access_key_1_last_rotated: datetime | None
    access_key_1_last_used_date: datetime | None
    access_key_1_last_used_region: str
    access_key_1_last_used_service: str
    access_key_2_active: bool
    access_key_2_last_rotated: datetime | None
    access_key_2_last_used_date: datetime | None
    access_key_2_last_used_region: str
    access_key_2_last_used_service: str
    cert_1_active: bool
    cert_2_active: bool

    @property
    def is_root(self) -> bool:
        return self.user == "<root_account>"


@dataclass(frozen=True)
class PasswordPolicyInfo:
    configured: bool
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountIam:
    account_id: str
    users: tuple[IamUser, ...]
    groups: tuple[IamGroup, ...]
    roles: tuple[IamRole, ...]
    policies: tuple[ManagedPolicy, ...]
    credential_report: tuple[CredentialReportEntry, ...]
    credential_report_generated_at: datetime | None
    password_policy: PasswordPolicyInfo
    tags: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    # (user ARN, key slot 1 or 2) -> access key id; the credential report has no key ids.
    access_key_ids: dict[tuple[str, int], str] = field(default_factory=dict)


def key_created(value: datetime) -> str:
    """A key's creation time as the key of `KnownKeyIds`: ISO 8601 to the second, in UTC."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0).isoformat()


# (user ARN, creation time as `key_created` gives it) -> access key id, for keys the portal has seen.
KnownKeyIds = dict[tuple[str, str], str]


# IAM Identity Center ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IcInstance:
    instance_arn: str
    identity_store_id: str
    owner_account_id: str


@dataclass(frozen=True)
class IcUser:
    user_id: str
    user_name: str
    display_name: str
    email: str
    # The `manager` of the `aws:identitystore:enterprise` extension (SCIM fills it from the IdP):
    # the manager's Identity Center user id, or "" when the IdP sends none.
    manager_user_id: str = ""
    # ExternalIds as SCIM provisioning fills them: ({"Issuer": ..., "Id": ...}, ...); what the
    # portal links a sign-in to when a provider is configured to match on a claim.
    external_ids: tuple[dict, ...] = ()


@dataclass(frozen=True)
class IcGroup:
    group_id: str
    display_name: str
    description: str


@dataclass(frozen=True)
class IcMembership:
    group_id: str
    user_id: str


@dataclass(frozen=True)
class CustomerManagedReference:
    """A customer managed policy a permission set names; AWS resolves it in each assigned account."""

    name: str
    path: str = "/"


@dataclass(frozen=True)
class PermissionSetBoundary:
    """A permission set's permissions boundary: a customer managed reference or a managed policy ARN.

    `read` is False when the endpoint could not say (the API is missing or denied), which is not
    the same as having no boundary.
    """

    read: bool = True
    reference: CustomerManagedReference | None = None
    managed_policy_arn: str = ""


@dataclass(frozen=True)
class PermissionSetInfo:
    arn: str
    name: str
    description: str
    session_duration: str
    relay_state: str
    created: datetime | None
    managed_policies: tuple[AttachedPolicy, ...]
    inline_policy: Any
    customer_managed_references: tuple[CustomerManagedReference, ...] = ()
    boundary: PermissionSetBoundary = field(default_factory=PermissionSetBoundary)


@dataclass(frozen=True)
class Assignment:
    permission_set_arn: str
    account_id: str
    principal_type: str
    principal_id: str


@dataclass(frozen=True)
class IdentityCenterSnapshot:
    instance: IcInstance | None
    users: tuple[IcUser, ...] = ()
    groups: tuple[IcGroup, ...] = ()
    memberships: tuple[IcMembership, ...] = ()
    permission_sets: tuple[PermissionSetInfo, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    # Why permission-set boundaries could not be read ("" when they were).
    boundary_error: str = ""
