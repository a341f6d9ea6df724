from django.urls import path

from governance.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.event_list, name="list"),
    path("export.csv", views.export_csv, name="export"),
    path("<int:sequence>/", views.event_detail, name="detail"),
]
