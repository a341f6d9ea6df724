"""The governance admin: an AdminSite whose access and per-model rights come from AWS.

Entry needs `admin.access` (from `capabilities(user)`); `is_staff`, `is_superuser` and Django's
per-user permission table play no part. Each registered ModelAdmin is given
`CapabilityAdminMixin`, which answers view/add/change/delete from capabilities: view with
`view_capability` (default `admin.access`), add/change/delete with `change_capability` (default
none, so synced and audit data stay read-only unless an admin class opts in). There is no login
form here: anonymous users go to the IdP login, logged-in users without the right get a 403.

    @admin.register(Campaign)        # admin.site is this site (see admin_config.py)
    class CampaignAdmin(admin.ModelAdmin):
        change_capability = Capability.REVIEWS_ADMIN
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin, InlineModelAdmin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from governance.authz.capabilities import Capability, capabilities
from governance.authz.decorators import forbidden

_PERMISSION_METHODS = ("has_view_permission", "has_add_permission", "has_change_permission", "has_delete_permission")
_DJANGO_DEFAULTS = {
    name: {getattr(cls, name) for cls in (BaseModelAdmin, admin.ModelAdmin, InlineModelAdmin) if hasattr(cls, name)}
    for name in _PERMISSION_METHODS
}


class CapabilityAdminMixin:
    """Per-model admin permissions from capabilities, not from Django's permission table.

    An admin class's own `has_*_permission` overrides (e.g. "audit rows are never editable")
    still apply on top: both must allow.
    """

    view_capability: str | None = Capability.ADMIN_ACCESS
    change_capability: str | None = None
    add_capability: str | None = None
    delete_capability: str | None = None

    def _allowed(self, request: HttpRequest, capability: str | None) -> bool:
        caps = capabilities(request.user)
        return capability is not None and caps.has(Capability.ADMIN_ACCESS) and caps.has(capability)

    def _class_allows(self, name: str, request: HttpRequest, *args: Any) -> bool:
        method = getattr(super(), name)
        if getattr(method, "__func__", None) in _DJANGO_DEFAULTS[name]:
            return True
        return bool(method(request, *args))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_actions(self, request: HttpRequest):
        """Actions that declare no permission (django-q's `resubmit_task`, say) change state: only
        for those who may change these rows. Declared ones are checked by Django as usual."""
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            return actions
        return {name: entry for name, entry in actions.items() if getattr(entry[0], "allowed_permissions", None)}

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = self._allowed(request, self.view_capability) or self._allowed(request, self.change_capability)
        return allowed and self._class_allows("has_view_permission", request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, self.change_capability) and self._class_allows(
            "has_change_permission", request, obj
        )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allowed(request, self.add_capability or self.change_capability) and self._class_allows(
            "has_add_permission", request, *args
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, self.delete_capability) and self._class_allows(
            "has_delete_permission", request, obj
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows nobody edits by hand (synced from AWS, audit, identity links): browse only."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


_CAPABILITY_SETTINGS = ("view_capability", "change_capability", "add_capability", "delete_capability")


def _governed(admin_class: type) -> type:
    if issubclass(admin_class, CapabilityAdminMixin):
        return admin_class
    # The mixin goes first so its permission methods decide; the capabilities the admin class declares
    # must still win over the mixin's defaults, or every such admin is left read-only for all.
    declared = {name: getattr(admin_class, name) for name in _CAPABILITY_SETTINGS if hasattr(admin_class, name)}
    return type(
        admin_class.__name__,
        (CapabilityAdminMixin, admin_class),
        {"__module__": admin_class.__module__, **declared},
    )


class GovernanceAdminSite(admin.AdminSite):
    site_header = "IAM governance administration"
    site_title = "IAM governance admin"
    index_title = "Administration"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and capabilities(user).has(Capability.ADMIN_ACCESS))

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """No local login: send anonymous users to the IdP, refuse logged-in users without the right."""
        if request.user.is_authenticated:
            return forbidden(request, (Capability.ADMIN_ACCESS.value,))
        return redirect_to_login(request.GET.get("next") or request.get_full_path())

    def admin_view(self, view, cacheable: bool = False):
        inner = super().admin_view(view, cacheable)

        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            caps = capabilities(request.user)
            if not caps.has(Capability.ADMIN_ACCESS):
                return forbidden(request, (Capability.ADMIN_ACCESS.value,))
            from governance.authz import mfa

            # The governance admin is privileged throughout (every change form and action in it
            # changes state): a recent MFA login, or step-up at the IdP.
            if not mfa.is_fresh(request):
                return mfa.step_up_redirect(request)
            if caps.break_glass:
                from governance.authz.break_glass import audit_request

                audit_request(request)
            return inner(request, *args, **kwargs)

        wrapper.admin_site = self  # type: ignore[attr-defined]
        return wrapper

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = _governed(admin_class or admin.ModelAdmin)
        if admin_class.inlines:
            admin_class = type(
                admin_class.__name__, (admin_class,), {"inlines": [_governed(i) for i in admin_class.inlines]}
            )
        return super().register(model_or_iterable, admin_class, **options)
