"""Inventory in the governance admin: read-only, because AWS is the source of truth.

Rows change only through a sync; nobody adds, edits or deletes them here. Large tables skip the
full result count.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from governance.authz import admin_site
from governance.inventory.models import (
    AccessKey,
    Account,
    AccountAssignment,
    CredentialReportRow,
    Entitlement,
    GroupMembership,
    Organization,
    OrganizationalUnit,
    PasswordPolicy,
    PermissionSet,
    PermissionSetPolicy,
    Policy,
    PolicyVersion,
    Principal,
    ScpAttachment,
    SyncAccountRun,
    SyncRun,
)
from governance.inventory.models.identity_center import BoundaryType


class ReadOnlyAdmin(admin_site.ReadOnlyAdmin):
    show_full_result_count = False
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


def _lines(items) -> str:
    return format_html_join("", "{}<br>", ((item,) for item in items))


class PresentFilter(admin.SimpleListFilter):
    title = "presence in AWS"
    parameter_name = "present"

    def lookups(self, request, model_admin):
        return [("yes", "Present"), ("no", "Removed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(removed_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(removed_at__isnull=False)
        return queryset


@admin.register(Organization)
class OrganizationAdmin(ReadOnlyAdmin):
    list_display = ("org_id", "management_account_id", "feature_set", "last_seen", "removed_at")


@admin.register(OrganizationalUnit)
class OrganizationalUnitAdmin(ReadOnlyAdmin):
    list_display = ("name", "ou_id", "depth", "path", "removed_at")
    list_filter = (PresentFilter, "is_root")
    search_fields = ("=ou_id", "name")
    ordering = ("path",)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "account_id", "email", "status", "owner", "parent", "removed_at")
    list_filter = (PresentFilter, "status", "is_management")
    search_fields = ("=account_id", "name", "email", "owner")
    list_select_related = ("parent",)


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "account", "version", "last_seen", "removed_at")
    list_filter = (PresentFilter, "kind")
    search_fields = ("=arn", "name")
    list_select_related = ("account",)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ("policy", "version", "aws_version_id", "first_seen")
    search_fields = ("=policy__arn", "policy__name")
    list_select_related = ("policy",)


@admin.register(ScpAttachment)
class ScpAttachmentAdmin(ReadOnlyAdmin):
    list_display = ("policy", "target_type", "target_id", "removed_at")
    list_filter = (PresentFilter, "target_type")
    search_fields = ("=target_id", "policy__name")
    list_select_related = ("policy",)


@admin.register(Principal)
class PrincipalAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "account", "arn_short", "owner", "mfa_enabled", "last_used", "removed_at")
    list_filter = (PresentFilter, "kind", "mfa_enabled")
    search_fields = ("=arn", "name", "email", "user_name", "=account__account_id")
    list_select_related = ("account",)

    @admin.display(description="ARN")
    def arn_short(self, obj: Principal) -> str:
        return format_html('<span title="{}">{}</span>', obj.arn, obj.arn[:80])


@admin.register(GroupMembership)
class GroupMembershipAdmin(ReadOnlyAdmin):
    list_display = ("group", "member", "account", "removed_at")
    list_filter = (PresentFilter,)
    search_fields = ("=group__arn", "=member__arn", "group__name", "member__name")
    list_select_related = ("group", "member", "account")


@admin.register(Entitlement)
class EntitlementAdmin(ReadOnlyAdmin):
    list_display = ("principal", "policy", "via", "account", "via_group", "permission_set", "removed_at")
    list_filter = (PresentFilter, "via")
    search_fields = ("=principal__arn", "principal__name", "policy__name", "=account__account_id")
    list_select_related = ("principal", "policy", "account", "via_group", "permission_set")


@admin.register(AccessKey)
class AccessKeyAdmin(ReadOnlyAdmin):
    list_display = ("principal", "slot", "status", "created", "last_used_date", "last_used_service", "removed_at")
    list_filter = (PresentFilter, "status")
    search_fields = ("=principal__arn", "principal__name", "=account__account_id")
    list_select_related = ("principal",)


@admin.register(PasswordPolicy)
class PasswordPolicyAdmin(ReadOnlyAdmin):
    list_display = ("account", "configured", "minimum_length", "max_age_days", "reuse_prevention")
    list_filter = ("configured",)
    search_fields = ("=account__account_id", "account__name")
    list_select_related = ("account",)


@admin.register(CredentialReportRow)
class CredentialReportRowAdmin(ReadOnlyAdmin):
    list_display = ("user_name", "account", "is_root", "mfa_active", "password_enabled", "password_last_used")
    list_filter = (PresentFilter, "is_root", "mfa_active")
    search_fields = ("=arn", "user_name", "=account__account_id")
    list_select_related = ("account",)


@admin.register(PermissionSet)
class PermissionSetAdmin(ReadOnlyAdmin):
    list_display = ("name", "session_duration", "references", "unresolved", "boundary", "last_seen", "removed_at")
    list_filter = (PresentFilter, "boundary_type")
    search_fields = ("=arn", "name", "boundary_name", "=boundary_policy_arn")
    fieldsets = (
        (
            None,
            {"fields": ("name", "arn", "instance_arn", "description", "session_duration", "relay_state", "created")},
        ),
        ("Customer managed policies", {"fields": ("reference_list", "unresolved_list")}),
        (
            "Permissions boundary",
            {"fields": ("boundary_type", "boundary_name", "boundary_path", "boundary_policy_arn", "boundary_error")},
        ),
        ("Sync", {"fields": ("scope", "key", "content_hash", "first_seen", "last_seen", "removed_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "reference_list", "unresolved_list", "boundary_error"]

    @admin.display(description="customer managed references")
    def references(self, obj: PermissionSet) -> int:
        return len(obj.customer_managed_references)

    @admin.display(description="unresolved")
    def unresolved(self, obj: PermissionSet) -> int:
        return len(obj.unresolved_references)

    @admin.display(description="boundary")
    def boundary(self, obj: PermissionSet) -> str:
        return obj.boundary_label

    @admin.display(description="customer managed references (name and path)")
    def reference_list(self, obj: PermissionSet) -> str:
        return _lines(f"{r.get('path') or '/'}{r['name']}" for r in obj.customer_managed_references) or "None"

    @admin.display(description="unresolved references (no such policy in the account)")
    def unresolved_list(self, obj: PermissionSet) -> str:
        lines = (f"{r.get('path') or '/'}{r['name']} in {r['account_id']}" for r in obj.unresolved_references)
        return _lines(lines) or "None"

    @admin.display(description="boundary error")
    def boundary_error(self, obj: PermissionSet) -> str:
        # The sync keeps why a boundary could not be read only as the kind "unknown"; the reader's
        # message (IdentityCenterSnapshot.boundary_error) is not stored on the row.
        if obj.boundary_type == BoundaryType.UNKNOWN:
            return "Could not be read at the last sync: the writer gate refuses this set's writes outside the emulator."
        return "-"


@admin.register(PermissionSetPolicy)
class PermissionSetPolicyAdmin(ReadOnlyAdmin):
    list_display = ("permission_set", "policy", "removed_at")
    list_filter = (PresentFilter,)
    list_select_related = ("permission_set", "policy")


@admin.register(AccountAssignment)
class AccountAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("permission_set", "aws_account_id", "principal", "principal_type", "removed_at")
    list_filter = (PresentFilter, "principal_type")
    search_fields = ("=aws_account_id", "permission_set__name", "principal__name")
    list_select_related = ("permission_set", "principal")


class SyncAccountRunInline(admin.TabularInline):
    model = SyncAccountRun
    fields = ("aws_account_id", "status", "error", "api_calls", "seconds", "changes")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "trigger", "started_at", "seconds", "progress", "api_calls", "changes")
    list_filter = ("status", "trigger")
    inlines = (SyncAccountRunInline,)

    @admin.display(description="accounts")
    def progress(self, obj: SyncRun) -> str:
        return format_html("{} / {} ({} failed)", obj.accounts_done, obj.accounts_total, obj.accounts_failed)


@admin.register(SyncAccountRun)
class SyncAccountRunAdmin(ReadOnlyAdmin):
    list_display = ("run", "aws_account_id", "status", "api_calls", "seconds", "changes", "error")
    list_filter = ("status",)
    search_fields = ("=aws_account_id",)
    list_select_related = ("run",)
