"""Account-wide IAM settings: the password policy."""

from __future__ import annotations

from collections.abc import Iterator

from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context
from governance.inventory.models import PasswordPolicy

MIN_LENGTH = 14


def weaknesses(policy: PasswordPolicy | None) -> list[str]:
    """Why a password policy falls short (CIS AWS Foundations 3.0, 1.8 and 1.9), or [] when it does not."""
    if policy is None or not policy.configured:
        return ["the account has no password policy (AWS defaults apply)"]
    found = []
    if (policy.minimum_length or 0) < MIN_LENGTH:
        found.append(f"minimum length {policy.minimum_length or 'unset'} is under {MIN_LENGTH}")
    if not policy.reuse_prevention:
        found.append("password reuse is not prevented")
    if not (policy.require_symbols or policy.require_numbers or policy.require_uppercase or policy.require_lowercase):
        found.append("no character classes are required")
    return found


@rule(
    id="account.password_policy_weak",
    title="The account's password policy is weak or missing",
    severity=Severity.MEDIUM,
    rationale="Where IAM users have console passwords, short and reusable passwords are guessed and replayed.",
    remediation=Remediation(
        console="IAM > Account settings > Password policy: at least 14 characters, prevent reuse of the last 24.",
        cli="aws iam update-account-password-policy --minimum-password-length 14 --password-reuse-prevention 24 "
        "--require-symbols --require-numbers --require-uppercase-characters --require-lowercase-characters",
    ),
    references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html",),
)
def password_policy_weak(ctx: Context) -> Iterator[Hit]:
    policies = {p.account_id: p for p in ctx.scoped(PasswordPolicy.objects.filter(removed_at__isnull=True))}
    for account in ctx.accounts.values():
        policy = policies.get(account.pk)
        if policy is None and account.pk not in policies and not account.iam_digest:
            continue  # never synced: nothing is known about it yet
        found = weaknesses(policy)
        if found:
            yield Hit(
                resource_type=ResourceType.ACCOUNT,
                resource_arn=account.arn,
                resource_name=account.name,
                message=f"The password policy of {account.name}: {'; '.join(found)}.",
                evidence={"password_policy": policy.raw if policy and policy.configured else None, "problems": found},
                account_id=account.pk,
            )
