from django.urls import path

from governance.jit import views

app_name = "jit"
urlpatterns = [
    path("", views.my_requests, name="mine"),
    path("request/", views.new_request, name="new"),
    path("requests/<int:request_id>/", views.request_detail, name="request"),
    path("requests/<int:request_id>/cancel/", views.cancel_request, name="cancel"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:request_id>/", views.review_request, name="review"),
    path("inbox/<int:request_id>/decide/", views.decide, name="decide"),
    path("grants/", views.active_grants, name="grants"),
    path("grants/<int:grant_id>/extend/", views.extend_grant, name="extend"),
    path("grants/<int:grant_id>/end/", views.end_grant, name="end"),
    path("history/", views.history, name="history"),
]
