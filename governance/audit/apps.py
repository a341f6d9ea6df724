from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from governance.audit import checks  # noqa: F401  (registers the system checks)
