from django.apps import AppConfig


class AuthzConfig(AppConfig):
    name = "governance.authz"
    label = "authz"
    verbose_name = "Authorization"
