from django.apps import AppConfig


class ScpConfig(AppConfig):
    name = "governance.scp"
    label = "scp"
    verbose_name = "Organization policies"

    def ready(self) -> None:
        from governance.authz.capabilities import Capability, capabilities
        from portal.navigation import NavEntry, register

        def may_see(request):
            return capabilities(request.user).has(Capability.SCP_VIEW)

        register(NavEntry("Guardrails", "scp:org_tree", may_see, section="scp"))
