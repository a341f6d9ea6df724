"""What the signals app adds to the rest of the portal, registered from AppConfig.ready()."""

from __future__ import annotations


def register_all() -> None:
    from governance.authz.capabilities import Capability, capabilities, register_scope
    from governance.findings.rules import access_analyzer  # noqa: F401  (registers the analyzer rules)
    from governance.inventory import after_sync, panels
    from governance.signals import integrations, selectors
    from governance.signals.models import ActivityEvent, AnalyzerFinding, ConfigRuleCompliance
    from portal.navigation import NavEntry, register

    after_sync.register("signals.refresh", "governance.signals.tasks.refresh_after_sync")
    register_scope(ActivityEvent, selectors.visible_activity)
    register_scope(AnalyzerFinding, selectors.visible_analyzer_findings)
    register_scope(ConfigRuleCompliance, selectors.visible_config_rules)
    for page, context, order in (
        (panels.ACCOUNT, "governance.signals.selectors.account_panel", 20),
        (panels.PRINCIPAL, "governance.signals.selectors.principal_panel", 20),
    ):
        panels.register(
            panels.Panel(key="signals", page=page, template=f"signals/_{page}_panel.html", context=context, order=order)
        )

    panels.register(
        panels.Panel(
            key="signals_validation",
            page=panels.POLICY,
            template="signals/_policy_validation_panel.html",
            context="governance.signals.validation.policy_panel",
            order=30,
        )
    )
    panels.register(
        panels.Panel(
            key="signals_changes",
            page=panels.POLICY,
            template="signals/_policy_changes_panel.html",
            context="governance.signals.selectors.policy_panel",
            order=31,
        )
    )
    integrations.register()

    def may_see_activity(request):
        return capabilities(request.user).has(Capability.INVENTORY_VIEW)

    register(NavEntry("Activity", "signals:activity", may_see_activity, section="signals"))
