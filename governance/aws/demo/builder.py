"""Builds the demo organization in the local AWS emulator through the same boto3 session the portal uses.

Everything is created through AWS APIs as the management account (Organizations, Identity Center)
or as `OrganizationAccountAccessRole` in each member account (IAM), exactly as an administrator
would. What AWS has no API for, the age of credentials, is set through the emulator afterwards.
"""

from __future__ import annotations

import random
import string
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from governance.aws import calls, emulator, session
from governance.aws.demo import layout
from governance.aws.demo.layout import MANAGEMENT, AccountSpec, managed
from governance.aws.readers.identity_center import ENTERPRISE_EXTENSION


class DemoOrgError(Exception):
    """The demo organization cannot be built here; the message says why."""


class DemoOrgExists(DemoOrgError):
    """The emulator already holds an organization; nothing was created."""

    def __init__(self, *, management_account_id: str, accounts: int) -> None:
        self.management_account_id = management_account_id
        self.accounts = accounts
        super().__init__(
            f"The emulator already holds an organization (management account {management_account_id}, "
            f"{accounts} accounts); nothing was created."
        )


@dataclass(frozen=True)
class DemoOrg:
    """Ids of what the demo organization contains, for tests and benchmarks."""

    seed: int
    organization_id: str
    root_id: str
    management_account_id: str
    governance_account_id: str
    accounts: dict[str, str]
    account_owners: dict[str, str]
    ous: dict[str, str]
    scps: dict[str, str]
    sso_instance_arn: str
    identity_store_id: str
    sso_users: dict[str, str]
    sso_groups: dict[str, str]
    permission_sets: dict[str, str]
    principals: dict[str, str]
    summary: dict[str, Any] = field(default_factory=dict)
    rcps: dict[str, str] = field(default_factory=dict)

    def account_id(self, name: str) -> str:
        return self.accounts[name]

    def accounts_owned_by(self, email: str) -> list[str]:
        """Names of the accounts whose `owner` tag is `email`."""
        return [name for name, owner in self.account_owners.items() if owner == email]

    @property
    def member_account_ids(self) -> list[str]:
        return [account_id for account_id in self.accounts.values() if account_id != self.management_account_id]


def require_emulator() -> str:
    """The emulator URL from settings, or DemoOrgError: the demo never touches real AWS."""
    url = settings.AWS_ENDPOINT_URL
    if not url:
        raise DemoOrgError(
            "AWS_ENDPOINT_URL is not set. demo_org only seeds a local AWS emulator; "
            "set AWS_ENDPOINT_URL to its loopback address (e.g. http://127.0.0.1:5055)."
        )
    if not emulator.is_loopback_url(url):
        raise DemoOrgError(
            f"AWS_ENDPOINT_URL={url} is not a loopback address. demo_org only seeds a local AWS emulator "
            "and refuses anything that could be real AWS."
        )
    return url


def existing_organization() -> tuple[str, int] | None:
    """(management account id, number of accounts) when the endpoint already has an organization."""
    client = session.management_client("organizations")
    try:
        organization = client.describe_organization()["Organization"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "AWSOrganizationsNotInUseException":
            return None
        raise
    count = sum(1 for _ in session.paginate(client, "list_accounts", "Accounts"))
    return organization["MasterAccountId"], count


def build(*, accounts: int = layout.MIN_ACCOUNTS, seed: int = 42) -> DemoOrg:
    """Create the demo organization in the emulator at settings.AWS_ENDPOINT_URL.

    Raises DemoOrgError when the endpoint is not a loopback emulator or `accounts` is out of range,
    and DemoOrgExists when the emulator already holds an organization.
    """
    url = require_emulator()
    if not layout.MIN_ACCOUNTS <= accounts <= layout.MAX_ACCOUNTS:
        raise DemoOrgError(
            f"--accounts must be between {layout.MIN_ACCOUNTS} and {layout.MAX_ACCOUNTS}; got {accounts}."
        )
    if (found := existing_organization()) is not None:
        raise DemoOrgExists(management_account_id=found[0], accounts=found[1])
    started = time.perf_counter()
    emulator.seed(url, seed)
    with calls.counting() as log:
        builder = _Builder(url=url, seed=seed, account_count=accounts)
        org = builder.run()
    org.summary["api_calls"] = log.total
    org.summary["seconds"] = round(time.perf_counter() - started, 2)
    return org


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


@dataclass
class _Key:
    created_days_ago: int
    last_used_days_ago: int | None = None
    active: bool = True


class _Builder:
    def __init__(self, *, url: str, seed: int, account_count: int) -> None:
        self.url = url
        self.seed = seed
        self.specs = layout.account_specs(account_count, random.Random(seed))
        # Decided before IAM is populated: the policies permission sets reference must exist in the
        # accounts those sets are assigned on.
        self.sso_layout = layout.sso_layout(self.specs, random.Random(f"{seed}:identity-center"))
        self.referenced = layout.accounts_referencing(self.sso_layout.assignments)
        # Each account draws its clutter from its own generator, so changing one account's contents
        # leaves the others as they were for the same seed.
        self.rng = random.Random(seed)
        self.org = session.management_client("organizations")
        self.accounts: dict[str, str] = {}
        self.ous: dict[str, str] = {}
        self.scps: dict[str, str] = {}
        self.rcps: dict[str, str] = {}
        self.principals: dict[str, str] = {}
        self.backdates: list[dict[str, Any]] = []
        self.counts: dict[str, int] = dict.fromkeys(
            [
                "iam_users",
                "iam_roles",
                "iam_groups",
                "access_keys",
                "mfa_devices",
                "login_profiles",
                "customer_managed_policies",
                "inline_policies",
                "saml_providers",
                "oidc_providers",
                "password_policies",
            ],
            0,
        )

    def run(self) -> DemoOrg:
        organization = self.org.create_organization(FeatureSet="ALL")["Organization"]
        management_id = organization["MasterAccountId"]
        root_id = self.org.list_roots()["Roots"][0]["Id"]
        self._enable_scps(root_id)
        self.ous[""] = root_id
        for path in layout.OUS:
            parent, _, name = path.rpartition("/")
            self.ous[path] = self.org.create_organizational_unit(ParentId=self.ous[parent], Name=name)[
                "OrganizationalUnit"
            ]["Id"]
        self.accounts[MANAGEMENT.name] = management_id
        self.management_name = self.org.describe_account(AccountId=management_id)["Account"]["Name"]
        self.org.tag_resource(ResourceId=management_id, Tags=_tags(MANAGEMENT.tags))
        for spec in self.specs[1:]:
            self._create_account(spec, root_id)
        self._attach_scps()
        self._attach_rcps(root_id)
        # One account after another: moto draws every generated id from one seeded generator, and
        # calls in parallel would draw in a different order each run.
        for spec in self.specs:
            self._populate_iam(spec, self._iam_client(self.accounts[spec.name], management_id), management_id)
            root = {**layout.ROOT_USER, **layout.ROOT_USER_FLAWS.get(spec.name, {})}
            self.backdates.append({"account_id": self.accounts[spec.name], "root": root})
        emulator.backdate(self.url, self.backdates)
        sso = _IdentityCenter(self)
        sso.run()
        del self.ous[""]
        summary = {
            "accounts": len(self.accounts),
            "organizational_units": len(self.ous),
            "ou_depth": max(path.count("/") + 1 for path in self.ous),
            "service_control_policies": len(self.scps),
            "resource_control_policies": len(self.rcps),
            **self.counts,
            "sso_users": len(sso.users),
            "sso_groups": len(sso.groups),
            "permission_sets": len(sso.permission_sets),
            "account_assignments": sso.assignment_count,
        }
        return DemoOrg(
            seed=self.seed,
            organization_id=organization["Id"],
            root_id=root_id,
            management_account_id=management_id,
            # The governance permission sets are assigned on the management account, the portal's
            # governance account while AWS_GOVERNANCE_ACCOUNT_ID is left empty.
            governance_account_id=management_id,
            accounts={self._aws_name(name): account_id for name, account_id in self.accounts.items()},
            account_owners={self._aws_name(spec.name): spec.owner for spec in self.specs},
            ous=dict(self.ous),
            scps=dict(self.scps),
            rcps=dict(self.rcps),
            sso_instance_arn=sso.instance_arn,
            identity_store_id=sso.identity_store_id,
            sso_users=dict(sso.users),
            sso_groups=dict(sso.groups),
            permission_sets=dict(sso.permission_sets),
            principals=dict(self.principals),
            summary=summary,
        )

    def _aws_name(self, name: str) -> str:
        # AWS names the management account after whoever created the organization (the emulator:
        # "master"), and Organizations cannot rename it, so DemoOrg reports the name AWS reports.
        return self.management_name if name == MANAGEMENT.name else name

    # Organizations ------------------------------------------------------------------------------

    def _enable_scps(self, root_id: str) -> None:
        try:
            self.org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "PolicyTypeAlreadyEnabledException":
                raise

    def _create_account(self, spec: AccountSpec, root_id: str) -> None:
        status = self.org.create_account(AccountName=spec.name, Email=spec.email, Tags=_tags(spec.tags))
        account_id = status["CreateAccountStatus"]["AccountId"]
        self.accounts[spec.name] = account_id
        if spec.ou:
            self.org.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=self.ous[spec.ou])

    def _attach_scps(self) -> None:
        for name, (description, content, targets) in layout.SCPS.items():
            policy_id = self.org.create_policy(
                Name=name, Description=description, Content=content, Type="SERVICE_CONTROL_POLICY"
            )["Policy"]["PolicySummary"]["Id"]
            self.scps[name] = policy_id
            for target in targets:
                if target.startswith("account:"):
                    target_id = self.accounts[target.removeprefix("account:")]
                else:
                    target_id = self.ous[target]
                self.org.attach_policy(PolicyId=policy_id, TargetId=target_id)

    def _attach_rcps(self, root_id: str) -> None:
        # AWS attaches RCPFullAWSAccess to every node when RCPs are enabled (the emulator already has).
        try:
            self.org.enable_policy_type(RootId=root_id, PolicyType="RESOURCE_CONTROL_POLICY")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "PolicyTypeAlreadyEnabledException":
                raise
        for name, (description, content, targets) in layout.RCPS.items():
            policy_id = self.org.create_policy(
                Name=name, Description=description, Content=content, Type="RESOURCE_CONTROL_POLICY"
            )["Policy"]["PolicySummary"]["Id"]
            self.rcps[name] = policy_id
            for target in targets:
                target_id = (
                    self.accounts[target.removeprefix("account:")]
                    if target.startswith("account:")
                    else self.ous[target]
                )
                self.org.attach_policy(PolicyId=policy_id, TargetId=target_id)

    # IAM ------------------------------------------------------------------------------------------

    def _iam_client(self, account_id: str, management_id: str) -> Any:
        if account_id == management_id:
            return session.management_client("iam")
        credentials = session.assume_role(
            account_id=account_id, role_name=layout.ORG_ACCESS_ROLE, session_name="demo-org-builder"
        )
        return session.client_for("iam", credentials)

    def count(self, what: str) -> None:
        self.counts[what] += 1

    def _populate_iam(self, spec: AccountSpec, iam: Any, management_id: str) -> None:
        self.rng = random.Random(f"{self.seed}:{spec.name}")
        account_id = self.accounts[spec.name]
        owner_tags = {"owner": layout.PLATFORM_EMAIL}
        self.role(
            iam,
            account_id,
            settings.AWS_MEMBER_ROLE_NAME,
            layout.trust_account(management_id, external_id=settings.AWS_MEMBER_EXTERNAL_ID),
            policies=layout.MEMBER_READ_POLICIES,
            tags=owner_tags,
            description="Read-only access for the IAM governance portal",
        )
        self.role(
            iam,
            account_id,
            settings.AWS_WRITER_ROLE_NAME,
            layout.trust_account(management_id),
            inline=layout.WRITER_MANAGEMENT_POLICY if account_id == management_id else layout.WRITER_MEMBER_POLICY,
            tags=owner_tags,
            description="Writes by the IAM governance portal, on behalf of a named person",
        )
        if account_id != management_id:
            # CreateAccount made this role, trusting the management account; AWS gives it administrator rights.
            iam.attach_role_policy(RoleName=layout.ORG_ACCESS_ROLE, PolicyArn=managed("AdministratorAccess"))
            self.count("iam_roles")
        fixed = _FIXED_IAM.get(spec.name)
        if fixed is not None:
            fixed(self, iam, account_id)
        self._generated_iam(iam, spec, account_id)
        for name, path in self.referenced.get(spec.name, ()):
            description, content = layout.CUSTOMER_MANAGED_FOR_PERMISSION_SETS[name]
            self.policy(iam, name, content, description, path=path)

    def _generated_iam(self, iam: Any, spec: AccountSpec, account_id: str) -> None:
        """Ordinary clutter, different in every account (`layout.generated_iam`)."""
        clutter = layout.generated_iam(spec, self.seed)
        self.role(
            iam,
            account_id,
            clutter.role_name,
            layout.trust_service(clutter.role_service),
            policies=(managed(clutter.role_policy),),
            tags={"owner": spec.owner},
            last_used_days_ago=clutter.role_last_used_days_ago,
        )
        for user in (clutter.service_user, clutter.console_user):
            if user is None:
                continue
            keys = [_Key(user.key_created_days_ago, user.key_last_used_days_ago)] if user.key_created_days_ago else []
            self.user(
                iam,
                account_id,
                user.name,
                console=user.console,
                mfa=user.mfa,
                keys=keys,
                policies=(managed(user.policy),),
                tags={"owner": spec.owner} if not user.console else None,
                password_last_used_days_ago=user.password_last_used_days_ago,
                created_days_ago=user.created_days_ago,
            )
        if clutter.medium_password_policy:
            self.password_policy(iam, layout.MEDIUM_PASSWORD_POLICY)

    def policy(self, iam: Any, name: str, document: str, description: str = "", *, path: str = "/") -> str:
        arn = iam.create_policy(PolicyName=name, Path=path, PolicyDocument=document, Description=description)["Policy"][
            "Arn"
        ]
        self.count("customer_managed_policies")
        return arn

    def role(
        self,
        iam: Any,
        account_id: str,
        name: str,
        trust: str,
        *,
        policies: tuple[str, ...] = (),
        inline: str = "",
        boundary: str = "",
        tags: dict[str, str] | None = None,
        description: str = "",
        last_used_days_ago: int | None = None,
    ) -> str:
        params: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust, "Description": description}
        if boundary:
            params["PermissionsBoundary"] = boundary
        if tags:
            params["Tags"] = _tags(tags)
        arn = iam.create_role(**params)["Role"]["Arn"]
        for policy_arn in policies:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        if inline:
            iam.put_role_policy(RoleName=name, PolicyName=f"{name}-inline", PolicyDocument=inline)
            self.count("inline_policies")
        if last_used_days_ago is not None:
            self.backdates.append(
                {"account_id": account_id, "role_name": name, "role_last_used_days_ago": last_used_days_ago}
            )
        self.count("iam_roles")
        return arn

    def user(
        self,
        iam: Any,
        account_id: str,
        name: str,
        *,
        console: bool = False,
        mfa: bool = False,
        keys: list[_Key] | tuple[_Key, ...] = (),
        policies: tuple[str, ...] = (),
        inline: str = "",
        groups: tuple[str, ...] = (),
        boundary: str = "",
        tags: dict[str, str] | None = None,
        password_last_used_days_ago: int | None = None,
        created_days_ago: int | None = None,
    ) -> str:
        params: dict[str, Any] = {"UserName": name}
        if boundary:
            params["PermissionsBoundary"] = boundary
        if tags:
            params["Tags"] = _tags(tags)
        arn = iam.create_user(**params)["User"]["Arn"]
        self.count("iam_users")
        if console:
            password = "".join(self.rng.choices(string.ascii_letters + string.digits, k=20)) + "-1a"
            iam.create_login_profile(UserName=name, Password=password, PasswordResetRequired=False)
            self.count("login_profiles")
        if mfa:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(
                UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
            )
            self.count("mfa_devices")
        for policy_arn in policies:
            iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
        if inline:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=inline)
            self.count("inline_policies")
        for group in groups:
            iam.add_user_to_group(GroupName=group, UserName=name)
        oldest = 0
        for key in keys:
            key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            self.count("access_keys")
            if not key.active:
                iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
            item = {
                "account_id": account_id,
                "user_name": name,
                "access_key_id": key_id,
                "key_created_days_ago": key.created_days_ago,
            }
            if key.last_used_days_ago is not None:
                item["key_last_used_days_ago"] = key.last_used_days_ago
            self.backdates.append(item)
            oldest = max(oldest, key.created_days_ago)
        created = created_days_ago if created_days_ago is not None else oldest + self.rng.randint(1, 90)
        user_dates: dict[str, Any] = {"created_days_ago": created}
        if password_last_used_days_ago is not None and console:
            user_dates["password_last_used_days_ago"] = password_last_used_days_ago
        self.backdates.append({"account_id": account_id, "user_name": name, **user_dates})
        return arn

    def group(self, iam: Any, name: str, *, policies: tuple[str, ...] = (), inline: str = "") -> str:
        arn = iam.create_group(GroupName=name)["Group"]["Arn"]
        for policy_arn in policies:
            iam.attach_group_policy(GroupName=name, PolicyArn=policy_arn)
        if inline:
            iam.put_group_policy(GroupName=name, PolicyName=f"{name}-inline", PolicyDocument=inline)
            self.count("inline_policies")
        self.count("iam_groups")
        return arn

    def password_policy(self, iam: Any, policy: dict[str, Any]) -> None:
        iam.update_account_password_policy(**policy)
        self.count("password_policies")


# The named flaws, in fixed accounts, that tests and the demo point at -------------------------------


def _management(b: _Builder, iam: Any, account_id: str) -> None:
    b.password_policy(iam, layout.STRONG_PASSWORD_POLICY)
    b.principals["break_glass_user"] = b.user(
        iam,
        account_id,
        "break-glass-admin",
        console=True,
        mfa=True,
        policies=(managed("AdministratorAccess"),),
        tags={"owner": layout.PLATFORM_EMAIL},
        password_last_used_days_ago=250,
    )


def _shared_network(b: _Builder, iam: Any, account_id: str) -> None:
    b.group(iam, "network-admins", policies=(managed("job-function/NetworkAdministrator"),))
    b.principals["mfa_user"] = b.user(
        iam,
        account_id,
        "alice.ops",
        console=True,
        mfa=True,
        groups=("network-admins",),
        keys=[_Key(20, 1)],
        tags={"owner": layout.OPS_EMAIL},
        password_last_used_days_ago=2,
    )
    metadata = _saml_metadata()
    provider_arn = iam.create_saml_provider(Name=layout.SAML_PROVIDER_NAME, SAMLMetadataDocument=metadata)[
        "SAMLProviderArn"
    ]
    b.count("saml_providers")
    b.principals["saml_provider"] = provider_arn
    b.principals["saml_role"] = b.role(
        iam,
        account_id,
        "SAMLNetworkAdmins",
        layout.trust_saml(provider_arn),
        policies=(managed("AdministratorAccess"),),
        last_used_days_ago=6,
    )


def _security_tooling(b: _Builder, iam: Any, account_id: str) -> None:
    b.principals["admins_group"] = b.group(iam, "security-admins", policies=(managed("AdministratorAccess"),))
    b.user(iam, account_id, "sec-admin", console=True, mfa=True, groups=("security-admins",))


def _payments_prod(b: _Builder, iam: Any, account_id: str) -> None:
    b.password_policy(iam, layout.STRONG_PASSWORD_POLICY)
    shared_network = b.accounts["shared-network"]
    b.principals["cross_account_role"] = b.principals["manager_owned_role"] = b.role(
        iam,
        account_id,
        "CrossAccountDeploy",
        layout.trust_account(shared_network),
        policies=(managed("PowerUserAccess"),),
        tags={"owner": layout.MANAGER_EMAIL},
        last_used_days_ago=1,
    )
    b.principals["external_role_without_external_id"] = b.role(
        iam,
        account_id,
        "VendorAuditRole",
        layout.trust_account(layout.EXTERNAL_VENDOR_ACCOUNT),
        policies=(managed("ReadOnlyAccess"),),
        tags={"owner": layout.MANAGER_EMAIL, "vendor": "example-auditors"},
        last_used_days_ago=45,
    )


def _data_prod(b: _Builder, iam: Any, account_id: str) -> None:
    b.principals["external_role_with_external_id"] = b.role(
        iam,
        account_id,
        "VendorMonitoringRole",
        layout.trust_account(layout.EXTERNAL_MONITORING_ACCOUNT, external_id=layout.MONITORING_EXTERNAL_ID),
        policies=(managed("CloudWatchReadOnlyAccess"),),
        tags={"owner": layout.DATA_EMAIL, "vendor": "example-monitoring"},
        last_used_days_ago=0,
    )


def _payments_dev(b: _Builder, iam: Any, account_id: str) -> None:
    boundary = b.policy(iam, "DeveloperBoundary", layout.DEVELOPER_BOUNDARY, "Ceiling for developer principals")
    s3_everything = b.policy(iam, "S3Everything", layout.S3_EVERYTHING, "Any S3 action on any bucket")
    b.principals["developers_group"] = b.group(iam, "developers", policies=(s3_everything,))
    b.principals["boundary_policy"] = boundary
    b.user(
        iam,
        account_id,
        "jamie.dev",
        console=True,
        mfa=True,
        groups=("developers",),
        keys=[_Key(30, 1)],
        password_last_used_days_ago=1,
    )
    b.principals["two_keys_user"] = b.user(
        iam,
        account_id,
        "lee.dev",
        console=True,
        groups=("developers",),
        keys=[_Key(200, 120), _Key(10, None)],
        boundary=boundary,
        password_last_used_days_ago=95,
    )
    b.principals["manager_owned_user"] = b.user(
        iam,
        account_id,
        "payments-ci",
        keys=[_Key(95, 0)],
        policies=(s3_everything,),
        tags={"owner": layout.MANAGER_EMAIL},
    )
    provider_arn = iam.create_open_id_connect_provider(
        Url=f"https://{layout.OIDC_PROVIDER_HOST}",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )["OpenIDConnectProviderArn"]
    b.count("oidc_providers")
    b.principals["oidc_provider"] = provider_arn
    b.principals["oidc_role"] = b.principals["bounded_role"] = b.role(
        iam,
        account_id,
        "GitHubActionsDeploy",
        layout.trust_oidc(provider_arn, subject="repo:example/payments:ref:refs/heads/main"),
        policies=(managed("PowerUserAccess"),),
        boundary=boundary,
        tags={"owner": layout.MANAGER_EMAIL},
        last_used_days_ago=0,
    )
    b.principals["oidc_role_any_repo"] = b.role(
        iam,
        account_id,
        "GitHubActionsAnyRepo",
        layout.trust_oidc(provider_arn),
        policies=(managed("AdministratorAccess"),),
        last_used_days_ago=12,
    )


def _data_dev(b: _Builder, iam: Any, account_id: str) -> None:
    b.group(iam, "data-engineers", inline=layout.S3_EVERYTHING)
    b.principals["wildcard_inline_user"] = b.user(
        iam,
        account_id,
        "bob.data",
        console=True,
        inline=layout.EVERYTHING,
        groups=("data-engineers",),
        keys=[_Key(150, 2)],
        password_last_used_days_ago=3,
    )
    b.user(iam, account_id, "carol.data", console=True, mfa=True, groups=("data-engineers",))
    boundary = b.policy(iam, "DataPipelineBoundary", layout.DEVELOPER_BOUNDARY)
    b.role(
        iam,
        account_id,
        "data-pipeline",
        layout.trust_service("glue.amazonaws.com"),
        inline=layout.S3_EVERYTHING,
        boundary=boundary,
        tags={"owner": layout.DATA_EMAIL},
        last_used_days_ago=0,
    )


def _legacy_billing(b: _Builder, iam: Any, account_id: str) -> None:
    b.password_policy(iam, layout.WEAK_PASSWORD_POLICY)
    b.principals["admin_user_without_mfa"] = b.user(
        iam,
        account_id,
        "legacy-admin",
        console=True,
        policies=(managed("AdministratorAccess"),),
        keys=[_Key(900, 2)],
        password_last_used_days_ago=400,
    )
    b.principals["unused_key_user"] = b.user(
        iam,
        account_id,
        "billing-export",
        keys=[_Key(500, None), _Key(380, 370, active=False)],
        inline=layout.S3_EVERYTHING,
        tags={"owner": layout.OPS_EMAIL},
    )
    b.principals["trust_everyone_role"] = b.role(
        iam, account_id, "LegacyCrossAccess", layout.trust_everyone(), inline=layout.READ_BILLING_EXPORTS
    )
    reports = b.policy(iam, "BillingReportsRead", layout.BILLING_REPORTS_READ, "Read the monthly billing reports")
    b.principals["unused_role"] = b.role(
        iam,
        account_id,
        "LegacyReportingRole",
        layout.trust_service("lambda.amazonaws.com"),
        policies=(reports,),
        tags={"owner": layout.OPS_EMAIL},
        last_used_days_ago=200,
    )
    b.backdates.append({"account_id": account_id, "role_name": "LegacyReportingRole", "created_days_ago": 400})


def _sandbox_maria(b: _Builder, iam: Any, account_id: str) -> None:
    b.user(
        iam,
        account_id,
        "maria.sandbox",
        console=True,
        policies=(managed("AdministratorAccess"),),
        keys=[_Key(60, 60)],
        tags={"owner": layout.MANAGER_EMAIL},
        password_last_used_days_ago=60,
    )


_FIXED_IAM = {
    "management": _management,
    "shared-network": _shared_network,
    "security-tooling": _security_tooling,
    "payments-prod": _payments_prod,
    "data-prod": _data_prod,
    "payments-dev": _payments_dev,
    "data-dev": _data_dev,
    "legacy-billing": _legacy_billing,
    "sandbox-maria": _sandbox_maria,
}


def _saml_metadata() -> str:
    # AWS only accepts metadata of 1,000 characters or more; this is the shape an IdP exports.
    certificate = "MIIC" + "A" * 900 + "=="
    return (
        '<?xml version="1.0"?>'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml">'
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f"<ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data>"
        "</ds:KeyInfo></md:KeyDescriptor>"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://idp.example.com/saml/sso"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


# Identity Center --------------------------------------------------------------------------------


def _managers_first(users: list[layout.SsoUser]) -> list[layout.SsoUser]:
    """Users ordered so that each one's manager comes before them: the enterprise extension names
    the manager by user id, which exists only once the manager is created."""
    ordered: list[layout.SsoUser] = []
    placed: set[str] = set()
    names = {u.user_name for u in users}
    pending = list(users)
    while pending:
        ready = [u for u in pending if not u.manager or u.manager in placed or u.manager not in names]
        if not ready:  # a cycle: place the rest without waiting
            ready = pending
        ordered += ready
        placed.update(u.user_name for u in ready)
        pending = [u for u in pending if u.user_name not in placed]
    return ordered


class _IdentityCenter:
    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.sso = session.management_client("sso-admin")
        self.store = session.management_client("identitystore")
        self.layout = builder.sso_layout
        self.users: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        self.permission_sets: dict[str, str] = {}
        self.assignment_count = 0
        self.instance_arn = ""
        self.identity_store_id = ""

    def run(self) -> None:
        instance = self.sso.list_instances()["Instances"][0]
        self.instance_arn = instance["InstanceArn"]
        self.identity_store_id = instance["IdentityStoreId"]
        for user in _managers_first(self.layout.users):
            extensions = {}
            if user.manager in self.users:
                extensions = {ENTERPRISE_EXTENSION: {"manager": {"value": self.users[user.manager]}}}
            self.users[user.user_name] = self.store.create_user(
                IdentityStoreId=self.identity_store_id,
                UserName=user.user_name,
                DisplayName=user.display_name,
                Name={"GivenName": user.given_name, "FamilyName": user.family_name, "Formatted": user.display_name},
                Emails=[{"Value": user.email, "Type": "work", "Primary": True}],
                **({"Extensions": extensions} if extensions else {}),
            )["UserId"]
        for name, (description, members) in self.layout.groups.items():
            group_id = self.store.create_group(
                IdentityStoreId=self.identity_store_id, DisplayName=name, Description=description
            )["GroupId"]
            self.groups[name] = group_id
            for member in members:
                self.store.create_group_membership(
                    IdentityStoreId=self.identity_store_id,
                    GroupId=group_id,
                    MemberId={"UserId": self.users[member]},
                )
        for name, (description, document) in layout.GOVERNANCE_PERMISSION_SET_POLICIES.items():
            arn = self._permission_set(name, description)
            self.sso.put_inline_policy_to_permission_set(
                InstanceArn=self.instance_arn, PermissionSetArn=arn, InlinePolicy=document
            )
        for name, (description, policy_arn) in layout.ORDINARY_PERMISSION_SETS.items():
            arn = self._permission_set(name, description)
            self.sso.attach_managed_policy_to_permission_set(
                InstanceArn=self.instance_arn, PermissionSetArn=arn, ManagedPolicyArn=policy_arn
            )
            for reference_name, path in layout.PERMISSION_SET_CUSTOMER_MANAGED.get(name, ()):
                self.sso.attach_customer_managed_policy_reference_to_permission_set(
                    InstanceArn=self.instance_arn,
                    PermissionSetArn=arn,
                    CustomerManagedPolicyReference={"Name": reference_name, "Path": path},
                )
            if name in layout.PERMISSION_SET_BOUNDARIES:
                self.sso.put_permissions_boundary_to_permission_set(
                    InstanceArn=self.instance_arn,
                    PermissionSetArn=arn,
                    PermissionsBoundary=layout.PERMISSION_SET_BOUNDARIES[name],
                )
        accounts = self.builder.accounts
        for assignment in self.layout.assignments:
            principal_id = (
                self.users[assignment.principal]
                if assignment.principal_type == "USER"
                else self.groups[assignment.principal]
            )
            self.sso.create_account_assignment(
                InstanceArn=self.instance_arn,
                TargetId=accounts[assignment.account],
                TargetType="AWS_ACCOUNT",
                PermissionSetArn=self.permission_sets[assignment.permission_set],
                PrincipalType=assignment.principal_type,
                PrincipalId=principal_id,
            )
            self.assignment_count += 1

    def _permission_set(self, name: str, description: str) -> str:
        arn = self.sso.create_permission_set(
            InstanceArn=self.instance_arn,
            Name=name,
            Description=description,
            SessionDuration=layout.PERMISSION_SET_SESSIONS.get(
                name, "PT4H" if name.startswith("Governance") else "PT8H"
            ),
        )["PermissionSet"]["PermissionSetArn"]
        self.permission_sets[name] = arn
        return arn
