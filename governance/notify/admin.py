"""Notifications in the governance admin: read-only, for administrators checking what went out."""

from __future__ import annotations

from django.contrib import admin

from governance.authz.admin_site import ReadOnlyAdmin
from governance.authz.capabilities import Capability
from governance.notify.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "channel", "recipient", "status", "attempts", "sent_at")
    list_filter = ("status", "channel", "event")
    search_fields = ("recipient", "subject", "event")
    show_full_result_count = False
    view_capability = Capability.AUDIT_VIEW
