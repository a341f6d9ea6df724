from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from governance.api import pages, views, workflows

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
    path("v1/campaigns/", workflows.CampaignList.as_view(), name="campaigns"),
    path("v1/campaigns/<int:pk>/", workflows.CampaignDetail.as_view(), name="campaign"),
    path("v1/campaigns/<int:campaign_id>/items/", workflows.CampaignItemList.as_view(), name="campaign_items"),
    path("v1/review-items/<int:item_id>/decision/", workflows.ReviewDecision.as_view(), name="review_decision"),
    path("v1/evidence/packages/", workflows.EvidencePackageList.as_view(), name="evidence_packages"),
    path("v1/evidence/packages/<uuid:pk>/", workflows.EvidencePackageDetail.as_view(), name="evidence_package"),
    path("v1/scp/changes/", workflows.ChangeRequestList.as_view(), name="scp_changes"),
    path("v1/scp/changes/<int:pk>/", workflows.ChangeRequestDetail.as_view(), name="scp_change"),
    path("v1/scp/changes/<int:change_id>/approve/", workflows.ChangeApprove.as_view(), name="scp_change_approve"),
    path("v1/scp/changes/<int:change_id>/reject/", workflows.ChangeReject.as_view(), name="scp_change_reject"),
    path("v1/scp/changes/<int:change_id>/apply/", workflows.ChangeApply.as_view(), name="scp_change_apply"),
    path("v1/jit/requests/", workflows.AccessRequestList.as_view(), name="jit_requests"),
    path("v1/jit/requests/<int:request_id>/", workflows.AccessRequestDetail.as_view(), name="jit_request"),
    path("v1/jit/requests/<int:request_id>/cancel/", workflows.AccessRequestCancel.as_view(), name="jit_cancel"),
    path("v1/jit/requests/<int:request_id>/decision/", workflows.AccessRequestDecision.as_view(), name="jit_decision"),
    path("v1/jit/grants/", workflows.GrantList.as_view(), name="jit_grants"),
    path("v1/jit/grants/<int:pk>/", workflows.GrantDetail.as_view(), name="jit_grant"),
    path("v1/jit/grants/<int:grant_id>/extend/", workflows.GrantExtend.as_view(), name="jit_extend"),
    path("v1/jit/grants/<int:grant_id>/end/", workflows.GrantEnd.as_view(), name="jit_end"),
]
