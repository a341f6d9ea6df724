from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "governance.inventory"
    label = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from governance.authz.capabilities import Capability, capabilities, register_scope
        from governance.inventory import selectors
        from portal.navigation import NavEntry, register

        # Feature apps fetch policies and permission sets through these (get_object_for_user_or_404).
        register_scope("inventory.policy", selectors.visible_policies)
        register_scope("inventory.permissionset", selectors.visible_permission_sets)

        def may(capability: Capability):
            return lambda request: capabilities(request.user).has(capability)

        register(NavEntry("Inventory", "inventory:org_tree", may(Capability.INVENTORY_VIEW), section="inventory"))
        register(NavEntry("Search", "inventory:search", may(Capability.INVENTORY_VIEW), section="inventory"))
        register(NavEntry("Sync", "inventory:sync", may(Capability.INVENTORY_VIEW_ALL), section="inventory"))
