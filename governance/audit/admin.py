"""The audit trail in the admin: read-only, newest first, searched by exact ids."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils.functional import cached_property

from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.authz.admin_site import ReadOnlyAdmin


class EstimatedCountPaginator(Paginator):
    """Counts an unfiltered PostgreSQL table from the planner's statistics instead of COUNT(*)."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [AuditEvent._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return row[0]
        return super().count


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "created_at", "actor_name", "action", "object_type", "object_id", "object_repr")
    list_filter = ("action", "object_type", "created_at")
    search_fields = ("request_id", "object_id", "actor_name")
    search_help_text = "Exact request id, object id, actor name or sequence number."
    list_select_related = ("actor",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    fields = (
        "sequence",
        "created_at",
        "actor",
        "actor_pk",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "request_id",
        "before",
        "after",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # Exact matches use the indexes; a substring search would scan millions of rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(request_id=term) | Q(object_id=term) | Q(actor_name=term)
        if term.isdigit():
            condition |= Q(sequence=int(term))
        return queryset.filter(condition), False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "signed_at", "key_id", "head_hash")
    list_filter = ("key_id",)
    show_full_result_count = False
    list_per_page = 50
    fields = ("sequence", "head_hash", "signed_at", "key_id", "statement", "signature")
    readonly_fields = fields
