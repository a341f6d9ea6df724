"""What a portal user may do: one answer per request, computed from their AWS entitlements.

`capabilities(user)` is the only source of authority in the portal. Roles come from Identity
Center permission-set assignments on the governance account (mapped by `GOVERNANCE_ROLE_MAP`),
ownership from `owner` tags on accounts, users and roles, JIT rights from Identity Center group
membership. Nothing the identity provider says (groups, roles, any claim) grants anything.

Object-level scoping goes through `visible_accounts`, `visible_principals` and, for any model an
app registers with `register_scope`, `scoped(user, model)` / `get_object_for_user_or_404`: an
object outside the user's reach answers 404, never 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404


class Capability(models.TextChoices):
    INVENTORY_VIEW = "inventory.view", "See inventory (everything, or only what one owns)"
    INVENTORY_VIEW_ALL = "inventory.view_all", "See the whole inventory"
    SYNC_RUN = "sync.run", "Run an AWS sync"
    AUDIT_VIEW = "audit.view", "Read the audit log"
    FINDINGS_VIEW = "findings.view", "See findings"
    FINDINGS_MANAGE = "findings.manage", "Suppress findings and set the findings baseline"
    SCP_VIEW = "scp.view", "See service control policies"
    SCP_PROPOSE = "scp.propose", "Propose SCP changes"
    SCP_APPROVE = "scp.approve", "Approve and apply SCP changes"
    REVIEWS_ADMIN = "reviews.admin", "Run access review campaigns"
    REVIEWS_REVIEW = "reviews.review", "Decide review items routed to me"
    EVIDENCE_EXPORT = "evidence.export", "Export and verify evidence"
    JIT_REQUEST = "jit.request", "Request just-in-time access"
    JIT_APPROVE = "jit.approve", "Approve just-in-time access"
    ADMIN_ACCESS = "admin.access", "Use the governance admin"


class Role(models.TextChoices):
    AUDITOR = "auditor", "Auditor"
    POLICY_ADMIN = "policy_admin", "Policy administrator"
    CAMPAIGN_ADMIN = "campaign_admin", "Campaign administrator"
    OWNER = "owner", "Owner (manager)"
    JIT_REQUESTER = "jit_requester", "JIT requester"
    JIT_APPROVER = "jit_approver", "JIT approver"
    BREAK_GLASS = "break_glass", "Break-glass administrator"


C = Capability
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.AUDITOR: frozenset(
        {C.INVENTORY_VIEW, C.INVENTORY_VIEW_ALL, C.AUDIT_VIEW, C.FINDINGS_VIEW, C.SCP_VIEW, C.EVIDENCE_EXPORT}
    ),
    Role.POLICY_ADMIN: frozenset(
        {
            C.INVENTORY_VIEW,
            C.INVENTORY_VIEW_ALL,
            C.SYNC_RUN,
            C.AUDIT_VIEW,
            C.FINDINGS_VIEW,
            C.FINDINGS_MANAGE,
            C.SCP_VIEW,
            C.SCP_PROPOSE,
            C.SCP_APPROVE,
            C.ADMIN_ACCESS,
        }
    ),
    Role.CAMPAIGN_ADMIN: frozenset(
        {
            C.INVENTORY_VIEW,
            C.INVENTORY_VIEW_ALL,
            C.SYNC_RUN,
            C.AUDIT_VIEW,
            C.FINDINGS_VIEW,
            C.REVIEWS_ADMIN,
            C.EVIDENCE_EXPORT,
            C.ADMIN_ACCESS,
        }
    ),
    Role.OWNER: frozenset({C.INVENTORY_VIEW, C.REVIEWS_REVIEW, C.FINDINGS_VIEW}),
    Role.JIT_REQUESTER: frozenset({C.JIT_REQUEST}),
    Role.JIT_APPROVER: frozenset({C.JIT_APPROVE}),
    Role.BREAK_GLASS: frozenset(Capability),
}
del C


@dataclass(frozen=True)
class Grant:
    """Where one role comes from in AWS, for "My access" and for audit trails."""

    role: str
    source: str  # "permission_set", "group" or "owner_tag"
    detail: str  # e.g. "GovernanceAuditor on 111111111111 (direct)", "member of jit-requesters"


@dataclass(frozen=True)
class Capabilities:
    """Everything the portal needs to decide what a user may do, computed once per request."""

    roles: frozenset[str] = frozenset()
    capabilities: frozenset[str] = frozenset()
    owned_account_ids: frozenset[str] = frozenset()
    owned_principal_ids: frozenset[int] = frozenset()
    owned_principal_arns: frozenset[str] = frozenset()
    identity_center_user_arn: str = ""
    identity_center_user_name: str = ""
    identity_center_group_arns: frozenset[str] = frozenset()
    governance_account_id: str = ""
    break_glass: bool = False
    grants: tuple[Grant, ...] = field(default=())

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def has_all(self, *capabilities: str) -> bool:
        return all(c in self.capabilities for c in capabilities)

    def has_any(self, *capabilities: str) -> bool:
        return any(c in self.capabilities for c in capabilities)

    def __contains__(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def is_linked(self) -> bool:
        return bool(self.identity_center_user_arn)

    def owns_account(self, account_id: str) -> bool:
        return account_id in self.owned_account_ids

    def grants_for(self, capability: str) -> list[Grant]:
        """The AWS facts behind a capability (every grant whose role carries it)."""
        return [g for g in self.grants if capability in ROLE_CAPABILITIES.get(g.role, frozenset())]


NOTHING = Capabilities()
_CACHE_ATTR = "_authz_capabilities"


def capabilities(user: Any) -> Capabilities:
    """The user's capabilities, cached on the user object (so once per request for `request.user`).

    Anonymous and inactive users get nothing. Call `forget(user)` after changing what AWS says
    about them within the same request (tests, linking at login).
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        from governance.authz.selectors import compute_capabilities

        cached = compute_capabilities(user)
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget(user: Any) -> None:
    """Drop the cached answer so the next `capabilities(user)` recomputes it."""
    if user is not None and hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def roles_to_capabilities(roles: Iterable[str]) -> frozenset[str]:
    result: set[str] = set()
    for role in roles:
        result.update(str(c) for c in ROLE_CAPABILITIES.get(role, frozenset()))
    return frozenset(result)


def visible_accounts(user: Any) -> QuerySet:
    """Accounts the user may see: all with `inventory.view_all`, owned ones with `inventory.view`."""
    from governance.inventory.models import Account

    caps = capabilities(user)
    if caps.has(Capability.INVENTORY_VIEW_ALL):
        return Account.objects.all()
    if caps.has(Capability.INVENTORY_VIEW):
        return Account.objects.filter(account_id__in=caps.owned_account_ids)
    return Account.objects.none()


def visible_principals(user: Any) -> QuerySet:
    """Principals the user may see: all, or those they own by tag and those in accounts they own."""
    from governance.inventory.models import Principal

    caps = capabilities(user)
    if caps.has(Capability.INVENTORY_VIEW_ALL):
        return Principal.objects.all()
    if caps.has(Capability.INVENTORY_VIEW):
        return Principal.objects.filter(
            Q(pk__in=caps.owned_principal_ids) | Q(account__account_id__in=caps.owned_account_ids)
        )
    return Principal.objects.none()


_SCOPES: dict[str, Callable[[Any], QuerySet]] = {
    "inventory.account": visible_accounts,
    "inventory.principal": visible_principals,
}


def register_scope(model: type[models.Model] | str, scope: Callable[[Any], QuerySet]) -> None:
    """Declare which rows of `model` a user may see (call from your AppConfig.ready())."""
    label = model if isinstance(model, str) else model._meta.label_lower
    _SCOPES[label.lower()] = scope


def scoped(user: Any, model: type[models.Model] | str) -> QuerySet:
    """The rows of `model` the user may see; a model nobody registered a scope for is an error."""
    label = model if isinstance(model, str) else model._meta.label_lower
    try:
        scope = _SCOPES[label.lower()]
    except KeyError:
        raise ImproperlyConfigured(f"No authorization scope registered for {label}; see register_scope().") from None
    return scope(user)


def get_object_for_user_or_404(user: Any, model_or_queryset: Any, **lookup: Any) -> Any:
    """Fetch one object the user may see, or raise 404 (never 403) for everything else.

    `model_or_queryset` is a model (scoped through its registered scope) or a queryset that the
    caller has already scoped, e.g. `visible_accounts(user).select_related("parent")`.
    """
    queryset = model_or_queryset if isinstance(model_or_queryset, QuerySet) else scoped(user, model_or_queryset)
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None
