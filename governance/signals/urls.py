from django.urls import path

from governance.signals import views

app_name = "signals"
urlpatterns = [
    path("", views.sources, name="sources"),
    path("activity/", views.activity, name="activity"),
    path("access-analyzer/", views.analyzer, name="analyzer"),
    path("config/", views.config, name="config"),
    path("refresh/", views.refresh, name="refresh"),
]
