"""API permissions ask the same `capabilities(user)` as the pages; nothing else grants anything."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from governance.authz.capabilities import Capability, capabilities


def requires(*needed: Capability) -> type[BasePermission]:
    """A permission class admitting authenticated users that hold every capability in `needed`."""

    class Requires(BasePermission):
        message = "Missing capability: " + ", ".join(str(c) for c in needed) if needed else "Log in first."

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated) and all(capabilities(user).has(c) for c in needed)

    Requires.__name__ = "Requires_" + "_".join(str(c).replace(".", "_") for c in needed)
    return Requires


def requires_any(*needed: Capability) -> type[BasePermission]:
    """A permission class admitting authenticated users that hold at least one capability in `needed`."""

    class RequiresAny(BasePermission):
        message = "Missing capability: one of " + ", ".join(str(c) for c in needed)

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated) and capabilities(user).has_any(*needed)

    RequiresAny.__name__ = "RequiresAny_" + "_".join(str(c).replace(".", "_") for c in needed)
    return RequiresAny
