"""Ingest of IAM Identity Center: users, groups, memberships, permission sets, assignments.

A permission set grants its AWS managed policies, its inline policy and, in each account it is
assigned on, the customer managed policies it references by name and path. Those resolve against
the `Policy` rows the per-account IAM sync wrote earlier in the same run (sync.py ingests every
account before Identity Center).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import connection, transaction

from governance.aws.readers.types import (
    Assignment,
    CustomerManagedReference,
    IdentityCenterSnapshot,
    PermissionSetInfo,
)
from governance.inventory import ingest
from governance.inventory.ingest import Outcome, digest
from governance.inventory.models import (
    Account,
    AccountAssignment,
    Entitlement,
    EntitlementVia,
    GroupMembership,
    PermissionSet,
    PermissionSetPolicy,
    Policy,
    PolicyKind,
    Principal,
    PrincipalKind,
)
from governance.inventory.models.identity_center import BoundaryType
from governance.inventory.models.org import reference_path
from governance.inventory.services.common import (
    ASSIGNMENT_FIELDS,
    ENTITLEMENT_FIELDS,
    MEMBERSHIP_FIELDS,
    PERMISSION_SET_FIELDS,
    PERMISSION_SET_POLICY_FIELDS,
    PRINCIPAL_FIELDS,
    SSO_SCOPE,
    IngestResult,
    PolicyIndex,
    _entitlement,
    _link,
    _policy_row,
    _principal_values,
    _reconcile_policies,
    _row,
)

# (account pk, policy name, path) -> (policy arn, policy pk)
CustomerPolicies = dict[tuple[int, str, str], tuple[int, str]]


def sso_user_arn(user_id: str) -> str:
    return f"arn:aws:identitystore:::user/{user_id}"


def sso_group_arn(group_id: str) -> str:
    return f"arn:aws:identitystore:::group/{group_id}"


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
                manager_user_id=u.manager_user_id,
                external_ids=u.external_ids,
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
        _resolve_managers()
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

        references = {ps.arn: _sorted_references(ps) for ps in snapshot.permission_sets}
        customer = _customer_managed_policies(snapshot, references, account_pks)
        unresolved = _unresolved(snapshot.assignments, references, account_pks, customer)
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
                    [{"name": r.name, "path": r.path} for r in references[ps.arn]],
                    unresolved.get(ps.arn, []),
                    *_boundary_values(ps),
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
            grants = list(ps_policies[a.permission_set_arn])
            if account_pk is not None:
                for r in references[a.permission_set_arn]:
                    if (found := customer.get((account_pk, r.name, r.path))) is not None:
                        grants.append(found)
            for policy_arn, policy_pk in grants:
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
        "customer_managed_references": sum(len(refs) for refs in references.values()),
        "unresolved_references": sum(len(missing) for missing in unresolved.values()),
        "permission_set_boundaries_unknown": sum(1 for ps in snapshot.permission_sets if not ps.boundary.read),
    }
    return IngestResult(outcome=out, counts=counts)


def _resolve_managers() -> None:
    """Point each Identity Center user's `manager` at the user its `manager_user_id` names.

    Two set-based statements over the Identity Center scope, touching only rows whose answer
    changed, so an unchanged sync writes nothing here either.
    """
    table = Principal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS p SET manager_id = m.id
              FROM {table} AS m
             WHERE p.scope = %s AND p.kind = %s AND p.manager_user_id <> ''
               AND m.scope = %s AND m.kind = %s AND m.removed_at IS NULL
               AND m.identity_store_principal_id = p.manager_user_id
               AND (p.manager_id IS NULL OR p.manager_id <> m.id)
            """,  # noqa: S608 - the table name is the model's, not input
            [SSO_SCOPE, PrincipalKind.SSO_USER, SSO_SCOPE, PrincipalKind.SSO_USER],
        )
        cursor.execute(
            f"""
            UPDATE {table} AS p SET manager_id = NULL
             WHERE p.scope = %s AND p.manager_id IS NOT NULL
               AND NOT EXISTS (
                   SELECT 1 FROM {table} AS m
                    WHERE m.id = p.manager_id AND m.removed_at IS NULL
                      AND m.identity_store_principal_id = p.manager_user_id AND p.manager_user_id <> ''
               )
            """,  # noqa: S608 - the table name is the model's, not input
            [SSO_SCOPE],
        )


def _sorted_references(ps: PermissionSetInfo) -> list[CustomerManagedReference]:
    # AWS promises no order; a stable one keeps an unchanged set from looking changed.
    return sorted(set(ps.customer_managed_references), key=lambda r: (r.path, r.name))


def _customer_managed_policies(
    snapshot: IdentityCenterSnapshot,
    references: dict[str, list[CustomerManagedReference]],
    account_pks: dict[str, int],
) -> CustomerPolicies:
    """The present customer managed policies the references could name, in the accounts assigned."""
    accounts = {
        account_pks[a.account_id]
        for a in snapshot.assignments
        if references.get(a.permission_set_arn) and a.account_id in account_pks
    }
    if not accounts:
        return {}
    names = {r.name for refs in references.values() for r in refs}
    rows = (
        Policy.objects.customer_managed_named(names)
        .filter(account_id__in=accounts)
        .values_list("account_id", "name", "path", "id", "arn")
    )
    return {(account, name, reference_path(path)): (arn, pk) for account, name, path, pk, arn in rows}


def _unresolved(
    assignments: tuple[Assignment, ...],
    references: dict[str, list[CustomerManagedReference]],
    account_pks: dict[str, int],
    customer: CustomerPolicies,
) -> dict[str, list[dict[str, str]]]:
    """Permission set arn -> the references that name no policy in an account it is assigned on.

    AWS would refuse to provision the set there; nothing is granted for them, and pages list them.
    An account outside the organization has no synced IAM to check against, so it is left out.
    """
    missing: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for a in assignments:
        account_pk = account_pks.get(a.account_id)
        if account_pk is None:
            continue
        for r in references.get(a.permission_set_arn, ()):
            if (account_pk, r.name, r.path) not in customer:
                missing[a.permission_set_arn].add((a.account_id, r.path, r.name))
    return {
        arn: [{"name": name, "path": path, "account_id": account} for account, path, name in sorted(found)]
        for arn, found in missing.items()
    }


def _boundary_values(ps: PermissionSetInfo) -> tuple[str, str, str, str]:
    """(boundary_type, boundary_name, boundary_path, boundary_policy_arn) for the row."""
    boundary = ps.boundary
    if not boundary.read:
        return BoundaryType.UNKNOWN.value, "", "", ""
    if boundary.reference is not None:
        return BoundaryType.CUSTOMER_MANAGED.value, boundary.reference.name, boundary.reference.path, ""
    if boundary.managed_policy_arn:
        return BoundaryType.MANAGED_POLICY.value, "", "", boundary.managed_policy_arn
    return BoundaryType.NONE.value, "", "", ""
