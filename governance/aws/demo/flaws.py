"""Every flaw the demo organization is seeded with, as the findings dashboard must show it.

One place: the named flaws of the fixed accounts (`NAMED`), the flaws every member account shares
(`IN_EVERY_MEMBER_ACCOUNT`), and those that follow from the layout's data (password policies, the
SCP tree, Identity Center, each account's generated clutter). `seeded_flaws()` lists them all for an
organization built with the same arguments; tests/findings/test_demo_flaws.py holds the findings of
`demo_org` + `sync_aws` + `evaluate_findings` to exactly this list (nothing missing, no false alarm).

Accounts are named as in the layout ("management" for the management account). A flaw's `resource`
is what the finding names: a principal, a policy ("<owner>-inline" for inline ones), the account,
"root user of <account>", or a permission set (account "").
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.aws.demo import layout
from governance.aws.demo.layout import MANAGEMENT, AccountSpec

IDENTITY_CENTER = ""


@dataclass(frozen=True)
class Flaw:
    rule: str
    account: str
    resource: str
    why: str = ""


def _flaws(account: str, *items: tuple[str, str, str]) -> list[Flaw]:
    return [Flaw(rule, account, resource, why) for rule, resource, why in items]


NAMED: tuple[Flaw, ...] = (
    *_flaws(
        "management",
        ("policy.admin_star", "break-glass-admin", "the emergency user holds AdministratorAccess"),
        ("user.direct_policy", "break-glass-admin", "AdministratorAccess attached to the user itself"),
        ("user.in_identity_center_account", "break-glass-admin", "a console user beside Identity Center"),
        ("user.credential_unused_90d", "break-glass-admin", "its password was last used 250 days ago"),
    ),
    *_flaws(
        "shared-network",
        ("policy.admin_star", "SAMLNetworkAdmins", "federated role with AdministratorAccess"),
        ("user.password_and_keys", "alice.ops", "console password and an access key"),
        ("user.in_identity_center_account", "alice.ops", "a console user beside Identity Center"),
    ),
    *_flaws(
        "security-tooling",
        ("policy.admin_star", "security-admins", "a group holding AdministratorAccess"),
        ("user.in_identity_center_account", "sec-admin", "a console user beside Identity Center"),
    ),
    *_flaws(
        "payments-prod",
        ("role.trust_external_without_external_id", "VendorAuditRole", "trusts 999988887777 with no external id"),
        ("policy.privilege_escalation", "CrossAccountDeploy", "PowerUserAccess: Lambda code and Glue endpoints"),
    ),
    *_flaws(
        "payments-dev",
        ("policy.service_wildcard", "S3Everything", "s3:* on *"),
        ("policy.sensitive_without_condition", "S3Everything", "object access without conditions"),
        ("user.in_identity_center_account", "jamie.dev", "a console user beside Identity Center"),
        ("user.in_identity_center_account", "lee.dev", "a console user beside Identity Center"),
        ("user.password_and_keys", "jamie.dev", "console password and an access key"),
        ("user.password_and_keys", "lee.dev", "console password and two access keys"),
        ("user.console_without_mfa", "lee.dev", "no MFA device"),
        ("user.key_older_than_90d", "lee.dev", "key 1 is 200 days old"),
        ("user.key_older_than_90d", "payments-ci", "key is 95 days old"),
        ("user.credential_unused_90d", "lee.dev", "key 1 last used 120 days ago"),
        ("user.credential_unused_90d", "lee.dev", "password last used 95 days ago"),
        ("user.direct_policy", "payments-ci", "S3Everything attached to the user"),
        ("policy.privilege_escalation", "GitHubActionsDeploy", "its boundary still allows lambda:*"),
        ("role.trust_federated_without_audience", "GitHubActionsAnyRepo", "any GitHub repository may assume it"),
        ("policy.admin_star", "GitHubActionsAnyRepo", "AdministratorAccess for any repository"),
    ),
    *_flaws(
        "data-dev",
        ("policy.inline_admin", "bob.data-inline", '"*" on "*" inline'),
        ("policy.service_wildcard", "data-engineers-inline", "s3:* on *"),
        ("policy.service_wildcard", "data-pipeline-inline", "s3:* on *"),
        ("policy.sensitive_without_condition", "data-engineers-inline", "object access without conditions"),
        ("policy.sensitive_without_condition", "data-pipeline-inline", "object access without conditions"),
        ("user.console_without_mfa", "bob.data", "no MFA device"),
        ("user.password_and_keys", "bob.data", "console password and an access key"),
        ("user.key_older_than_90d", "bob.data", "key is 150 days old"),
        ("user.direct_policy", "bob.data", "an inline policy on the user"),
        ("user.in_identity_center_account", "bob.data", "a console user beside Identity Center"),
        ("user.in_identity_center_account", "carol.data", "a console user beside Identity Center"),
    ),
    *_flaws(
        "legacy-billing",
        ("root.mfa_missing", "root user of legacy-billing", "the root user has no MFA"),
        ("policy.admin_star", "legacy-admin", "AdministratorAccess on an old console user"),
        ("user.console_without_mfa", "legacy-admin", "administrator without MFA"),
        ("user.password_and_keys", "legacy-admin", "console password and an access key"),
        ("user.key_older_than_90d", "legacy-admin", "key is 900 days old"),
        ("user.key_older_than_90d", "billing-export", "key is 500 days old"),
        ("user.credential_unused_90d", "legacy-admin", "password last used 400 days ago"),
        ("user.credential_unused_90d", "billing-export", "active key never used"),
        ("user.direct_policy", "legacy-admin", "AdministratorAccess attached to the user"),
        ("user.direct_policy", "billing-export", "an inline policy on the user"),
        ("user.in_identity_center_account", "legacy-admin", "a console user beside Identity Center"),
        ("policy.service_wildcard", "billing-export-inline", "s3:* on *"),
        ("policy.sensitive_without_condition", "billing-export-inline", "object access without conditions"),
        ("policy.sensitive_without_condition", "LegacyCrossAccess-inline", "billing exports readable unconditioned"),
        ("role.trust_any_principal", "LegacyCrossAccess", 'trust policy names Principal "*"'),
        ("role.unused_90d", "LegacyReportingRole", "last used 200 days ago"),
        ("policy.lint", "BillingReportsRead", "s3:GetObjects is not an action"),
        ("scp.root_only_full_access", "legacy-billing", "never moved into an OU"),
    ),
    *_flaws(
        "sandbox-maria",
        ("policy.admin_star", "maria.sandbox", "AdministratorAccess on a console user"),
        ("user.console_without_mfa", "maria.sandbox", "no MFA device"),
        ("user.password_and_keys", "maria.sandbox", "console password and an access key"),
        ("user.direct_policy", "maria.sandbox", "AdministratorAccess attached to the user"),
        ("user.in_identity_center_account", "maria.sandbox", "a console user beside Identity Center"),
    ),
    *_flaws("sandbox-olga", ("root.access_keys", "root user of sandbox-olga", "the root user has an access key")),
    *_flaws(
        IDENTITY_CENTER,
        ("permission_set.admin_overassigned", "AdministratorAccess", "five people hold it (limit 3)"),
        ("permission_set.long_session", "AdministratorAccess", "PT12H sessions (limit 8 hours)"),
    ),
)

IN_EVERY_MEMBER_ACCOUNT: tuple[tuple[str, str, str], ...] = (
    ("policy.admin_star", layout.ORG_ACCESS_ROLE, "AWS gives the role Organizations creates AdministratorAccess"),
    (
        "boundary.delegated_admin_missing",
        "GovernancePortalWriterRole",
        "the portal's writer can change trust policies and boundaries; it has no boundary of its own",
    ),
)


def _scps_on(spec: AccountSpec) -> set[str]:
    found = set()
    for name, (_description, _document, targets) in layout.SCPS.items():
        for target in targets:
            if (
                target == f"account:{spec.name}"
                or target == ""
                or spec.ou == target
                or spec.ou.startswith(f"{target}/")
            ):
                found.add(name)
    return found


def _from_layout(spec: AccountSpec, seed: int, referenced: set[str]) -> list[Flaw]:
    flaws: list[Flaw] = []
    clutter = layout.generated_iam(spec, seed)
    strong = spec.name in ("management", "payments-prod") and not clutter.medium_password_policy
    if not strong:
        flaws.append(Flaw("account.password_policy_weak", spec.name, spec.name, "no policy, or under 14 characters"))
    if spec is not MANAGEMENT and "DenyRootUser" not in _scps_on(spec):
        flaws.append(Flaw("scp.baseline_missing", spec.name, spec.name, "no SCP denies its root user"))
    if spec.name in referenced:
        for rule in ("policy.service_wildcard", "policy.sensitive_without_condition"):
            flaws.append(Flaw(rule, spec.name, "DeveloperWorkloadAccess", "dynamodb:*, sqs:*, sns:* and secrets"))
    if clutter.role_last_used_days_ago is not None and clutter.role_last_used_days_ago > 90:
        flaws.append(Flaw("role.unused_90d", spec.name, clutter.role_name, "generated application role"))
    user = clutter.service_user
    if user is not None:
        flaws.append(Flaw("user.direct_policy", spec.name, user.name, "generated service user"))
        created, used = user.key_created_days_ago or 0, user.key_last_used_days_ago
        if created > 90:
            flaws.append(Flaw("user.key_older_than_90d", spec.name, user.name, f"key is {created} days old"))
        if (used is None and created > 90) or (used is not None and used > 90):
            flaws.append(Flaw("user.credential_unused_90d", spec.name, user.name, "key unused for 90 days"))
    user = clutter.console_user
    if user is not None:
        flaws.append(Flaw("user.direct_policy", spec.name, user.name, "generated console user"))
        flaws.append(Flaw("user.in_identity_center_account", spec.name, user.name, "generated console user"))
        if not user.mfa:
            flaws.append(Flaw("user.console_without_mfa", spec.name, user.name, "generated console user"))
        last = user.password_last_used_days_ago
        if (last is not None and last > 90) or (last is None and user.created_days_ago > 90):
            flaws.append(Flaw("user.credential_unused_90d", spec.name, user.name, "password unused"))
        if user.policy == "AdministratorAccess":
            flaws.append(Flaw("policy.admin_star", spec.name, user.name, "generated administrator"))
        if user.policy == "PowerUserAccess":
            flaws.append(Flaw("policy.privilege_escalation", spec.name, user.name, "PowerUserAccess"))
    return flaws


def seeded_flaws(*, accounts: int = layout.MIN_ACCOUNTS, seed: int = 42) -> list[Flaw]:
    """Every flaw of the organization `build(accounts=accounts, seed=seed)` creates."""
    import random

    specs = layout.account_specs(accounts, random.Random(seed))
    sso = layout.sso_layout(specs, random.Random(f"{seed}:identity-center"))
    referenced = set(layout.accounts_referencing(sso.assignments))
    flaws = list(NAMED)
    for spec in specs:
        if spec is not MANAGEMENT:
            flaws += [Flaw(rule, spec.name, resource, why) for rule, resource, why in IN_EVERY_MEMBER_ACCOUNT]
        flaws += _from_layout(spec, seed, referenced)
    return flaws
