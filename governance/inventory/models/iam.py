"""Principals (IAM and Identity Center), memberships, entitlements, keys and account IAM facts."""

from __future__ import annotations

from django.db import models

from governance.inventory.models.base import Synced, SyncedQuerySet, bulk_reference
from governance.inventory.models.org import Account, Policy


class PrincipalKind(models.TextChoices):
    IAM_USER = "iam_user", "IAM user"
    IAM_GROUP = "iam_group", "IAM group"
    IAM_ROLE = "iam_role", "IAM role"
    SSO_USER = "sso_user", "Identity Center user"
    SSO_GROUP = "sso_group", "Identity Center group"


class PrincipalQuerySet(SyncedQuerySet):
    def users(self):
        return self.filter(kind__in=[PrincipalKind.IAM_USER, PrincipalKind.SSO_USER])

    def groups(self):
        return self.filter(kind__in=[PrincipalKind.IAM_GROUP, PrincipalKind.SSO_GROUP])


class Principal(Synced):
    """An IAM user, group or role, or an Identity Center user or group.

    Identity Center principals carry `identity_store_id` and `identity_store_principal_id` and a
    synthetic ARN (`arn:aws:identitystore:::user/<id>`); their `account` is the account that holds
    the Identity Center instance (null when that account is outside the organization).
    """

    kind = models.CharField(max_length=16, choices=PrincipalKind.choices)
    account = bulk_reference(Account, null=True, blank=True, related_name="principals", db_index=False)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=256)
    path = models.CharField(max_length=512, blank=True)
    aws_id = models.CharField(max_length=128, blank=True, help_text="UserId / GroupId / RoleId.")
    created = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    last_used_region = models.CharField(max_length=32, blank=True)
    mfa_enabled = models.BooleanField(null=True, blank=True)
    password_enabled = models.BooleanField(null=True, blank=True)
    password_last_used = models.DateTimeField(null=True, blank=True)
    permissions_boundary = bulk_reference(Policy, null=True, blank=True, related_name="bounded_principals")
    trust_policy = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    owner = models.CharField(max_length=256, blank=True, help_text="From the `owner` tag.")
    identity_store_id = models.CharField(max_length=64, blank=True)
    identity_store_principal_id = models.CharField(max_length=64, blank=True)
    user_name = models.CharField(max_length=256, blank=True, help_text="Identity Center user name.")
    display_name = models.CharField(max_length=1024, blank=True)
    email = models.CharField(max_length=320, blank=True, help_text="Identity Center primary e-mail.")
    manager_user_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="Identity Center user id of this user's manager (the `aws:identitystore:enterprise` extension).",
    )
    # Resolved from `manager_user_id` after each Identity Center ingest (one UPDATE): null when the
    # IdP sends no manager or names a user the identity store does not hold.
    manager = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="reports",
        help_text="This Identity Center user's manager.",
    )
    external_ids = models.JSONField(
        default=list, blank=True, help_text='Identity Center ExternalIds (SCIM): [{"Issuer", "Id"}].'
    )

    objects = PrincipalQuerySet.as_manager()

    class Meta(Synced.Meta):
        db_table = "inventory_principal"
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["name", "id"], name="inventory_principal_name"),
            models.Index(fields=["account", "kind", "name", "id"], name="inventory_principal_account"),
            models.Index(fields=["kind", "name", "id"], name="inventory_principal_kind"),
            models.Index(fields=["email"], name="inventory_principal_email"),
            models.Index(fields=["user_name"], name="inventory_principal_username"),
            models.Index(fields=["owner"], name="inventory_principal_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class GroupMembership(Synced):
    group = bulk_reference(Principal, related_name="memberships", db_index=False)
    member = bulk_reference(Principal, related_name="group_memberships", db_index=False)
    account = bulk_reference(Account, null=True, blank=True, related_name="+", db_index=False)

    class Meta(Synced.Meta):
        db_table = "inventory_group_membership"
        indexes = [
            models.Index(fields=["group", "id"], name="inventory_membership_group"),
            models.Index(fields=["member", "id"], name="inventory_membership_member"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ∈ {self.group_id}"


class EntitlementVia(models.TextChoices):
    DIRECT = "direct", "Attached directly"
    GROUP = "group", "Through a group"
    INLINE = "inline", "Inline policy"
    PERMISSION_SET = "permission_set", "Permission set assignment"


class Entitlement(Synced):
    """Principal x policy x how it is held x account: the unit access reviews decide on.

    IAM: managed policies attached to a user, group or role (`direct`), their inline policies
    (`inline`), and for each user the policies of their groups (`group`, `via_group` set).
    Identity Center: for a permission set assigned on an account, each of its policies held by
    the assigned user or group (`permission_set`), and by each member of an assigned group
    (`group`, with `via_group` and `permission_set` set).
    """

    # FKs whose lookups the (fk, id) indexes below already serve carry no index of their own:
    # this table is the largest, and each index costs every insert.
    principal = bulk_reference(Principal, related_name="entitlements", db_index=False)
    policy = bulk_reference(Policy, related_name="entitlements", db_index=False)
    via = models.CharField(max_length=16, choices=EntitlementVia.choices)
    account = bulk_reference(Account, null=True, blank=True, related_name="entitlements", db_index=False)
    via_group = bulk_reference(
        Principal,
        null=True,
        blank=True,
        related_name="granted_entitlements",
        db_index=False,
    )
    permission_set = bulk_reference(
        "inventory.PermissionSet",
        null=True,
        blank=True,
        related_name="entitlements",
        db_index=False,
    )

    class Meta(Synced.Meta):
        db_table = "inventory_entitlement"
        indexes = [
            models.Index(fields=["principal", "id"], name="inventory_ent_principal"),
            models.Index(fields=["account", "id"], name="inventory_ent_account"),
            models.Index(fields=["policy", "id"], name="inventory_ent_policy"),
            # Only Identity Center rows have a permission set: IAM rows (most of the table) stay out.
            models.Index(
                fields=["permission_set", "account"],
                name="inventory_ent_permset",
                condition=models.Q(permission_set__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principal_id} ← {self.policy_id} ({self.via})"


class AccessKeyStatus(models.TextChoices):
    ACTIVE = "Active", "Active"
    INACTIVE = "Inactive", "Inactive"


class AccessKey(Synced):
    """An IAM user's access key, from the credential report (slot 1 or 2).

    The credential report carries no key id, and listing keys per user would cost one call per
    user; `access_key_id` stays blank unless another source provides it. `created` is the report's
    `last_rotated`, which is the key's creation time.
    """

    principal = bulk_reference(Principal, related_name="access_keys")
    account = bulk_reference(Account, related_name="access_keys", db_index=False)
    slot = models.PositiveSmallIntegerField()
    access_key_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=AccessKeyStatus.choices)
    created = models.DateTimeField(null=True, blank=True)
    last_used_date = models.DateTimeField(null=True, blank=True)
    last_used_service = models.CharField(max_length=128, blank=True)
    last_used_region = models.CharField(max_length=32, blank=True)

    class Meta(Synced.Meta):
        db_table = "inventory_access_key"
        indexes = [models.Index(fields=["account", "id"], name="inventory_key_account")]

    def __str__(self) -> str:
        return f"{self.principal_id} key {self.slot}"

    @property
    def masked_id(self) -> str:
        """`AKIA…WXYZ`: enough to match the key in CloudTrail, not enough to be the secret's name."""
        key = self.access_key_id
        return f"{key[:4]}\u2026{key[-4:]}" if len(key) > 8 else ""


class PasswordPolicy(Synced):
    """An account's IAM password policy; `configured` is false when the account has none."""

    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="password_policy")
    configured = models.BooleanField(default=False)
    minimum_length = models.PositiveSmallIntegerField(null=True, blank=True)
    require_symbols = models.BooleanField(default=False)
    require_numbers = models.BooleanField(default=False)
    require_uppercase = models.BooleanField(default=False)
    require_lowercase = models.BooleanField(default=False)
    allow_users_to_change = models.BooleanField(default=False)
    expire_passwords = models.BooleanField(default=False)
    max_age_days = models.PositiveIntegerField(null=True, blank=True)
    reuse_prevention = models.PositiveSmallIntegerField(null=True, blank=True)
    hard_expiry = models.BooleanField(default=False)
    raw = models.JSONField(default=dict, blank=True)

    class Meta(Synced.Meta):
        db_table = "inventory_password_policy"
        verbose_name_plural = "password policies"

    def __str__(self) -> str:
        return f"password policy of {self.account_id}"


class CredentialReportRow(Synced):
    """One line of an account's credential report, the root user's (`<root_account>`) included."""

    account = bulk_reference(Account, related_name="credential_report", db_index=False)
    principal = bulk_reference(Principal, null=True, blank=True, related_name="credential_report_rows")
    user_name = models.CharField(max_length=256)
    arn = models.CharField(max_length=2048)
    is_root = models.BooleanField(default=False)
    user_creation_time = models.DateTimeField(null=True, blank=True)
    password_enabled = models.BooleanField(null=True, blank=True)
    password_last_used = models.DateTimeField(null=True, blank=True)
    password_last_changed = models.DateTimeField(null=True, blank=True)
    password_next_rotation = models.DateTimeField(null=True, blank=True)
    mfa_active = models.BooleanField(default=False)
    access_key_1_active = models.BooleanField(default=False)
    access_key_1_last_rotated = models.DateTimeField(null=True, blank=True)
    access_key_1_last_used_date = models.DateTimeField(null=True, blank=True)
    access_key_1_last_used_service = models.CharField(max_length=128, blank=True)
    access_key_2_active = models.BooleanField(default=False)
    access_key_2_last_rotated = models.DateTimeField(null=True, blank=True)
    access_key_2_last_used_date = models.DateTimeField(null=True, blank=True)
    access_key_2_last_used_service = models.CharField(max_length=128, blank=True)
    cert_1_active = models.BooleanField(default=False)
    cert_2_active = models.BooleanField(default=False)

    class Meta(Synced.Meta):
        db_table = "inventory_credential_report_row"
        indexes = [models.Index(fields=["account", "user_name"], name="inventory_credrep_account")]

    def __str__(self) -> str:
        return self.arn


__all__ = [
    "AccessKey",
    "AccessKeyStatus",
    "CredentialReportRow",
    "Entitlement",
    "EntitlementVia",
    "GroupMembership",
    "PasswordPolicy",
    "Principal",
    "PrincipalKind",
]
