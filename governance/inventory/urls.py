from django.urls import path

from governance.inventory import views

app_name = "inventory"
urlpatterns = [
    path("", views.org_tree, name="org_tree"),
    path("accounts/<str:account_id>/", views.account_detail, name="account"),
    path("accounts/<str:account_id>/credential-report/", views.credential_report, name="credential_report"),
    path("accounts/<str:account_id>/changes/", views.account_changes, name="account_changes"),
    path("principals/<int:principal_id>/", views.principal_detail, name="principal"),
    path("policies/<int:policy_id>/", views.policy_detail, name="policy"),
    path("permission-sets/<int:permission_set_id>/", views.permission_set_detail, name="permission_set"),
    path("users/", views.iam_users, name="users"),
    path("access-keys/", views.access_keys, name="access_keys"),
    path("roles/", views.roles, name="roles"),
    path("admin-power/", views.admin_power, name="admin_power"),
    path("changes/", views.org_changes, name="changes"),
    path("search/", views.search, name="search"),
    path("sync/", views.sync_page, name="sync"),
    path("sync/progress/", views.sync_progress, name="sync_progress"),
    path("sync/run/", views.sync_now, name="sync_now"),
]
