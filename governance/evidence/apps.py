from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "governance.evidence"
    label = "evidence"
    verbose_name = "Evidence"

    def ready(self) -> None:
        from governance.evidence import tasks

        tasks.connect()
        from governance.authz.capabilities import Capability, capabilities
        from portal.navigation import NavEntry, register

        def may_see(request):
            return capabilities(request.user).has(Capability.EVIDENCE_EXPORT)

        register(NavEntry("Evidence", "evidence:index", may_see, section="evidence"))
