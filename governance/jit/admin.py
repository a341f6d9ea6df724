"""Governance admin for just-in-time access: eligibility policies (JIT administrators), requests and
grants read-only, with the actions an administrator needs (end a grant now, retry it now).

The classes name `CapabilityAdminMixin` themselves, from before the site's automatic mix-in kept the
capabilities an admin class declares (`admin_site._governed`); either way they apply.

Saving a policy makes the saving administrator its grantor: their own AWS permissions must allow
creating and deleting the assignments it covers (the writer gate checks the same at every grant).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from governance.authz import mfa
from governance.authz.admin_site import CapabilityAdminMixin, ReadOnlyAdmin
from governance.authz.capabilities import Capability
from governance.inventory.models import OrganizationalUnit, PermissionSet, Principal, PrincipalKind
from governance.jit import lifecycle, services
from governance.jit.models import AccessRequest, Approval, ApproverSource, EligibilityPolicy, Grant, GrantStatus


class EligibilityPolicyForm(forms.ModelForm):
    class Meta:
        model = EligibilityPolicy
        fields = (
            "name",
            "description",
            "enabled",
            "break_glass",
            "permission_sets",
            "accounts",
            "units",
            "max_duration_minutes",
            "requester_group",
            "approver_source",
            "approver_group",
            "approvals_required",
            "auto_approve_permission_sets",
            "auto_approve_except_units",
        )

    def __init__(self, *args: Any, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        groups = Principal.objects.present().filter(kind=PrincipalKind.SSO_GROUP).order_by("name")
        sets = PermissionSet.objects.present().order_by("name")
        units = OrganizationalUnit.objects.present().order_by("path")
        for name, queryset in (
            ("requester_group", groups),
            ("approver_group", groups),
            ("permission_sets", sets),
            ("auto_approve_permission_sets", sets),
            ("units", units),
            ("auto_approve_except_units", units),
        ):
            if name in self.fields:
                self.fields[name].queryset = queryset
        if "accounts" in self.fields:
            self.fields["accounts"].queryset = self.fields["accounts"].queryset.filter(removed_at__isnull=True)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        source = cleaned.get("approver_source")
        if source == ApproverSource.GROUP and not cleaned.get("approver_group") and not cleaned.get("break_glass"):
            self.add_error("approver_group", "Name the Identity Center group whose members approve.")
        if not cleaned.get("accounts") and not cleaned.get("units"):
            raise forms.ValidationError("Name at least one account or OU that the policy covers.")
        extra = set(cleaned.get("auto_approve_permission_sets") or []) - set(cleaned.get("permission_sets") or [])
        if extra:
            self.add_error("auto_approve_permission_sets", "Auto-approve only sets the policy covers.")
        if self.actor is not None and cleaned.get("permission_sets"):
            refusal = services.grantor_refusal(actor=self.actor, permission_sets=list(cleaned["permission_sets"]))
            if refusal:
                raise forms.ValidationError(
                    f"You would be this policy's grantor, but AWS would not let you make its grants yourself: {refusal}"
                )
        return cleaned


@admin.register(EligibilityPolicy)
class EligibilityPolicyAdmin(CapabilityAdminMixin, admin.ModelAdmin):
    change_capability = Capability.JIT_ADMIN
    list_display = (
        "name",
        "enabled",
        "requester_group",
        "approvers",
        "approvals_required",
        "max_duration_minutes",
        "break_glass",
        "grantor",
    )
    list_filter = ("enabled", "break_glass", "approver_source")
    search_fields = ("name", "description")
    list_select_related = ("requester_group", "approver_group", "grantor")
    filter_horizontal = (
        "permission_sets",
        "accounts",
        "units",
        "auto_approve_permission_sets",
        "auto_approve_except_units",
    )
    readonly_fields = ("grantor", "created_at", "updated_at")
    form = EligibilityPolicyForm
    fieldsets = (
        (None, {"fields": ("name", "description", "enabled", "break_glass")}),
        ("What may be requested", {"fields": ("permission_sets", "accounts", "units", "max_duration_minutes")}),
        (
            "By whom, approved by whom",
            {"fields": ("requester_group", "approver_source", "approver_group", "approvals_required")},
        ),
        ("Auto-approval", {"fields": ("auto_approve_permission_sets", "auto_approve_except_units")}),
        ("Authority", {"fields": ("grantor", "created_at", "updated_at")}),
    )

    @admin.display(description="approvers")
    def approvers(self, obj: EligibilityPolicy) -> str:
        if obj.break_glass:
            return "self (break-glass)"
        return "account owner" if obj.approver_source == ApproverSource.ACCOUNT_OWNER else str(obj.approver_group)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        base = super().get_form(request, obj, change=change, **kwargs)

        class Bound(base):  # type: ignore[valid-type, misc]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, actor=request.user, **inner)

        return Bound

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not mfa.is_fresh(request):
            return mfa.step_up_redirect(request)
        if object_id is not None:
            obj = self.get_object(request, object_id)
            self._before = services._policy_repr(obj) if obj is not None else None
        else:
            self._before = None
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: EligibilityPolicy, form: Any, change: bool) -> None:
        obj.grantor = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.policy_saved(
            actor=request.user,
            policy=form.instance,
            created=not change,
            before=getattr(self, "_before", None),
            request=request,
        )


class ApprovalInline(admin.TabularInline):
    model = Approval
    fields = ("approver_name", "decision", "comment", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessRequest)
class AccessRequestAdmin(CapabilityAdminMixin, ReadOnlyAdmin):
    view_capability = Capability.JIT_ADMIN
    list_display = (
        "id",
        "kind",
        "requester_name",
        "permission_set",
        "account",
        "duration_minutes",
        "status",
        "break_glass",
        "created_at",
    )
    list_filter = ("status", "kind", "break_glass", "auto_approved", "policy")
    search_fields = ("requester_name", "justification", "ticket", "account__account_id", "permission_set__name")
    list_select_related = ("permission_set", "account")
    show_full_result_count = False
    inlines = [ApprovalInline]


@admin.register(Grant)
class GrantAdmin(CapabilityAdminMixin, ReadOnlyAdmin):
    view_capability = Capability.JIT_ADMIN
    list_display = (
        "id",
        "requester",
        "permission_set",
        "account",
        "status_badge",
        "time_left",
        "starts_at",
        "ends_at",
        "last_error_short",
        "drift",
    )
    list_filter = ("status", "end_reason", "standing", "policy")
    search_fields = ("requester__username", "account__account_id", "permission_set__name", "last_error", "drift")
    list_select_related = ("requester", "permission_set", "account")
    show_full_result_count = False
    actions = ["end_now", "retry_now"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Grant) -> str:
        css = {GrantStatus.ACTIVE: "ok", GrantStatus.FAILED: "critical"}.get(obj.status, "")
        return format_html('<span class="badge {}">{}</span>', css, obj.get_status_display())

    @admin.display(description="time left")
    def time_left(self, obj: Grant) -> str:
        if not obj.is_live:
            return "—"
        seconds = max(0, int((obj.ends_at - timezone.now()).total_seconds()))
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"

    @admin.display(description="last error")
    def last_error_short(self, obj: Grant) -> str:
        return obj.last_error[:120]

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and "action" in request.POST and not mfa.is_fresh(request):
            return mfa.step_up_redirect(request)
        return super().changelist_view(request, extra_context)

    def has_end_now_permission(self, request: HttpRequest) -> bool:
        from governance.authz.capabilities import capabilities

        return capabilities(request.user).has(Capability.JIT_ADMIN)

    has_retry_now_permission = has_end_now_permission

    @admin.action(description="End the selected grants now", permissions=["end_now"])
    def end_now(self, request: HttpRequest, queryset) -> HttpResponse | None:
        ended = 0
        for grant in queryset.filter(status__in=[GrantStatus.SCHEDULED, GrantStatus.PROVISIONING, GrantStatus.ACTIVE]):
            services.end_grant(actor=request.user, grant=grant, request=request)
            ended += 1
        self.message_user(request, f"{ended} grant(s) ending; their assignments are being deleted.", messages.SUCCESS)
        return None

    @admin.action(description="Retry the selected grants now", permissions=["retry_now"])
    def retry_now(self, request: HttpRequest, queryset) -> HttpResponse | None:
        retried = services.retry_grants(actor=request.user, grants=queryset, request=request)
        lifecycle.tick()
        self.message_user(request, f"{retried} grant(s) queued again.", messages.SUCCESS)
        return None
