from django.apps import AppConfig


class AuthzConfig(AppConfig):
    name = "governance.authz"
    label = "authz"
    verbose_name = "Authorization"

    def ready(self) -> None:
        from governance.authz import checks, signals  # noqa: F401
        from governance.inventory import after_sync
        from portal.navigation import NavEntry, register

        after_sync.register("authz.relink", "governance.authz.tasks.relink_after_sync")
        register(NavEntry("My access", "authz:my_access", lambda request: request.user.is_authenticated))
        register(NavEntry("Admin", "admin:index", _may_use_admin))


def _may_use_admin(request) -> bool:
    from governance.authz.capabilities import Capability, capabilities

    return capabilities(request.user).has(Capability.ADMIN_ACCESS)
