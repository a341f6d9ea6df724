"""IAM Identity Center: permission sets, their policies, and account assignments."""

from __future__ import annotations

from django.db import models

from governance.inventory.models.base import Synced
from governance.inventory.models.iam import Principal
from governance.inventory.models.org import Account, Policy


class PermissionSet(Synced):
    instance_arn = models.CharField(max_length=2048)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    session_duration = models.CharField(max_length=32, blank=True)
    relay_state = models.CharField(max_length=2048, blank=True)
    created = models.DateTimeField(null=True, blank=True)

    class Meta(Synced.Meta):
        db_table = "inventory_permission_set"
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="inventory_permset_name")]

    def __str__(self) -> str:
        return self.name


class PermissionSetPolicy(Synced):
    """A managed policy attached to a permission set (ListManagedPoliciesInPermissionSet)."""

    permission_set = models.ForeignKey(PermissionSet, on_delete=models.PROTECT, related_name="policy_links")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="permission_set_links")

    class Meta(Synced.Meta):
        db_table = "inventory_permission_set_policy"
        verbose_name_plural = "permission set policies"

    def __str__(self) -> str:
        return f"{self.permission_set_id} ← {self.policy_id}"


class AccountAssignment(Synced):
    """A permission set assigned on an account to an Identity Center user or group."""

    permission_set = models.ForeignKey(PermissionSet, on_delete=models.PROTECT, related_name="assignments")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments")
    aws_account_id = models.CharField(max_length=12, help_text="Kept even when the account is not in the org.")
    principal = models.ForeignKey(
        Principal, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )
    principal_type = models.CharField(max_length=8)
    principal_aws_id = models.CharField(max_length=64)

    class Meta(Synced.Meta):
        db_table = "inventory_account_assignment"
        indexes = [
            models.Index(fields=["account", "id"], name="inventory_assign_account"),
            models.Index(fields=["principal", "id"], name="inventory_assign_principal"),
        ]

    def __str__(self) -> str:
        return f"{self.permission_set_id} @ {self.aws_account_id} → {self.principal_aws_id}"
