"""Reads IAM Identity Center: instance, users, groups, memberships, permission sets, assignments.

Assignments are enumerated per permission set: ListAccountsForProvisionedPermissionSet (the
accounts it is provisioned to), then ListAccountAssignments for each such (account, permission
set). That costs P + (provisioned pairs) calls, and a permission set is provisioned only where it
is assigned. The alternative, ListAccountAssignments for every account x every permission set,
costs A x P calls whether or not anything is assigned (100 accounts x 10 sets: 1,000 calls,
against about 10 + the pairs actually in use).

Each permission set itself costs five calls: DescribePermissionSet, ListManagedPolicies,
GetInlinePolicy, ListCustomerManagedPolicyReferences (pages of 100; one in practice) and
GetPermissionsBoundary. So a read is about 5 P + P + (provisioned pairs), plus the identity store.
GetPermissionsBoundary answers ResourceNotFoundException for a set without one. Once it fails
otherwise (access denied; a server error that outlasted the retries), it is not asked again in
this read: the remaining sets' boundaries are recorded as unknown, with the reason in
`IdentityCenterSnapshot.boundary_error`, rather than as absent.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from governance.aws.errors import translates
from governance.aws.readers.organizations import parse_document
from governance.aws.readers.types import (
    Assignment,
    AttachedPolicy,
    CustomerManagedReference,
    IcGroup,
    IcInstance,
    IcMembership,
    IcUser,
    IdentityCenterSnapshot,
    PermissionSetBoundary,
    PermissionSetInfo,
)
from governance.aws.session import management_client, paginate

# What AWS answers when a permission set has no permissions boundary.
NO_BOUNDARY = "ResourceNotFoundException"
# The SCIM enterprise user attributes (manager, department, ...); ListUsers returns them only when asked.
ENTERPRISE_EXTENSION = "aws:identitystore:enterprise"


@translates
def read_identity_center(*, sso: Any | None = None, store: Any | None = None) -> IdentityCenterSnapshot:
    """Everything in the first Identity Center instance (there is one per organization)."""
    sso = sso or management_client("sso-admin")
    boundaries = _Boundaries(sso)
    store = store or management_client("identitystore")
    instances = list(paginate(sso, "list_instances", "Instances"))
    if not instances:
        return IdentityCenterSnapshot(instance=None)
    raw = instances[0]
    instance = IcInstance(
        instance_arn=raw["InstanceArn"],
        identity_store_id=raw["IdentityStoreId"],
        owner_account_id=raw.get("OwnerAccountId", ""),
    )
    store_id = instance.identity_store_id
    users = tuple(
        _user(u)
        for u in paginate(store, "list_users", "Users", IdentityStoreId=store_id, Extensions=[ENTERPRISE_EXTENSION])
    )
    groups = tuple(
        IcGroup(group_id=g["GroupId"], display_name=g.get("DisplayName", ""), description=g.get("Description", ""))
        for g in paginate(store, "list_groups", "Groups", IdentityStoreId=store_id)
    )
    memberships = tuple(
        IcMembership(group_id=group.group_id, user_id=m["MemberId"]["UserId"])
        for group in groups
        for m in paginate(
            store, "list_group_memberships", "GroupMemberships", IdentityStoreId=store_id, GroupId=group.group_id
        )
        if "UserId" in (m.get("MemberId") or {})
    )
    permission_sets = []
    assignments = []
    for ps_arn in paginate(sso, "list_permission_sets", "PermissionSets", InstanceArn=instance.instance_arn):
        permission_sets.append(_permission_set(sso, instance.instance_arn, ps_arn, boundaries))
        accounts = paginate(
            sso,
            "list_accounts_for_provisioned_permission_set",
            "AccountIds",
            InstanceArn=instance.instance_arn,
            PermissionSetArn=ps_arn,
        )
        for account_id in accounts:
            for a in paginate(
                sso,
                "list_account_assignments",
                "AccountAssignments",
                InstanceArn=instance.instance_arn,
                AccountId=account_id,
                PermissionSetArn=ps_arn,
            ):
                assignments.append(
                    Assignment(
                        permission_set_arn=ps_arn,
                        account_id=a.get("AccountId", account_id),
                        principal_type=a["PrincipalType"],
                        principal_id=a["PrincipalId"],
                    )
                )
    return IdentityCenterSnapshot(
        instance=instance,
        users=users,
        groups=groups,
        memberships=memberships,
        permission_sets=tuple(permission_sets),
        assignments=tuple(dict.fromkeys(assignments)),
        boundary_error=boundaries.error,
    )


def _user(raw: dict) -> IcUser:
    emails = raw.get("Emails") or []
    primary = next((e for e in emails if e.get("Primary")), emails[0] if emails else {})
    return IcUser(
        user_id=raw["UserId"],
        user_name=raw.get("UserName", ""),
        display_name=raw.get("DisplayName", ""),
        email=primary.get("Value", ""),
        manager_user_id=_manager(raw),
        external_ids=tuple(
            {"Issuer": str(e.get("Issuer", "")), "Id": str(e.get("Id", ""))}
            for e in raw.get("ExternalIds") or []
            if isinstance(e, dict) and e.get("Id")
        ),
    )


def _manager(raw: dict) -> str:
    """The enterprise extension's `manager`: SCIM's `{"value": id}`, or a bare id some IdPs send."""
    enterprise = (raw.get("Extensions") or {}).get(ENTERPRISE_EXTENSION) or {}
    manager = enterprise.get("manager") if isinstance(enterprise, dict) else None
    if isinstance(manager, dict):
        manager = manager.get("value")
    return manager if isinstance(manager, str) else ""


def _permission_set(sso: Any, instance_arn: str, arn: str, boundaries: _Boundaries) -> PermissionSetInfo:
    described = sso.describe_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)["PermissionSet"]
    managed = tuple(
        AttachedPolicy(arn=p["Arn"], name=p.get("Name", ""))
        for p in paginate(
            sso,
            "list_managed_policies_in_permission_set",
            "AttachedManagedPolicies",
            InstanceArn=instance_arn,
            PermissionSetArn=arn,
        )
    )
    inline = sso.get_inline_policy_for_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn).get(
        "InlinePolicy", ""
    )
    references = tuple(
        _reference(r)
        for r in paginate(
            sso,
            "list_customer_managed_policy_references_in_permission_set",
            "CustomerManagedPolicyReferences",
            InstanceArn=instance_arn,
            PermissionSetArn=arn,
        )
    )
    return PermissionSetInfo(
        arn=arn,
        name=described.get("Name", ""),
        description=described.get("Description", ""),
        session_duration=described.get("SessionDuration", ""),
        relay_state=described.get("RelayState", ""),
        created=described.get("CreatedDate"),
        managed_policies=managed,
        inline_policy=parse_document(inline, what=f"{arn} inline policy"),
        customer_managed_references=tuple(dict.fromkeys(references)),
        boundary=boundaries.read(instance_arn, arn),
    )


def _reference(raw: dict) -> CustomerManagedReference:
    return CustomerManagedReference(name=raw["Name"], path=raw.get("Path") or "/")


class _Boundaries:
    """GetPermissionsBoundaryForPermissionSet for each set, until the endpoint shows it cannot answer."""

    def __init__(self, sso: Any) -> None:
        self._sso = sso
        self.error = ""

    def read(self, instance_arn: str, arn: str) -> PermissionSetBoundary:
        if self.error:
            return PermissionSetBoundary(read=False)
        params = {"InstanceArn": instance_arn, "PermissionSetArn": arn}
        try:
            raw = self._sso.get_permissions_boundary_for_permission_set(**params)
        except ClientError as exc:
            if _code(exc) == NO_BOUNDARY:
                return PermissionSetBoundary()
            self.error = _unavailable(exc)
            return PermissionSetBoundary(read=False)
        boundary = raw.get("PermissionsBoundary") or {}
        reference = boundary.get("CustomerManagedPolicyReference")
        return PermissionSetBoundary(
            reference=_reference(reference) if reference else None,
            managed_policy_arn=boundary.get("ManagedPolicyArn", ""),
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(exc: ClientError) -> str:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if status >= 500:
        return f"GetPermissionsBoundaryForPermissionSet: the endpoint failed (HTTP {status})."
    message = exc.response.get("Error", {}).get("Message", "")
    return f"GetPermissionsBoundaryForPermissionSet: {_code(exc)}: {message}".strip()
