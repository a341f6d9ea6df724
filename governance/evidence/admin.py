from django.contrib import admin

from governance.authz.admin_site import ReadOnlyAdmin
from governance.evidence.models import EvidencePackage


@admin.register(EvidencePackage)
class EvidencePackageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "subject_repr", "created_by_name", "sha256", "size", "storage", "retain_until")
    list_filter = ("storage", "subject_type")
    search_fields = ("subject_id", "sha256")
    list_select_related = ("created_by",)
    show_full_result_count = False
    fields = ("id", "subject_type", "subject_id", "subject_repr", "status", "created_at", "created_by_name",
              "key_id", "manifest_sha256", "sha256", "size", "files", "storage", "location", "version_id",
              "retain_until", "error")  # fmt: skip
    readonly_fields = fields
