"""Governance admin for findings: suppressions and the baseline through services; findings read-only.

Adding a suppression, lifting one and changing the baseline are state changes: they call the same
services as everything else, need `findings.manage`, and a recent MFA login (step-up otherwise).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from governance.authz import mfa
from governance.authz.admin_site import CapabilityAdminMixin, ReadOnlyAdmin
from governance.authz.capabilities import Capability
from governance.findings import services
from governance.findings.models import BaselineSettings, EvaluationRun, Finding, FindingStatus, Suppression


class _StepUp:
    """Refuse the add/change forms and actions of this admin without a fresh MFA login."""

    def _fresh(self, request: HttpRequest) -> HttpResponse | None:
        return None if mfa.is_fresh(request) else mfa.step_up_redirect(request)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and (refused := self._fresh(request)) is not None:
            return refused
        return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and "action" in request.POST and (refused := self._fresh(request)) is not None:
            return refused
        return super().changelist_view(request, extra_context)


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("rule_id", "severity", "status", "resource", "account", "first_seen", "last_seen")
    list_filter = ("status", "severity", "rule_id")
    search_fields = ("resource_name", "resource_arn", "rule_id", "account__account_id")
    list_select_related = ("account",)
    show_full_result_count = False
    view_capability = Capability.FINDINGS_VIEW
    exclude = ("evidence",)
    readonly_fields = ("link",)

    @admin.display(description="Resource")
    def resource(self, obj: Finding) -> str:
        return obj.resource_name

    @admin.display(description="Finding page")
    def link(self, obj: Finding) -> str:
        return format_html('<a href="{}">Open the finding page</a>', reverse("findings:detail", args=[obj.pk]))


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ("finding", "justification", "owner", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "finding" in self.fields:
            self.fields["finding"].queryset = Finding.objects.filter(status=FindingStatus.OPEN)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            cleaned["justification"], cleaned["owner"] = services.check_suppression(
                justification=cleaned.get("justification", ""),
                owner=cleaned.get("owner", ""),
                expires_at=cleaned.get("expires_at"),
            )
        except services.FindingsError as exc:
            raise forms.ValidationError(str(exc)) from None
        return cleaned


@admin.register(Suppression)
class SuppressionAdmin(CapabilityAdminMixin, _StepUp, admin.ModelAdmin):
    list_display = ("finding", "owner", "expires_at", "created_by_name", "created_at", "state")
    list_filter = ("end_reason",)
    search_fields = ("finding__resource_name", "owner", "justification")
    list_select_related = ("finding",)
    raw_id_fields = ("finding",)
    actions = ("lift",)
    form = SuppressionForm
    view_capability = Capability.FINDINGS_VIEW
    change_capability = Capability.FINDINGS_MANAGE

    @admin.display(description="State")
    def state(self, obj: Suppression) -> str:
        return "active" if obj.is_active else obj.get_end_reason_display()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        finding = request.GET.get("finding", "")
        if finding.isdigit():
            initial["finding"] = int(finding)
        return initial

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)  # the changelist's actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        created = services.suppress_finding(
            finding=obj.finding,
            justification=obj.justification,
            owner=obj.owner,
            expires_at=obj.expires_at,
            actor=request.user,
            request=request,
        )
        obj.pk = created.pk

    @admin.action(description="Lift the selected suppressions")
    def lift(self, request: HttpRequest, queryset) -> None:
        lifted = 0
        for suppression in queryset.active():
            services.lift_suppression(suppression=suppression, actor=request.user, request=request)
            lifted += 1
        self.message_user(request, f"Lifted {lifted} suppression{'s' if lifted != 1 else ''}.", messages.SUCCESS)


class BaselineForm(forms.ModelForm):
    class Meta:
        model = BaselineSettings
        fields = services.BASELINE_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            return {**cleaned, **services.clean_baseline(cleaned)}
        except services.FindingsError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(BaselineSettings)
class BaselineSettingsAdmin(CapabilityAdminMixin, _StepUp, admin.ModelAdmin):
    form = BaselineForm
    list_display = ("__str__", "updated_at", "updated_by_name")
    view_capability = Capability.FINDINGS_VIEW
    change_capability = Capability.FINDINGS_MANAGE

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return not BaselineSettings.objects.exists() and super().has_add_permission(request, *args)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: BaselineSettings, form: Any, change: bool) -> None:
        saved = services.update_baseline(
            actor=request.user,
            values={name: form.cleaned_data[name] for name in services.BASELINE_FIELDS},
            request=request,
        )
        obj.pk = saved.pk


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "trigger", "started_at", "full", "accounts", "new", "reopened", "resolved", "open", "seconds")
    list_filter = ("trigger", "full")
    show_full_result_count = False
    view_capability = Capability.FINDINGS_VIEW
