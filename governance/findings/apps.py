from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "governance.findings"
    label = "findings"
    verbose_name = "Findings"

    def ready(self) -> None:
        from governance.authz.capabilities import Capability, capabilities, register_scope
        from governance.findings import rules, selectors
        from governance.findings.models import Finding
        from governance.inventory import after_sync, panels
        from portal.dashboard import Card, register_card
        from portal.navigation import NavEntry, register

        rules.load_builtin()
        after_sync.register("findings.evaluate", "governance.findings.tasks.evaluate_after_sync")
        register_scope(Finding, selectors.visible_findings)
        panels.register(
            panels.Panel(
                key="findings",
                page=panels.ACCOUNT,
                template="findings/_panel.html",
                context="governance.findings.selectors.account_panel",
                order=10,
            )
        )
        panels.register(
            panels.Panel(
                key="findings",
                page=panels.PRINCIPAL,
                template="findings/_panel.html",
                context="governance.findings.selectors.principal_panel",
                order=10,
            )
        )

        register_card(
            Card(
                key="findings",
                template="findings/_dashboard_card.html",
                context="governance.findings.selectors.dashboard_card",
                order=10,
            )
        )

        def may_see(request):
            return capabilities(request.user).has(Capability.FINDINGS_VIEW)

        register(NavEntry("Findings", "findings:dashboard", may_see, section="findings"))
        register(NavEntry("Compliance", "findings:compliance", may_see, section="findings"))
