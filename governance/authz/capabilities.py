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

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404

from governance.authz.roles import (
    NOTHING,
    ROLE_CAPABILITIES,
    Capabilities,
    Capability,
    Grant,
    Role,
    roles_to_capabilities,
)
from governance.authz.selectors import compute_capabilities

# The vocabulary (governance.authz.roles) is imported from here by every app, with the function.
__all__ = [
    "NOTHING",
    "ROLE_CAPABILITIES",
    "Capabilities",
    "Capability",
    "Grant",
    "Role",
    "capabilities",
    "forget",
    "get_object_for_user_or_404",
    "register_scope",
    "roles_to_capabilities",
    "scoped",
    "visible_accounts",
    "visible_principals",
]

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
        cached = compute_capabilities(user)
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget(user: Any) -> None:
    """Drop the cached answer so the next `capabilities(user)` recomputes it."""
    if user is not None and hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


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
