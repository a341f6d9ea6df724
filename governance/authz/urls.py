from django.urls import path

from governance.authz import views

app_name = "authz"
urlpatterns = [
    path("", views.my_access, name="my_access"),
    path("break-glass/<str:token>/", views.break_glass_login, name="break_glass_login"),
]
