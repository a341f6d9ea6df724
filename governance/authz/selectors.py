"""Reads that turn the synced AWS inventory into a user's roles, ownership and link."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from governance.authz.roles import Capabilities, Grant, Role, roles_to_capabilities
from governance.aws.demo import personas


def role_map() -> dict[str, str]:
    """Permission-set name → portal role, from `GOVERNANCE_ROLE_MAP`."""
    return dict(getattr(settings, "GOVERNANCE_ROLE_MAP", personas.GOVERNANCE_PERMISSION_SETS))


def jit_groups() -> tuple[str, str]:
    return (
        getattr(settings, "JIT_REQUESTERS_GROUP", personas.JIT_REQUESTERS_GROUP),
        getattr(settings, "JIT_APPROVERS_GROUP", personas.JIT_APPROVERS_GROUP),
    )


def governance_account_id() -> str:
    """`AWS_GOVERNANCE_ACCOUNT_ID`, else the synced organization's management account."""
    configured = getattr(settings, "AWS_GOVERNANCE_ACCOUNT_ID", "")
    if configured:
        return configured
    from governance.inventory.models import Organization

    org = Organization.objects.present().order_by("id").values_list("management_account_id", flat=True).first()
    return org or ""


def linked_principal(user: Any, *, relink: bool = True) -> Any | None:
    """The Identity Center user (inventory Principal) the portal user is linked to, if present.

    A user without a usable link is re-linked when a sync has finished since the link was last
    checked, so a new Identity Center user takes effect at the next sync, not the next login. A
    link made before the linking rules (marked linked, no matched fact) is not usable and is
    re-checked at once: its stored facts are empty, so it is unlinked (audited) until the
    person's next sign-in links them on what the IdP vouches for.
    """
    return _link_and_principal(user, relink=relink)[1]


def _link_and_principal(user: Any, *, relink: bool = True) -> tuple[Any | None, Any | None]:
    from governance.authz.models import IdentityLink
    from governance.inventory.models import Principal, PrincipalKind

    def lookup(arn: str) -> Any | None:
        present = Principal.objects.present().filter(kind=PrincipalKind.SSO_USER, arn=arn)
        return present.select_related("account").first()

    link = (
        IdentityLink.objects.filter(user=user)
        .only("status", "principal_arn", "checked_at", "verified_email", "matched_on")
        .first()
    )
    principal = None
    if link is not None and link.vouched:
        principal = lookup(link.principal_arn)
    if principal is None and relink and (_synced_since(link) or (link is not None and link.predates_rules)):
        from governance.authz.services import link_user

        link = link_user(user=user)
        if link.vouched:
            principal = lookup(link.principal_arn)
    return link, principal


def _synced_since(link: Any | None) -> bool:
    from governance.inventory.models import SyncRun, SyncStatus

    last = (
        SyncRun.objects.filter(finished_at__isnull=False)
        .exclude(status=SyncStatus.FAILED)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return last is not None and (link is None or link.checked_at < last)


def _owner_emails(link: Any | None, principal: Any | None) -> set[str]:
    """The addresses an `owner` tag may name: vouched for by the IdP or by Identity Center.

    Never the portal user's own e-mail field, which an IdP may fill with an address it did not verify.
    """
    emails = {link.verified_email.strip().lower()} if link is not None and link.verified_email else set()
    if principal is not None and principal.email:
        emails.add(principal.email.strip().lower())
    return emails


def compute_capabilities(user: Any) -> Capabilities:
    """Roles from permission-set assignments and groups, ownership from `owner` tags."""
    from governance.authz import break_glass
    from governance.inventory.models import Account, AccountAssignment, GroupMembership, Principal, PrincipalKind

    if break_glass.is_active_for(user):
        return Capabilities(
            roles=frozenset({str(Role.BREAK_GLASS)}),
            capabilities=roles_to_capabilities([Role.BREAK_GLASS]),
            break_glass=True,
            grants=(Grant(str(Role.BREAK_GLASS), "break_glass", "emergency local administrator"),),
        )

    link, principal = _link_and_principal(user)
    grants: list[Grant] = []
    group_arns: frozenset[str] = frozenset()
    gov_account = ""
    if principal is not None:
        groups = list(
            GroupMembership.objects.present()
            .filter(member=principal, group__removed_at__isnull=True, group__kind=PrincipalKind.SSO_GROUP)
            .values_list("group_id", "group__arn", "group__name")
        )
        group_arns = frozenset(arn for _, arn, _ in groups)
        group_names = {pk: name for pk, _, name in groups}

        requesters, approvers = jit_groups()
        for name in sorted(group_names.values()):
            if name == requesters:
                grants.append(Grant(str(Role.JIT_REQUESTER), "group", f"member of {name}"))
            if name == approvers:
                grants.append(Grant(str(Role.JIT_APPROVER), "group", f"member of {name}"))

        gov_account = governance_account_id()
        mapping = role_map()
        if gov_account and mapping:
            assignments = (
                AccountAssignment.objects.present()
                .filter(
                    aws_account_id=gov_account,
                    permission_set__name__in=list(mapping),
                    permission_set__removed_at__isnull=True,
                    principal_id__in=[principal.pk, *group_names],
                )
                .values_list("permission_set__name", "principal_id")
                .order_by("permission_set__name", "principal_id")
            )
            for ps_name, holder_id in assignments:
                how = "direct" if holder_id == principal.pk else f"through group {group_names[holder_id]}"
                grants.append(Grant(mapping[ps_name], "permission_set", f"{ps_name} on {gov_account} ({how})"))

    emails = _owner_emails(link, principal)
    owned_accounts: frozenset[str] = frozenset()
    owned_principals: list[tuple[int, str]] = []
    if emails:
        owned_accounts = frozenset(owned_by(Account.objects.present(), emails).values_list("account_id", flat=True))
        owned_principals = list(
            owned_by(Principal.objects.present(), emails)
            .filter(kind__in=[PrincipalKind.IAM_USER, PrincipalKind.IAM_ROLE])
            .values_list("pk", "arn")
        )
    if owned_accounts or owned_principals:
        detail = ", ".join(sorted(owned_accounts)[:5]) or f"{len(owned_principals)} IAM users/roles"
        grants.append(Grant(str(Role.OWNER), "owner_tag", f"owner tag = {', '.join(sorted(emails))} on {detail}"))

    roles = frozenset(g.role for g in grants)
    return Capabilities(
        roles=roles,
        capabilities=roles_to_capabilities(roles),
        owned_account_ids=owned_accounts,
        owned_principal_ids=frozenset(pk for pk, _ in owned_principals),
        owned_principal_arns=frozenset(arn for _, arn in owned_principals),
        identity_center_user_arn=principal.arn if principal is not None else "",
        identity_center_user_name=principal.user_name if principal is not None else "",
        identity_center_group_arns=group_arns,
        governance_account_id=gov_account,
        grants=tuple(grants),
    )


def owned_by(queryset, emails: set[str]):
    """Rows whose `owner` tag is one of `emails` (lower-case), ignoring case.

    Filters on `Lower(owner)`, so an expression index on `Lower("owner")` serves it.
    """
    from django.db.models.functions import Lower

    return queryset.alias(owner_lower=Lower("owner")).filter(owner_lower__in=sorted(emails))


def my_access_context(user: Any, caps: Capabilities) -> dict[str, Any]:
    """What the "My access" page shows about the user's AWS identity."""
    from governance.authz.models import IdentityLink
    from governance.inventory.models import Principal

    link = IdentityLink.objects.filter(user=user).first()
    principal = linked_principal(user) if caps.is_linked else None
    groups = (
        list(Principal.objects.filter(arn__in=caps.identity_center_group_arns).order_by("name").values("name", "arn"))
        if caps.identity_center_group_arns
        else []
    )
    return {
        "link": link,
        "aws_user": principal,
        "aws_groups": groups,
        "owned_accounts": sorted(caps.owned_account_ids),
        "owned_principal_count": len(caps.owned_principal_ids),
    }
