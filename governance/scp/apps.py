from django.apps import AppConfig


class ScpConfig(AppConfig):
    name = "governance.scp"
    label = "scp"
    verbose_name = "Organization policies"

    def ready(self) -> None:
        from governance.authz.capabilities import Capability, capabilities, register_scope
        from governance.findings.rules import scp_drift  # noqa: F401  (registers scp.drift)
        from governance.scp import selectors
        from governance.scp.models import ChangeRequest
        from portal.navigation import NavEntry, register

        def may_see(request):
            return capabilities(request.user).has(Capability.SCP_VIEW)

        register_scope(ChangeRequest, selectors.visible_changes)
        register(NavEntry("Guardrails", "scp:org_tree", may_see, section="scp"))
