from django.urls import path

from governance.reviews import views

app_name = "reviews"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:campaign_id>/", views.campaign_inbox, name="campaign_inbox"),
    path("<int:campaign_id>/bulk/", views.bulk_decide, name="bulk"),
    path("<int:campaign_id>/delegate/", views.delegate, name="delegate"),
    path("<int:campaign_id>/sign-off/", views.sign_off, name="sign_off"),
    path("<int:campaign_id>/report/", views.report, name="report"),
    path("<int:campaign_id>/close/", views.close, name="close"),
    path("<int:campaign_id>/decide/", views.decide, name="decide"),
]
