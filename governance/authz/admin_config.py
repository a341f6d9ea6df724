"""Makes `admin.site` the governance AdminSite: list this instead of "django.contrib.admin".

Every app's `@admin.register(...)` then lands on the capability-governed site, and
`path("admin/", admin.site.urls)` in portal/urls.py needs no change.
"""

from django.contrib.admin.apps import AdminConfig


class GovernanceAdminConfig(AdminConfig):
    default_site = "governance.authz.admin_site.GovernanceAdminSite"
