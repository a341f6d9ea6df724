from django.apps import AppConfig


class JitConfig(AppConfig):
    name = "governance.jit"
    label = "jit"
    verbose_name = "Just-in-time access"
