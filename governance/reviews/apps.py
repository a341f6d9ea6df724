from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "governance.reviews"
    label = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from governance.authz.capabilities import capabilities
        from governance.evidence import sources
        from governance.inventory import after_sync
        from governance.reviews import providers
        from portal.navigation import NavEntry, register

        providers.load_builtin()
        sources.register("campaign", "governance.reviews.evidence.campaign_source")
        after_sync.register("reviews.after_sync", "governance.reviews.tasks.after_sync")

        def may_review(request):
            return request.user.is_authenticated and capabilities(request.user).is_linked

        register(NavEntry("Reviews", "reviews:inbox", may_review, section="reviews"))
