from django.apps import AppConfig


class AuthzConfig(AppConfig):
    name = "governance.authz"
    label = "authz"
    verbose_name = "Authorization"

    def ready(self) -> None:
        from governance.authz import checks, signals  # noqa: F401
        from portal.navigation import NavEntry, register

        register(NavEntry("My access", "authz:my_access", lambda request: request.user.is_authenticated))
        register(NavEntry("Admin", "admin:index", _may_use_admin))


def _may_use_admin(request) -> bool:
    from governance.authz.capabilities import Capability, capabilities

    return capabilities(request.user).has(Capability.ADMIN_ACCESS)
