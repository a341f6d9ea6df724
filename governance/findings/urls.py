from django.urls import path

from governance.findings import views

app_name = "findings"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("list/", views.finding_list, name="list"),
    path("export/<str:fmt>/", views.export, name="export"),
    path("<int:finding_id>/", views.finding_detail, name="detail"),
    path("compliance/", views.compliance_index, name="compliance"),
    path("compliance/<slug:framework>/", views.framework_detail, name="framework"),
]
