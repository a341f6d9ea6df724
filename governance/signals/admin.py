"""Governance admin for AWS's signals: copies of what AWS said, read-only."""

from __future__ import annotations

from django.contrib import admin

from governance.authz.admin_site import ReadOnlyAdmin
from governance.authz.capabilities import Capability
from governance.signals.models import (
    ActionLastUsed,
    ActivityEvent,
    AnalyzerFinding,
    ConfigRuleCompliance,
    LastAccessedFetch,
    ServiceLastAccessed,
    SourceStatus,
)


@admin.register(SourceStatus)
class SourceStatusAdmin(ReadOnlyAdmin):
    list_display = ("source", "scope", "state", "checked_at", "succeeded_at", "items")
    list_filter = ("source", "state")
    search_fields = ("scope", "message")
    view_capability = Capability.INVENTORY_VIEW_ALL


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdmin):
    list_display = ("event_time", "event_name", "event_source", "target", "actor_arn", "source_identity", "out_of_band")
    list_filter = ("out_of_band", "via_writer", "read_only", "event_source")
    search_fields = ("event_id", "event_name", "target", "actor_arn", "source_identity", "recipient_account_id")
    list_select_related = ("account",)
    show_full_result_count = False
    view_capability = Capability.INVENTORY_VIEW_ALL


@admin.register(AnalyzerFinding)
class AnalyzerFindingAdmin(ReadOnlyAdmin):
    list_display = ("finding_type", "kind", "status", "resource_arn", "resource_owner_account", "updated_at")
    list_filter = ("kind", "status", "finding_type")
    search_fields = ("finding_id", "resource_arn", "resource_owner_account")
    show_full_result_count = False
    view_capability = Capability.FINDINGS_VIEW


@admin.register(ConfigRuleCompliance)
class ConfigRuleComplianceAdmin(ReadOnlyAdmin):
    list_display = ("rule_name", "account", "compliance", "non_compliant", "conformance_pack", "checked_at")
    list_filter = ("compliance", "conformance_pack")
    search_fields = ("rule_name", "identifier", "account__account_id")
    list_select_related = ("account",)
    view_capability = Capability.FINDINGS_VIEW


@admin.register(ServiceLastAccessed)
class ServiceLastAccessedAdmin(ReadOnlyAdmin):
    list_display = ("principal", "namespace", "last_authenticated", "fetched_at")
    search_fields = ("principal__arn", "namespace")
    list_select_related = ("principal",)
    show_full_result_count = False
    view_capability = Capability.INVENTORY_VIEW_ALL


@admin.register(LastAccessedFetch)
class LastAccessedFetchAdmin(ReadOnlyAdmin):
    list_display = ("principal", "state", "requested_at", "completed_at", "wanted_at")
    list_filter = ("state",)
    search_fields = ("principal__arn", "job_id")
    list_select_related = ("principal",)
    show_full_result_count = False
    view_capability = Capability.INVENTORY_VIEW_ALL


@admin.register(ActionLastUsed)
class ActionLastUsedAdmin(ReadOnlyAdmin):
    list_display = ("action", "principal_arn", "account", "last_used_at", "source")
    list_filter = ("source",)
    search_fields = ("action", "principal_arn", "account__account_id")
    list_select_related = ("account",)
    show_full_result_count = False
    view_capability = Capability.INVENTORY_VIEW_ALL
