"""Inventory models: what the sync copies from AWS, and the sync runs themselves."""

from governance.inventory.models.base import Synced, SyncedQuerySet
from governance.inventory.models.iam import (
    AccessKey,
    AccessKeyStatus,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    PasswordPolicy,
    Principal,
    PrincipalKind,
)
from governance.inventory.models.identity_center import AccountAssignment, PermissionSet, PermissionSetPolicy
from governance.inventory.models.org import (
    Account,
    AccountStatus,
    AdminAccess,
    Organization,
    OrganizationalUnit,
    Policy,
    PolicyKind,
    PolicyVersion,
    ScpAttachment,
    ScpTargetType,
)
from governance.inventory.models.sync import AccountSyncStatus, SyncAccountRun, SyncRun, SyncStatus, SyncTrigger

__all__ = [
    "AccessKey",
    "AccessKeyStatus",
    "Account",
    "AccountAssignment",
    "AccountStatus",
    "AccountSyncStatus",
    "AdminAccess",
    "CredentialReportRow",
    "Entitlement",
    "EntitlementVia",
    "GroupMembership",
    "Organization",
    "OrganizationalUnit",
    "PasswordPolicy",
    "PermissionSet",
    "PermissionSetPolicy",
    "Policy",
    "PolicyKind",
    "PolicyVersion",
    "Principal",
    "PrincipalKind",
    "ScpAttachment",
    "ScpTargetType",
    "SyncAccountRun",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "Synced",
    "SyncedQuerySet",
]
