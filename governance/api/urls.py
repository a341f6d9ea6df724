from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from governance.api import pages, views

app_name = "api"

urlpatterns = [
    path("tokens/", pages.tokens, name="tokens"),
    path("tokens/create/", pages.create, name="token_create"),
    path("tokens/revoke/", pages.revoke, name="token_revoke"),
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("v1/me/", views.MeView.as_view(), name="me"),
    path("v1/accounts/", views.AccountList.as_view(), name="accounts"),
    path("v1/accounts/<str:account_id>/", views.AccountDetail.as_view(), name="account"),
    path("v1/principals/", views.PrincipalList.as_view(), name="principals"),
    path("v1/principals/<int:pk>/", views.PrincipalDetail.as_view(), name="principal"),
    path("v1/findings/", views.FindingList.as_view(), name="findings"),
    path("v1/findings/<int:pk>/", views.FindingDetail.as_view(), name="finding"),
    path("v1/audit/events/", views.AuditEventList.as_view(), name="audit_events"),
    path("v1/sync-runs/", views.SyncRunList.as_view(), name="sync_runs"),
]
