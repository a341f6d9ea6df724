from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("governance.ops.urls")),
    path("api/", include("governance.api.urls")),
    path("accounts/", include("allauth.urls")),
    path("me/", include("governance.authz.urls")),
    path("inventory/", include("governance.inventory.urls")),
    path("findings/", include("governance.findings.urls")),
    path("reviews/", include("governance.reviews.urls")),
    path("guardrails/", include("governance.scp.urls")),
    path("evidence/", include("governance.evidence.urls")),
    path("jit/", include("governance.jit.urls")),
    path("audit/", include("governance.audit.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
