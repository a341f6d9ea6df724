"""The organization: root, OU tree, accounts, service control policies and where they attach."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from governance.inventory.models.base import Synced, SyncedQuerySet, bulk_reference


class Organization(Synced):
    org_id = models.CharField(max_length=64, unique=True)
    arn = models.CharField(max_length=2048)
    feature_set = models.CharField(max_length=32, blank=True)
    management_account_id = models.CharField(max_length=12)
    management_account_email = models.CharField(max_length=320, blank=True)

    class Meta(Synced.Meta):
        db_table = "inventory_organization"

    def __str__(self) -> str:
        return self.org_id


class OrganizationalUnit(Synced):
    """A node of the OU tree; the root is a node too (`is_root`, depth 0).

    `path` is the slash-joined ids from the root down to this node ("r-ab12/ou-ab12-x/"), so a
    subtree is one `path__startswith` query and the whole tree is one query ordered by path.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="units")
    ou_id = models.CharField(max_length=68, unique=True)
    arn = models.CharField(max_length=2048)
    name = models.CharField(max_length=128)
    is_root = models.BooleanField(default=False)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    path = models.CharField(max_length=2048)
    depth = models.PositiveSmallIntegerField(default=0)

    class Meta(Synced.Meta):
        db_table = "inventory_ou"
        indexes = [models.Index(fields=["path"], name="inventory_ou_path")]

    def __str__(self) -> str:
        return self.name


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    SUSPENDED = "SUSPENDED", "Suspended"
    PENDING_CLOSURE = "PENDING_CLOSURE", "Pending closure"
    CLOSED = "CLOSED", "Closed"


class Account(Synced):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="accounts")
    account_id = models.CharField(max_length=12, unique=True)
    arn = models.CharField(max_length=2048)
    name = models.CharField(max_length=256)
    email = models.CharField(max_length=320)
    status = models.CharField(max_length=32, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    joined_method = models.CharField(max_length=16, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        OrganizationalUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts"
    )
    tags = models.JSONField(default=dict, blank=True)
    owner = models.CharField(max_length=256, blank=True, help_text="From the account's `owner` tag.")
    is_management = models.BooleanField(default=False)
    iam_digest = models.CharField(
        max_length=32,
        blank=True,
        editable=False,
        help_text="Digest of the IAM read last ingested; an identical read is skipped without any write.",
    )

    class Meta(Synced.Meta):
        db_table = "inventory_account"
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["name", "id"], name="inventory_account_name"),
            models.Index(fields=["email"], name="inventory_account_email"),
            models.Index(fields=["owner"], name="inventory_account_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class PolicyKind(models.TextChoices):
    SCP = "scp", "Service control policy"
    RCP = "rcp", "Resource control policy"
    CUSTOMER_MANAGED = "customer_managed", "Customer managed"
    AWS_MANAGED = "aws_managed", "AWS managed"
    INLINE = "inline", "Inline"
    PERMISSION_SET_INLINE = "permission_set_inline", "Permission set inline"


ORG_POLICY_KINDS = (PolicyKind.SCP, PolicyKind.RCP)


class AdminAccess(models.TextChoices):
    """What administrator power a policy hands out (governance/inventory/privilege.py decides)."""

    NONE = "", "None"
    FULL = "full", "Full administrator"
    IAM = "iam", "IAM administrator"


class PolicyQuerySet(SyncedQuerySet):
    def scps(self):
        return self.filter(kind=PolicyKind.SCP)

    def org_policies(self):
        """SCPs and RCPs: the organization's guardrails."""
        return self.filter(kind__in=ORG_POLICY_KINDS)

    def customer_managed_named(self, names):
        """Present customer managed policies of these names: what a permission set's customer
        managed references (and boundary) resolve to in an account, matched on
        (account, name, `reference_path(path)`) as AWS matches them."""
        return self.present().filter(kind=PolicyKind.CUSTOMER_MANAGED, name__in=list(names))


def reference_path(path: str | None) -> str:
    """A customer managed reference's path as AWS reads it: none given means "/"."""
    return path or "/"


class Policy(Synced):
    """Any IAM policy document the portal knows: SCPs, managed, inline and permission-set inline.

    Managed policies and SCPs are named by their ARN; inline policies have no ARN, so `arn` holds
    a synthetic one (the owner's ARN + `#inline/` + the policy name). `version` counts document
    changes seen by the portal (1 on first sight); each has a `PolicyVersion` row. AWS managed
    policies are global (`account` is null) and are never marked removed by one account's sync.
    """

    kind = models.CharField(max_length=32, choices=PolicyKind.choices)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=256)
    path = models.CharField(max_length=512, blank=True)
    description = models.TextField(blank=True)
    account = bulk_reference(Account, null=True, blank=True, related_name="policies", db_index=False)
    organization = bulk_reference(Organization, null=True, blank=True, related_name="policies")
    principal = bulk_reference(
        "inventory.Principal",
        null=True,
        blank=True,
        related_name="inline_policies",
        help_text="The owner of an inline policy.",
    )
    permission_set = bulk_reference(
        "inventory.PermissionSet",
        null=True,
        blank=True,
        related_name="inline_policies",
        help_text="The permission set of a permission-set inline policy.",
    )
    aws_policy_id = models.CharField(max_length=128, blank=True)
    aws_version_id = models.CharField(max_length=16, blank=True, help_text="AWS's default version id (v1, v2, ...).")
    document = models.JSONField(null=True, blank=True)
    document_hash = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1)
    attachment_count = models.PositiveIntegerField(null=True, blank=True)
    aws_created = models.DateTimeField(null=True, blank=True)
    aws_updated = models.DateTimeField(null=True, blank=True)
    admin_access = models.CharField(
        max_length=8,
        choices=AdminAccess.choices,
        blank=True,
        default=AdminAccess.NONE,
        help_text="Administrator power the document grants: every action, or every IAM action, on every resource.",
    )

    objects = PolicyQuerySet.as_manager()

    class Meta(Synced.Meta):
        db_table = "inventory_policy"
        verbose_name_plural = "policies"
        indexes = [
            models.Index(fields=["name", "id"], name="inventory_policy_name"),
            models.Index(fields=["account", "kind", "name", "id"], name="inventory_policy_account"),
            models.Index(fields=["kind", "name", "id"], name="inventory_policy_kind"),
            # Few policies grant admin power; only they are indexed.
            models.Index(fields=["admin_access"], name="inventory_policy_admin", condition=~Q(admin_access="")),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyVersion(models.Model):
    """One document a policy has had; a new row whenever the synced document changes."""

    # The (policy, version) unique index serves lookups by policy.
    policy = bulk_reference(Policy, related_name="versions", db_index=False)
    version = models.PositiveIntegerField()
    aws_version_id = models.CharField(max_length=16, blank=True)
    document = models.JSONField(null=True, blank=True)
    document_hash = models.CharField(max_length=64, blank=True)
    first_seen = models.DateTimeField()

    class Meta(Synced.Meta):
        db_table = "inventory_policy_version"
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="inventory_policy_version_unique"),
        ]
        ordering = ["policy", "-version"]

    def __str__(self) -> str:
        return f"{self.policy_id} v{self.version}"


class ScpTargetType(models.TextChoices):
    ROOT = "ROOT", "Root"
    ORGANIZATIONAL_UNIT = "ORGANIZATIONAL_UNIT", "Organizational unit"
    ACCOUNT = "ACCOUNT", "Account"


class ScpAttachment(Synced):
    """An SCP or an RCP (`policy.kind`) attached to the root, an OU (both `unit`) or an account.

    Readers that mean SCPs only filter on `policy__kind` (the writer gate does); the findings
    context keys attachments by the SCP rows it loads, so an RCP's attachment never counts there.
    """

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="scp_attachments")
    target_type = models.CharField(max_length=32, choices=ScpTargetType.choices)
    target_id = models.CharField(max_length=68)
    unit = models.ForeignKey(
        OrganizationalUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="scp_attachments"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="scp_attachments"
    )

    class Meta(Synced.Meta):
        db_table = "inventory_scp_attachment"
        indexes = [models.Index(fields=["target_id"], name="inventory_scp_target")]
        constraints = [
            *Synced.Meta.constraints,
            models.CheckConstraint(
                condition=Q(unit__isnull=True) | Q(account__isnull=True), name="inventory_scp_one_target"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} → {self.target_id}"
