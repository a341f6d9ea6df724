from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from governance.audit import checks  # noqa: F401  (registers the system checks)
        from governance.authz.capabilities import Capability, capabilities
        from portal.navigation import NavEntry, register

        def may_see(request):
            return capabilities(request.user).has(Capability.AUDIT_VIEW)

        register(NavEntry("Audit trail", "audit:list", may_see, section="audit"))
