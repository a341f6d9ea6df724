"""IAM Identity Center: permission sets, their policies, and account assignments."""

from __future__ import annotations

from django.db import models

from governance.inventory.models.base import Synced
from governance.inventory.models.iam import Principal
from governance.inventory.models.org import Account, Policy


class BoundaryType(models.TextChoices):
    NONE = "none", "None"
    CUSTOMER_MANAGED = "customer_managed", "Customer managed policy reference"
    MANAGED_POLICY = "managed_policy", "Managed policy"
    UNKNOWN = "unknown", "Unknown (not available from this endpoint)"


class PermissionSet(Synced):
    """A permission set and what it grants wherever it is assigned.

    Customer managed policies are named, not attached: AWS looks each reference up by name and
    path in every account the set is provisioned to. Where one names no policy AWS cannot provision
    the set; the sync lists those in `unresolved_references` instead of granting anything.
    """

    instance_arn = models.CharField(max_length=2048)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    session_duration = models.CharField(max_length=32, blank=True)
    relay_state = models.CharField(max_length=2048, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    customer_managed_references = models.JSONField(
        default=list, blank=True, help_text='ListCustomerManagedPolicyReferences: [{"name", "path"}].'
    )
    unresolved_references = models.JSONField(
        default=list,
        blank=True,
        help_text='References naming no policy in an assigned account: [{"name", "path", "account_id"}].',
    )
    boundary_type = models.CharField(max_length=16, choices=BoundaryType.choices, default=BoundaryType.UNKNOWN)
    boundary_name = models.CharField(max_length=128, blank=True, help_text="A customer managed boundary's name.")
    boundary_path = models.CharField(max_length=512, blank=True)
    boundary_policy_arn = models.CharField(max_length=2048, blank=True, help_text="A managed policy boundary.")

    class Meta(Synced.Meta):
        db_table = "inventory_permission_set"
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="inventory_permset_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def boundary_label(self) -> str:
        """The boundary as a page shows it: `/path/name`, an ARN, or what kind it is."""
        if self.boundary_type == BoundaryType.CUSTOMER_MANAGED:
            return f"{self.boundary_path or '/'}{self.boundary_name}"
        if self.boundary_type == BoundaryType.MANAGED_POLICY:
            return self.boundary_policy_arn
        return self.get_boundary_type_display()


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
