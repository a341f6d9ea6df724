from django.urls import path

from governance.inventory import views

app_name = "inventory"
urlpatterns = [
    path("", views.org_tree, name="org_tree"),
    path("accounts/<str:account_id>/", views.account_detail, name="account"),
    path("principals/<int:principal_id>/", views.principal_detail, name="principal"),
    path("search/", views.search, name="search"),
    path("sync/", views.sync_page, name="sync"),
    path("sync/progress/", views.sync_progress, name="sync_progress"),
    path("sync/run/", views.sync_now, name="sync_now"),
]
