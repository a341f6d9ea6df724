from django.urls import path

from governance.scp import views

app_name = "scp"
urlpatterns = [
    path("", views.org_tree, name="org_tree"),
    path("accounts/<str:account_id>/", views.account_chain, name="account"),
    path("policies/", views.policy_list, name="policies"),
    path("policies/new/", views.policy_new, name="policy_new"),
    path("policies/validate/", views.policy_validate, name="policy_validate"),
    path("policies/<int:scp_id>/", views.policy_detail, name="policy"),
    path("policies/<int:scp_id>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<int:scp_id>/propose/", views.policy_propose, name="policy_propose"),
    path("changes/", views.change_list, name="changes"),
    path("changes/<int:change_id>/", views.change_detail, name="change"),
    path("changes/<int:change_id>/impact/", views.change_impact, name="change_impact"),
    path("changes/<int:change_id>/approve/", views.change_approve, name="change_approve"),
    path("changes/<int:change_id>/apply/", views.change_apply, name="change_apply"),
    path("changes/<int:change_id>/reconcile/", views.change_reconcile, name="change_reconcile"),
    path("changes/<int:change_id>/reject/", views.change_reject, name="change_reject"),
    path("changes/<int:change_id>/cancel/", views.change_cancel, name="change_cancel"),
    path("changes/<int:change_id>/rebase/", views.change_rebase, name="change_rebase"),
]
