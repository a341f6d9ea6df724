from django.apps import AppConfig


class JitConfig(AppConfig):
    name = "governance.jit"
    label = "jit"
    verbose_name = "Just-in-time access"

    def ready(self) -> None:
        from governance.authz.capabilities import Capability, capabilities
        from governance.inventory import after_sync
        from governance.reviews import providers as review_providers
        from portal.dashboard import Card, register_card
        from portal.navigation import NavEntry, register

        after_sync.register("jit.reconcile", "governance.jit.tasks.reconcile_after_sync")
        after_sync.register("jit.break_glass_reviews", "governance.jit.tasks.break_glass_reviews_after_sync")
        review_providers.register("jit.review_context", "governance.jit.review_context.review_context")
        register_card(
            Card(
                key="jit",
                template="jit/_dashboard_card.html",
                context="governance.jit.selectors.dashboard_card",
                order=30,
            )
        )

        def requests(request):
            return capabilities(request.user).has(Capability.JIT_REQUEST)

        def approves(request):
            caps = capabilities(request.user)
            return caps.has(Capability.JIT_APPROVE) and not caps.has(Capability.JIT_REQUEST)

        def oversees(request):
            caps = capabilities(request.user)
            return caps.has_any(Capability.JIT_ADMIN, Capability.AUDIT_VIEW) and not caps.has_any(
                Capability.JIT_REQUEST, Capability.JIT_APPROVE
            )

        register(NavEntry("Access requests", "jit:mine", requests, section="jit"))
        register(NavEntry("Approvals", "jit:inbox", approves, section="jit"))
        register(NavEntry("Temporary access", "jit:grants", oversees, section="jit"))
