"""What the demo organization contains: its tree, accounts, owners, policies and identities, as data.

`builder.py` turns this into AWS calls. The layout is a pure function of the account count and the
seed, so the same arguments always describe the same organization.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from typing import Any

from governance.aws.demo.personas import BY_KEY, JIT_APPROVERS_GROUP, JIT_REQUESTERS_GROUP, PERSONAS

MIN_ACCOUNTS = 12
MAX_ACCOUNTS = 1000

MANAGER_EMAIL = BY_KEY["manager"].email
PLATFORM_EMAIL = "priya.platform@example.com"
SECURITY_EMAIL = "sam.security@example.com"
DATA_EMAIL = "dana.data@example.com"
OPS_EMAIL = "olga.ops@example.com"

EXTERNAL_VENDOR_ACCOUNT = "999988887777"
EXTERNAL_MONITORING_ACCOUNT = "444455556666"
MONITORING_EXTERNAL_ID = "d3m0-monitoring-7f3a"
ALLOWED_REGIONS = ("us-east-1", "eu-west-1")
ORG_ACCESS_ROLE = "OrganizationAccountAccessRole"
SAML_PROVIDER_NAME = "CorpIdP"
OIDC_PROVIDER_HOST = "token.actions.githubusercontent.com"

# Organizational units by path; the root is "".
OUS = (
    "Security",
    "Infrastructure",
    "Workloads",
    "Workloads/Prod",
    "Workloads/Prod/Payments",
    "Workloads/Prod/Data",
    "Workloads/NonProd",
    "Workloads/NonProd/Payments",
    "Workloads/NonProd/Data",
    "Sandbox",
    "Suspended",
)


@dataclass(frozen=True)
class AccountSpec:
    name: str
    ou: str
    owner: str
    environment: str

    @property
    def email(self) -> str:
        return f"aws+{self.name}@example.com"

    @property
    def tags(self) -> dict[str, str]:
        return {"owner": self.owner, "environment": self.environment, "cost-center": self.name.split("-")[0]}


MANAGEMENT = AccountSpec("management", "", PLATFORM_EMAIL, "shared")

FIXED_ACCOUNTS = (
    MANAGEMENT,
    AccountSpec("log-archive", "Security", SECURITY_EMAIL, "shared"),
    AccountSpec("security-tooling", "Security", SECURITY_EMAIL, "shared"),
    AccountSpec("shared-network", "Infrastructure", PLATFORM_EMAIL, "shared"),
    AccountSpec("payments-prod", "Workloads/Prod/Payments", MANAGER_EMAIL, "prod"),
    AccountSpec("data-prod", "Workloads/Prod/Data", DATA_EMAIL, "prod"),
    AccountSpec("payments-staging", "Workloads/NonProd/Payments", MANAGER_EMAIL, "staging"),
    AccountSpec("payments-dev", "Workloads/NonProd/Payments", MANAGER_EMAIL, "dev"),
    AccountSpec("data-dev", "Workloads/NonProd/Data", DATA_EMAIL, "dev"),
    AccountSpec("sandbox-maria", "Sandbox", MANAGER_EMAIL, "sandbox"),
    AccountSpec("sandbox-olga", "Sandbox", OPS_EMAIL, "sandbox"),
    # An account nobody moved into the OU structure when it joined: guardrails only from the root.
    AccountSpec("legacy-billing", "", OPS_EMAIL, "prod"),
)

_EXTRA_PLACEMENTS = (
    ("payments", "Workloads/Prod/Payments", MANAGER_EMAIL, "prod"),
    ("payments", "Workloads/NonProd/Payments", MANAGER_EMAIL, "dev"),
    ("data", "Workloads/Prod/Data", DATA_EMAIL, "prod"),
    ("data", "Workloads/NonProd/Data", DATA_EMAIL, "dev"),
    ("analytics", "Workloads/Prod/Data", DATA_EMAIL, "prod"),
    ("analytics", "Workloads/NonProd/Data", DATA_EMAIL, "dev"),
    ("checkout", "Workloads/Prod/Payments", OPS_EMAIL, "prod"),
    ("checkout", "Workloads/NonProd/Payments", OPS_EMAIL, "dev"),
    ("sandbox", "Sandbox", OPS_EMAIL, "sandbox"),
)


def account_specs(count: int, rng: random.Random) -> list[AccountSpec]:
    """The fixed accounts plus generated team accounts up to `count` (management included)."""
    specs = list(FIXED_ACCOUNTS)
    for number in range(1, count - len(FIXED_ACCOUNTS) + 1):
        team, ou, owner, environment = rng.choice(_EXTRA_PLACEMENTS)
        specs.append(AccountSpec(f"{team}-{environment}-{number:03d}", ou, owner, environment))
    return specs


@dataclass(frozen=True)
class GeneratedUser:
    name: str
    policy: str  # an AWS managed policy name, attached directly
    created_days_ago: int
    console: bool = False
    mfa: bool = False
    password_last_used_days_ago: int | None = None
    key_created_days_ago: int | None = None
    key_last_used_days_ago: int | None = None


@dataclass(frozen=True)
class GeneratedIam:
    """An account's ordinary clutter: an application role, perhaps a service user and a console user."""

    role_name: str
    role_service: str
    role_policy: str
    role_last_used_days_ago: int | None
    service_user: GeneratedUser | None
    console_user: GeneratedUser | None
    medium_password_policy: bool


def generated_iam(spec: AccountSpec, seed: int) -> GeneratedIam:
    """What `spec`'s account holds besides its named flaws; its own generator, so accounts stay apart."""
    rng = random.Random(f"{seed}:{spec.name}:clutter")
    app = rng.choice(["orders", "reports", "ingest", "billing", "search", "notifier", "etl"])
    service = rng.choice(["lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com"])
    policy = rng.choice(["AmazonS3ReadOnlyAccess", "AmazonDynamoDBFullAccess", "CloudWatchReadOnlyAccess"])
    last_used = rng.choice([0, 1, 3, 40, 200, None])
    service_user = console_user = None
    if rng.random() < 0.5:
        created = rng.randint(5, 720)
        service_user = GeneratedUser(
            name=f"svc-{app}-{spec.environment}",
            policy=rng.choice(["AmazonS3ReadOnlyAccess", "AmazonS3FullAccess"]),
            created_days_ago=created + rng.randint(1, 90),
            key_created_days_ago=created,
            key_last_used_days_ago=rng.choice([None, rng.randint(0, created)]),
        )
    if rng.random() < 0.3:
        console_user = GeneratedUser(
            name=f"{rng.choice(['ops', 'admin', 'dev', 'support'])}.{spec.name}",
            policy=rng.choice(["ReadOnlyAccess", "PowerUserAccess", "AdministratorAccess"]),
            created_days_ago=rng.randint(1, 80),
            console=True,
            mfa=rng.random() < 0.5,
            password_last_used_days_ago=rng.choice([1, 30, 120, None]),
        )
    return GeneratedIam(
        role_name=f"{app}-{spec.environment}-app",
        role_service=service,
        role_policy=policy,
        role_last_used_days_ago=last_used,
        service_user=service_user,
        console_user=console_user,
        medium_password_policy=rng.random() < 0.3,
    )


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: str | list[str], resources: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def trust_account(account_id: str, *, external_id: str = "") -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return document(statement)


def trust_service(service: str) -> str:
    return document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def trust_saml(provider_arn: str) -> str:
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        }
    )


def trust_oidc(provider_arn: str, *, subject: str = "") -> str:
    condition: dict[str, Any] = {"StringEquals": {f"{OIDC_PROVIDER_HOST}:aud": "sts.amazonaws.com"}}
    if subject:
        condition["StringLike"] = {f"{OIDC_PROVIDER_HOST}:sub": subject}
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }
    )


def trust_everyone() -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})


def managed(name: str) -> str:
    """The ARN of an AWS managed policy."""
    return f"arn:aws:iam::aws:policy/{name}"


MEMBER_READ_POLICIES = (managed("SecurityAudit"),)

WRITER_MEMBER_POLICY = document(
    allow(
        [
            "iam:UpdateAccessKey",
            "iam:DeleteAccessKey",
            "iam:DeleteLoginProfile",
            "iam:DeactivateMFADevice",
            "iam:DetachUserPolicy",
            "iam:DetachRolePolicy",
            "iam:DetachGroupPolicy",
            "iam:DeleteUserPolicy",
            "iam:DeleteRolePolicy",
            "iam:DeleteGroupPolicy",
            "iam:RemoveUserFromGroup",
            "iam:PutUserPermissionsBoundary",
            "iam:PutRolePermissionsBoundary",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagUser",
            "iam:TagRole",
        ]
    )
)

WRITER_MANAGEMENT_POLICY = document(
    allow(
        [
            "organizations:CreatePolicy",
            "organizations:UpdatePolicy",
            "organizations:DeletePolicy",
            "organizations:AttachPolicy",
            "organizations:DetachPolicy",
            "organizations:Describe*",
            "organizations:List*",
        ]
    ),
    allow(
        [
            "sso:CreateAccountAssignment",
            "sso:DeleteAccountAssignment",
            "sso:DescribeAccountAssignment*",
            "sso:ProvisionPermissionSet",
            "sso:List*",
            "sso:Describe*",
        ]
    ),
    allow(["identitystore:DeleteGroupMembership", "identitystore:Describe*", "identitystore:List*"]),
)

DEVELOPER_BOUNDARY = document(
    allow(["s3:*", "dynamodb:*", "lambda:*", "logs:*", "cloudwatch:*", "sqs:*", "sns:*"]),
    {
        "Effect": "Deny",
        "Action": ["iam:*", "organizations:*", "account:*"],
        "Resource": "*",
    },
)

S3_EVERYTHING = document(allow("s3:*"))
EVERYTHING = document(allow("*"))
READ_BILLING_EXPORTS = document(allow(["s3:GetObject", "s3:ListBucket"], ["arn:aws:s3:::billing-exports*"]))

STRONG_PASSWORD_POLICY = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
}
WEAK_PASSWORD_POLICY = {
    "MinimumPasswordLength": 6,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": True,
}
MEDIUM_PASSWORD_POLICY = {
    "MinimumPasswordLength": 10,
    "RequireNumbers": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
}

# The root user of every account has MFA and no access keys, except where this says otherwise.
ROOT_USER = {"mfa_active": True, "access_key_active": False}
ROOT_USER_FLAWS = {
    "legacy-billing": {"mfa_active": False},
    "sandbox-olga": {"access_key_active": True},
}
# Permission set session durations other than the builder's default (PT4H governance, PT8H others).
PERMISSION_SET_SESSIONS = {"AdministratorAccess": "PT12H"}
# A read policy with a typo in an action name (s3:GetObjects), the kind of mistake parliament catches.
BILLING_REPORTS_READ = document(
    allow(["s3:GetObjects", "s3:ListBucket"], ["arn:aws:s3:::billing-reports", "arn:aws:s3:::billing-reports/*"])
)

# Service control policies: name -> (description, document, where it attaches). A target is an OU
# path, "" for the root, or "account:<name>"; a policy with no targets is a draft nobody attached.
SCPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "DenyLeaveOrganization": (
        "Member accounts cannot leave the organization.",
        document({"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}),
        ("",),
    ),
    "DenyRegionsOutsideAllowList": (
        "Regional services only in the approved regions.",
        document(
            {
                "Effect": "Deny",
                "NotAction": [
                    "iam:*",
                    "organizations:*",
                    "sts:*",
                    "support:*",
                    "cloudfront:*",
                    "route53:*",
                    "budgets:*",
                    "sso:*",
                ],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(ALLOWED_REGIONS)}},
            }
        ),
        ("Workloads", "Sandbox"),
    ),
    "DenyRootUser": (
        "The root user of member accounts can do nothing.",
        document(
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}},
            }
        ),
        ("Workloads/Prod", "Security", "account:shared-network"),
    ),
    "DenyIamUserCreation": (
        "Production uses roles; nobody creates IAM users or access keys.",
        document(
            {
                "Effect": "Deny",
                "Action": ["iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile"],
                "Resource": "*",
            }
        ),
        ("account:payments-prod",),
    ),
    "SandboxGuardrails": (
        "No large instances and no networking changes in sandboxes.",
        document(
            {
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "arn:aws:ec2:*:*:instance/*",
                "Condition": {"ForAnyValue:StringNotLike": {"ec2:InstanceType": ["t3.*", "t4g.*"]}},
            },
            {
                "Effect": "Deny",
                "Action": ["ec2:CreateVpcPeeringConnection", "ec2:AttachInternetGateway", "directconnect:*"],
                "Resource": "*",
            },
        ),
        ("Sandbox",),
    ),
    "DraftDenyS3PublicAccess": (
        "Draft: keep S3 public access blocks on.",
        document(
            {
                "Effect": "Deny",
                "Action": ["s3:PutAccountPublicAccessBlock", "s3:PutBucketPublicAccessBlock"],
                "Resource": "*",
            }
        ),
        (),
    ),
}

# Resource control policies, like SCPS: the data perimeter on production's S3 and secrets.
RCPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "DataPerimeterProd": (
        "Production S3 objects and secrets only for callers of this organization.",
        document(
            {
                "Sid": "EnforceOrgIdentities",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*", "secretsmanager:*"],
                "Resource": "*",
                "Condition": {
                    "StringNotEqualsIfExists": {"aws:PrincipalOrgID": "${aws:ResourceOrgID}"},
                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                },
            }
        ),
        ("Workloads/Prod",),
    ),
}

# Identity Center ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoUser:
    user_name: str
    email: str
    given_name: str
    family_name: str
    # The user name of their manager, written into the `aws:identitystore:enterprise` extension as
    # SCIM would from the IdP: access reviews route a person's access to their manager.
    manager: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


ORDINARY_SSO_USERS = (
    SsoUser("priya.platform", PLATFORM_EMAIL, "Priya", "Platform"),
    SsoUser("sam.security", SECURITY_EMAIL, "Sam", "Security"),
    SsoUser("dana.data", DATA_EMAIL, "Dana", "Data"),
    SsoUser("olga.ops", OPS_EMAIL, "Olga", "Ops"),
    SsoUser("jamie.dev", "jamie.dev@example.com", "Jamie", "Dev"),
    SsoUser("lee.dev", "lee.dev@example.com", "Lee", "Dev"),
)

_FIRST_NAMES = ("Alex", "Blake", "Casey", "Drew", "Eli", "Frankie", "Gray", "Harper", "Indy", "Jules", "Kai", "Logan")
_LAST_NAMES = ("Engineer", "Builder", "Analyst", "Operator", "Tester", "Designer")


# Who manages whom: the manager persona leads the engineers (so her inbox has people to review),
# the platform lead manages the manager and the governance staff.
MANAGERS = {
    "jamie.dev": BY_KEY["manager"].user_name,
    "lee.dev": BY_KEY["manager"].user_name,
    "dana.data": BY_KEY["manager"].user_name,
    BY_KEY["requester"].user_name: BY_KEY["manager"].user_name,
    BY_KEY["approver"].user_name: BY_KEY["manager"].user_name,
    BY_KEY["manager"].user_name: "priya.platform",
    "olga.ops": "priya.platform",
    "sam.security": "priya.platform",
    BY_KEY["auditor"].user_name: "sam.security",
    BY_KEY["policy_admin"].user_name: "sam.security",
    BY_KEY["policy_admin_2"].user_name: "sam.security",
    BY_KEY["campaign_admin"].user_name: "sam.security",
}
ENGINEERS_MANAGER = BY_KEY["manager"].user_name


def sso_users(account_count: int, rng: random.Random) -> list[SsoUser]:
    """Every persona with an Identity Center user, the ordinary users, and generated engineers."""
    users = [SsoUser(p.user_name, p.email, p.given_name, p.family_name) for p in PERSONAS if p.in_identity_center]
    users += ORDINARY_SSO_USERS
    users = [replace(u, manager=MANAGERS.get(u.user_name, "")) for u in users]
    for number in range(1, max(0, account_count - MIN_ACCOUNTS) // 2 + 1):
        given, family = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        users.append(
            SsoUser(f"engineer{number:03d}", f"engineer{number:03d}@example.com", given, family, ENGINEERS_MANAGER)
        )
    return users


def sso_groups(users: list[SsoUser], rng: random.Random) -> dict[str, tuple[str, list[str]]]:
    """Group name -> (description, member user names)."""
    personas_in = {p.key: p.user_name for p in PERSONAS if p.in_identity_center}
    engineers = [u.user_name for u in users if u.user_name.startswith("engineer")]
    groups = {
        JIT_REQUESTERS_GROUP: (
            "May request temporary access",
            [p.user_name for p in PERSONAS if JIT_REQUESTERS_GROUP in p.groups],
        ),
        JIT_APPROVERS_GROUP: (
            "Approve temporary access requests",
            [p.user_name for p in PERSONAS if JIT_APPROVERS_GROUP in p.groups],
        ),
        "platform-admins": ("Platform team", ["priya.platform", "olga.ops"]),
        "developers": ("Application developers", ["jamie.dev", "lee.dev", personas_in["requester"], *engineers]),
        "data-engineers": ("Data platform", ["dana.data", *rng.sample(engineers, len(engineers) // 3)]),
        "security-auditors": ("Security and audit", ["sam.security", personas_in["auditor"]]),
    }
    return groups


GOVERNANCE_PERMISSION_SET_POLICIES = {
    "GovernanceAuditor": (
        "Read the organization, IAM and Identity Center for audits",
        document(
            allow(
                [
                    "organizations:Describe*",
                    "organizations:List*",
                    "iam:Get*",
                    "iam:List*",
                    "iam:GenerateCredentialReport",
                    "sso:Describe*",
                    "sso:List*",
                    "identitystore:Describe*",
                    "identitystore:List*",
                    "cloudtrail:LookupEvents",
                ]
            )
        ),
    ),
    "GovernancePolicyAdmin": (
        "Edit and apply service control policies",
        document(
            allow(["organizations:*Policy*", "organizations:Describe*", "organizations:List*"]),
            {
                "Effect": "Deny",
                "Action": ["organizations:LeaveOrganization", "organizations:DeleteOrganization"],
                "Resource": "*",
            },
        ),
    ),
    "GovernanceAccessAdmin": (
        "Run access reviews and carry out their revocations",
        document(
            allow(
                [
                    "iam:Get*",
                    "iam:List*",
                    "iam:UpdateAccessKey",
                    "iam:DeleteAccessKey",
                    "iam:DeleteLoginProfile",
                    "iam:DetachUserPolicy",
                    "iam:DetachRolePolicy",
                    "iam:DetachGroupPolicy",
                    "iam:DeleteUserPolicy",
                    "iam:DeleteRolePolicy",
                    "iam:RemoveUserFromGroup",
                    "sso:Describe*",
                    "sso:List*",
                    "sso:CreateAccountAssignment",
                    "sso:DeleteAccountAssignment",
                    "identitystore:Describe*",
                    "identitystore:List*",
                    "identitystore:DeleteGroupMembership",
                    "organizations:Describe*",
                    "organizations:List*",
                ]
            )
        ),
    ),
}

ORDINARY_PERMISSION_SETS = {
    "AdministratorAccess": ("Full administrator", managed("AdministratorAccess")),
    "ReadOnlyAccess": ("Read everything", managed("ReadOnlyAccess")),
    "DeveloperAccess": ("Build and run applications", managed("PowerUserAccess")),
    "SecurityAudit": ("Security review", managed("SecurityAudit")),
}

# Customer managed policies a permission set references by name and path. Identity Center looks each
# one up in every account the set is assigned on, so the builder creates it in those accounts.
PERMISSION_SET_CUSTOMER_MANAGED: dict[str, tuple[tuple[str, str], ...]] = {
    "DeveloperAccess": (("DeveloperWorkloadAccess", "/identity-center/"),),
}
# Permissions boundaries of permission sets: what a session from the set can do at most.
PERMISSION_SET_BOUNDARIES = {
    "DeveloperAccess": {"ManagedPolicyArn": managed("PowerUserAccess")},
}
CUSTOMER_MANAGED_FOR_PERMISSION_SETS = {
    "DeveloperWorkloadAccess": (
        "Workload data stores for developers; referenced by the DeveloperAccess permission set",
        document(allow(["dynamodb:*", "sqs:*", "sns:*", "secretsmanager:GetSecretValue"])),
    ),
}


@dataclass
class Assignment:
    permission_set: str
    account: str
    principal_type: str
    principal: str


@dataclass
class SsoLayout:
    users: list[SsoUser]
    groups: dict[str, tuple[str, list[str]]]
    assignments: list[Assignment] = field(default_factory=list)


def sso_layout(specs: list[AccountSpec], rng: random.Random) -> SsoLayout:
    users = sso_users(len(specs), rng)
    layout = SsoLayout(users=users, groups=sso_groups(users, rng))
    add = layout.assignments.append
    for persona in PERSONAS:
        if persona.in_identity_center:
            for permission_set in persona.permission_sets:
                add(Assignment(permission_set, MANAGEMENT.name, "USER", persona.user_name))
    # The gate in front of AWS writes evaluates the campaign admin's own sets on the target
    # account, so carrying out a review's revokes in a member account needs the set there too.
    campaign_admin = BY_KEY["campaign_admin"].user_name
    for spec in specs:
        add(Assignment("GovernanceAccessAdmin", spec.name, "USER", campaign_admin))
        add(Assignment("ReadOnlyAccess", spec.name, "GROUP", "security-auditors"))
        if spec.environment in ("dev", "staging", "sandbox"):
            add(Assignment("DeveloperAccess", spec.name, "GROUP", "developers"))
        if spec.environment == "shared":
            add(Assignment("AdministratorAccess", spec.name, "GROUP", "platform-admins"))
        if spec.ou.endswith("/Data") and spec.environment == "prod":
            add(Assignment("ReadOnlyAccess", spec.name, "GROUP", "data-engineers"))
        if spec.ou.endswith("/Data") and spec.environment == "dev":
            add(Assignment("DeveloperAccess", spec.name, "GROUP", "data-engineers"))
    # Direct user assignments, the kind reviews exist to question.
    add(Assignment("AdministratorAccess", "payments-dev", "USER", BY_KEY["manager"].user_name))
    add(Assignment("ReadOnlyAccess", "payments-prod", "USER", BY_KEY["manager"].user_name))
    add(Assignment("AdministratorAccess", "data-dev", "USER", "dana.data"))
    add(Assignment("AdministratorAccess", "payments-prod", "USER", "lee.dev"))
    add(Assignment("SecurityAudit", "security-tooling", "USER", "sam.security"))
    add(Assignment("SecurityAudit", "log-archive", "USER", "sam.security"))
    return layout


def accounts_referencing(assignments: list[Assignment]) -> dict[str, list[tuple[str, str]]]:
    """Account name -> the (name, path) references of the permission sets assigned there."""
    found: dict[str, list[tuple[str, str]]] = {}
    for assignment in assignments:
        for reference in PERMISSION_SET_CUSTOMER_MANAGED.get(assignment.permission_set, ()):
            wanted = found.setdefault(assignment.account, [])
            if reference not in wanted:
                wanted.append(reference)
    return found
