"""Change requests and approved revisions of organization policies in the governance admin: read-only.

Every state change of a request (approve, reject, apply, rebase, withdraw) goes through the portal's
pages and services, which enforce four-eyes, MFA step-up, the writer gate and the audit trail. The
admin offers none of them, not even to a break-glass administrator, and edits no field of any
request, open or closed: a pending proposal changed here would skip validation and its impact
analysis, and a decided one would no longer be what was approved. Nothing is deleted here either;
each row links to its portal page, where the people with the right can act on it.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from governance.authz.admin_site import CapabilityAdminMixin, ReadOnlyAdmin
from governance.authz.capabilities import Capability
from governance.scp.models import ChangeRequest, ChangeStatus, PolicyRevision

_STATUS_CSS = {
    ChangeStatus.APPLIED: "ok",
    ChangeStatus.FAILED: "critical",
    ChangeStatus.STALE: "warning",
    ChangeStatus.REJECTED: "muted",
    ChangeStatus.CANCELLED: "muted",
}


class _Browse(CapabilityAdminMixin, ReadOnlyAdmin):
    """Names the mix-in itself (from before the site's automatic one kept declared capabilities)."""

    view_capability = Capability.SCP_VIEW
    show_full_result_count = False
    list_per_page = 50
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + list(self.readonly_fields)


class RevisionInline(admin.TabularInline):
    model = PolicyRevision
    fields = ("name", "source", "deleted", "document_hash", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ChangeRequest)
class ChangeRequestAdmin(_Browse):
    list_display = (
        "id",
        "kind",
        "policy_type",
        "name",
        "target_name",
        "status_badge",
        "impact_status",
        "author_name",
        "approved_by",
        "applied_at",
        "created_at",
    )
    list_display_links = ("id", "name")
    list_filter = ("status", "kind", "policy_type", "impact_status")
    search_fields = ("=id", "=aws_policy_id", "=aws_request_id", "=target_id", "name", "target_name", "author_name")
    search_help_text = "Request number, exact AWS policy, request or target id; policy, target or author name."
    list_select_related = ("approved_by",)
    date_hierarchy = "created_at"
    readonly_fields = ("portal_page",)
    inlines = [RevisionInline]
    fieldsets = (
        (None, {"fields": ("portal_page", "kind", "policy_type", "status", "name", "description", "reason")}),
        ("Policy and target", {"fields": ("policy", "aws_policy_id", "target_id", "target_type", "target_name")}),
        ("Proposal", {"fields": ("document_text", "document", "base_document", "base_hash", "rollback_to")}),
        (
            "Decision and apply",
            {
                "fields": (
                    "author",
                    "author_name",
                    "approved_by",
                    "approved_at",
                    "decided_note",
                    "applied_by",
                    "applied_at",
                    "aws_request_id",
                    "attempts",
                    "error",
                )
            },
        ),
        ("Impact", {"fields": ("impact_status", "impact_done", "impact_total", "impact_at", "impact")}),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ChangeRequest) -> str:
        return format_html(
            '<span class="badge {}">{}</span>', _STATUS_CSS.get(obj.status, ""), obj.get_status_display()
        )

    @admin.display(description="Portal page")
    def portal_page(self, obj: ChangeRequest) -> str:
        return format_html(
            '<a href="{}">Open the request in the portal</a> (approve, reject, apply and rebase happen there)',
            reverse("scp:change", args=[obj.pk]),
        )


@admin.register(PolicyRevision)
class PolicyRevisionAdmin(_Browse):
    list_display = ("id", "name", "policy_type", "aws_policy_id", "source", "deleted", "change_link", "created_at")
    list_filter = ("policy_type", "source", "deleted")
    search_fields = ("=aws_policy_id", "=document_hash", "name", "=change__id")
    search_help_text = "Exact AWS policy id, document hash or change request number; policy name."
    list_select_related = ("change",)
    date_hierarchy = "created_at"
    readonly_fields = ("change_link",)

    @admin.display(description="change request", ordering="change")
    def change_link(self, obj: PolicyRevision) -> str:
        return format_html('<a href="{}">{}</a>', reverse("scp:change", args=[obj.change_id]), obj.change)
