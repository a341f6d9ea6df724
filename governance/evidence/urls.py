from django.urls import path

from governance.evidence import views

app_name = "evidence"
urlpatterns = [
    path("", views.index, name="index"),
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/<int:campaign_id>/", views.campaign, name="campaign"),
    path("keys/", views.public_keys, name="keys"),
    path("keys/<str:key_id>.pem", views.public_key_pem, name="key_pem"),
    path("packages/<uuid:package_id>/download/", views.download, name="download"),
]
