from django.urls import path

from governance.scp import views

app_name = "scp"
urlpatterns = [
    path("", views.org_tree, name="org_tree"),
    path("accounts/<str:account_id>/", views.account_chain, name="account"),
]
