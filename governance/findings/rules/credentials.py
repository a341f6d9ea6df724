"""Credentials: the root user, IAM users' passwords, MFA and access keys (from the credential report)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q

from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context
from governance.findings.rules.context import day as _day
from governance.inventory.models import (
    AccessKey,
    AccessKeyStatus,
    AccountAssignment,
    CredentialReportRow,
    Entitlement,
    EntitlementVia,
    Principal,
    PrincipalKind,
)

UNUSED_DAYS = 90
KEY_MAX_AGE_DAYS = 90
CREDENTIALS_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html"
ROOT_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practices.html"


def _root_rows(ctx: Context):
    return ctx.scoped(CredentialReportRow.objects.present().filter(is_root=True)).select_related("account")


@rule(
    id="root.mfa_missing",
    title="The root user has no MFA",
    severity=Severity.CRITICAL,
    rationale="The root user can do anything in the account, including closing it; a password alone is one "
    "phishing e-mail away from losing the account.",
    remediation=Remediation(
        console="Sign in as the root user, open Security credentials, and assign a hardware or passkey MFA device.",
        cli="There is no API for root MFA: use the console, or remove root credentials centrally with "
        "`aws iam enable-organizations-root-credentials-management`.",
    ),
    references=(ROOT_GUIDE, "https://docs.aws.amazon.com/IAM/latest/UserGuide/enable-virt-mfa-for-root.html"),
)
def root_mfa_missing(ctx: Context) -> Iterator[Hit]:
    for row in _root_rows(ctx).filter(mfa_active=False):
        yield Hit(
            resource_type=ResourceType.ROOT_USER,
            resource_arn=row.arn,
            resource_name=f"root user of {row.account.name}",
            message=f"The root user of account {row.account.account_id} has no MFA device.",
            evidence={"credential_report": {"user": row.user_name, "arn": row.arn, "mfa_active": False}},
            account_id=row.account_id,
        )


@rule(
    id="root.access_keys",
    title="The root user has access keys",
    severity=Severity.CRITICAL,
    rationale="Root access keys carry unlimited, unrestrictable authority and no SCP applies to the management "
    "account's root; nothing needs them.",
    remediation=Remediation(
        console="Sign in as the root user, open Security credentials, and delete every access key.",
        cli="As the root user: `aws iam delete-access-key --access-key-id AKIA...`.",
    ),
    references=(ROOT_GUIDE,),
)
def root_access_keys(ctx: Context) -> Iterator[Hit]:
    for row in _root_rows(ctx).filter(Q(access_key_1_active=True) | Q(access_key_2_active=True)):
        keys = [n for n, active in ((1, row.access_key_1_active), (2, row.access_key_2_active)) if active]
        yield Hit(
            resource_type=ResourceType.ROOT_USER,
            resource_arn=row.arn,
            resource_name=f"root user of {row.account.name}",
            message=f"The root user of account {row.account.account_id} has {len(keys)} active access key"
            f"{'s' if len(keys) > 1 else ''}.",
            evidence={
                "credential_report": {
                    "user": row.user_name,
                    "access_key_1_active": row.access_key_1_active,
                    "access_key_1_last_rotated": _day(row.access_key_1_last_rotated),
                    "access_key_2_active": row.access_key_2_active,
                    "access_key_2_last_rotated": _day(row.access_key_2_last_rotated),
                }
            },
            account_id=row.account_id,
        )


def _users(ctx: Context):
    return ctx.scoped(Principal.objects.present().filter(kind=PrincipalKind.IAM_USER))


def _user_hit(user: Any, message: str, evidence: dict, key: str = "") -> Hit:
    return Hit(
        resource_type=ResourceType.PRINCIPAL,
        resource_arn=user.arn,
        resource_name=user.name,
        message=message,
        evidence=evidence,
        account_id=user.account_id,
        principal_id=user.pk,
        key=key,
    )


# Rules read plain named rows (values_list), not model instances: an organization has hundreds of
# thousands of users and keys, and building a model per row was most of an evaluation's time.
USER_FIELDS = ("pk", "arn", "name", "account_id", "password_last_used", "created")
KEY_FIELDS = (
    "slot",
    "status",
    "created",
    "last_used_date",
    "account_id",
    "principal_id",
    "principal__arn",
    "principal__name",
)


@rule(
    id="user.console_without_mfa",
    title="An IAM user signs in to the console without MFA",
    severity=Severity.HIGH,
    rationale="A console password without MFA is the most common way accounts are taken over.",
    remediation=Remediation(
        console="IAM > Users > the user > Security credentials > Assign MFA device (or remove the console password).",
        cli="aws iam create-virtual-mfa-device ... && aws iam enable-mfa-device --user-name USER ...; "
        "or aws iam delete-login-profile --user-name USER",
    ),
    references=(CREDENTIALS_GUIDE, "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html"),
)
def console_without_mfa(ctx: Context) -> Iterator[Hit]:
    for user in _users(ctx).filter(password_enabled=True, mfa_enabled=False).values_list(*USER_FIELDS, named=True):
        yield _user_hit(
            user,
            f"{user.name} has a console password and no MFA device.",
            {"credential_report": {"password_enabled": True, "mfa_active": False}},
        )


def _active_keys(ctx: Context):
    return ctx.scoped(AccessKey.objects.present().filter(status=AccessKeyStatus.ACTIVE))


def _key_hit(key: Any, message: str, evidence: dict) -> Hit:
    return Hit(
        resource_type=ResourceType.PRINCIPAL,
        resource_arn=key.principal__arn,
        resource_name=key.principal__name,
        message=message,
        evidence=evidence,
        account_id=key.account_id,
        principal_id=key.principal_id,
        key=f"key{key.slot}",
    )


@rule(
    id="user.password_and_keys",
    title="An IAM user has both a console password and an active access key",
    severity=Severity.MEDIUM,
    rationale="People sign in to the console, workloads use keys; one identity with both is a person with a "
    "long-lived key or a workload with a password, and either doubles what a leak exposes.",
    remediation=Remediation(
        console="Decide what the user is for; remove the console password (a workload) or the access keys (a person, "
        "who should use Identity Center or short-lived credentials).",
        cli="aws iam delete-login-profile --user-name USER  |  aws iam delete-access-key --user-name USER "
        "--access-key-id AKIA...",
    ),
    references=(CREDENTIALS_GUIDE,),
)
def password_and_keys(ctx: Context) -> Iterator[Hit]:
    keyed = AccessKey.objects.present().filter(principal_id=OuterRef("pk"), status=AccessKeyStatus.ACTIVE)
    for user in _users(ctx).filter(password_enabled=True).filter(Exists(keyed)).values_list(*USER_FIELDS, named=True):
        yield _user_hit(
            user,
            f"{user.name} has a console password and an active access key.",
            {"credential_report": {"password_enabled": True, "active_access_key": True}},
        )


@rule(
    id="user.key_older_than_90d",
    title="An active access key is older than 90 days",
    severity=Severity.MEDIUM,
    rationale="The longer a key lives, the more places it has been copied to; rotate keys at least every 90 days, "
    "or better, replace them with roles.",
    remediation=Remediation(
        console="IAM > Users > the user > Security credentials: create a new key, switch the workload to it, "
        "deactivate the old one, then delete it.",
        cli="aws iam create-access-key --user-name USER; aws iam update-access-key --user-name USER "
        "--access-key-id OLD --status Inactive; aws iam delete-access-key --user-name USER --access-key-id OLD",
    ),
    references=(
        CREDENTIALS_GUIDE,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html#rotating_access_keys_console",
    ),
)
def key_older_than_90d(ctx: Context) -> Iterator[Hit]:
    cutoff = ctx.now - timedelta(days=KEY_MAX_AGE_DAYS)
    for key in _active_keys(ctx).filter(created__lt=cutoff).values_list(*KEY_FIELDS, named=True):
        yield _key_hit(
            key,
            f"Access key {key.slot} of {key.principal__name} was created on {_day(key.created)}.",
            {"access_key": {"slot": key.slot, "status": key.status, "created": _day(key.created)}},
        )


@rule(
    id="user.credential_unused_90d",
    title="A password or access key has not been used for 90 days",
    severity=Severity.MEDIUM,
    rationale="A credential nobody uses can only be used by someone who should not; remove it.",
    remediation=Remediation(
        console="IAM > Users > the user > Security credentials: deactivate the unused key or remove the console "
        "password.",
        cli="aws iam update-access-key --user-name USER --access-key-id AKIA... --status Inactive  |  "
        "aws iam delete-login-profile --user-name USER",
    ),
    references=(
        CREDENTIALS_GUIDE,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_finding-unused.html",
    ),
)
def credential_unused_90d(ctx: Context) -> Iterator[Hit]:
    cutoff = ctx.now - timedelta(days=UNUSED_DAYS)
    stale_key = Q(last_used_date__lt=cutoff) | Q(last_used_date__isnull=True, created__lt=cutoff)
    for key in _active_keys(ctx).filter(stale_key).values_list(*KEY_FIELDS, named=True):
        used = _day(key.last_used_date)
        yield _key_hit(
            key,
            f"Access key {key.slot} of {key.principal__name} was "
            + (f"last used on {used}." if used else f"never used since {_day(key.created)}."),
            {"access_key": {"slot": key.slot, "created": _day(key.created), "last_used": used}},
        )
    stale_password = Q(password_last_used__lt=cutoff) | Q(password_last_used__isnull=True, created__lt=cutoff)
    for user in _users(ctx).filter(password_enabled=True).filter(stale_password).values_list(*USER_FIELDS, named=True):
        used = _day(user.password_last_used)
        yield _user_hit(
            user,
            f"The console password of {user.name} was "
            + (f"last used on {used}." if used else f"never used since {_day(user.created)}."),
            {"password": {"last_used": used, "user_created": _day(user.created)}},
            key="password",
        )


@rule(
    id="user.in_identity_center_account",
    title="A person signs in as an IAM user where Identity Center is available",
    severity=Severity.LOW,
    rationale="People should reach accounts through Identity Center (temporary credentials, one place to revoke); "
    "an IAM user with a console password in an account Identity Center already serves is a second, long-lived "
    "way in.",
    remediation=Remediation(
        console="Give the person an Identity Center assignment on the account, then delete the IAM user's console "
        "password (keep an emergency break-glass user only if documented and suppressed).",
        cli="aws sso-admin create-account-assignment ...; aws iam delete-login-profile --user-name USER",
    ),
    references=(CREDENTIALS_GUIDE, "https://docs.aws.amazon.com/singlesignon/latest/userguide/what-is.html"),
    organization_inputs=True,
)
def user_in_identity_center_account(ctx: Context) -> Iterator[Hit]:
    assigned = AccountAssignment.objects.present().filter(account_id=OuterRef("account_id"))
    for user in (
        _users(ctx).filter(password_enabled=True).filter(Exists(assigned)).values_list(*USER_FIELDS, named=True)
    ):
        yield _user_hit(
            user,
            f"{user.name} signs in with an IAM password in an account that Identity Center assignments reach.",
            {"credential_report": {"password_enabled": True}, "identity_center": {"account_has_assignments": True}},
        )


@rule(
    id="user.direct_policy",
    title="Policies are attached to an IAM user instead of a group or role",
    severity=Severity.LOW,
    rationale="Permissions granted user by user drift apart and are hard to review; grant them through groups "
    "(or roles) so people with the same job hold the same access.",
    remediation=Remediation(
        console="Put the user in a group that holds the policy, then detach the policy from the user "
        "(IAM > Users > the user > Permissions).",
        cli="aws iam add-user-to-group --group-name GROUP --user-name USER; "
        "aws iam detach-user-policy --user-name USER --policy-arn ARN  |  aws iam delete-user-policy ...",
    ),
    references=(CREDENTIALS_GUIDE, "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_groups.html"),
)
def direct_policy(ctx: Context) -> Iterator[Hit]:
    held = (
        ctx.scoped(Entitlement.objects.present())
        .filter(principal__kind=PrincipalKind.IAM_USER, via__in=[EntitlementVia.DIRECT, EntitlementVia.INLINE])
        .values_list("principal_id", "principal__arn", "principal__name", "account_id", "policy__name", "via")
        .order_by("principal_id", "policy__name")
    )
    by_user: dict[int, list] = {}
    for principal_id, arn, name, account_id, policy_name, via in held:
        by_user.setdefault(principal_id, [arn, name, account_id, []])[3].append({"policy": policy_name, "via": via})
    for principal_id, (arn, name, account_id, policies) in by_user.items():
        yield Hit(
            resource_type=ResourceType.PRINCIPAL,
            resource_arn=arn,
            resource_name=name,
            message=f"{name} holds {len(policies)} polic{'ies' if len(policies) > 1 else 'y'} directly.",
            evidence={"policies": policies},
            account_id=account_id,
            principal_id=principal_id,
        )
