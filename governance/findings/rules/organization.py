"""Organization guardrails and Identity Center: SCP baseline, OU placement, administrator permission sets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from governance.findings.analysis import PLACEHOLDER_ACCOUNT
from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.findings.rules.context import Context
from governance.inventory.models import (
    AccountAssignment,
    GroupMembership,
    PermissionSet,
    PermissionSetPolicy,
    Policy,
    PolicyKind,
)
from governance.policy import Outcome, PolicySet, Request, parse_policy

SCP_GUIDE = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples.html"
OU_GUIDE = "https://docs.aws.amazon.com/whitepapers/latest/organizing-your-aws-environment/organizing-your-aws-environment.html"
SSO_GUIDE = "https://docs.aws.amazon.com/singlesignon/latest/userguide/permissionsetsconcept.html"
PROBES = {
    "root": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:root",
    "role": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/baseline-probe",
    "user": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:user/baseline-probe",
}
DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


@cache
def _allow_everything():
    return parse_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        name="(any identity policy)",
    )


def _members(ctx: Context):
    return [a for a in ctx.accounts.values() if not a.is_management]


@rule(
    id="scp.baseline_missing",
    title="An account's SCPs lack the organization's baseline",
    severity=Severity.HIGH,
    rationale="Guardrails only protect the accounts they reach; an account outside them can leave the "
    "organization, use its root user or do whatever the baseline forbids elsewhere.",
    remediation=Remediation(
        console="AWS Organizations > Policies > Service control policies: attach the baseline SCPs to the root or "
        "to an OU above the account (or move the account into such an OU).",
        cli="aws organizations attach-policy --policy-id p-... --target-id ou-...  |  aws organizations "
        "move-account --account-id ID --source-parent-id r-... --destination-parent-id ou-...",
    ),
    references=(SCP_GUIDE,),
    organization_inputs=True,
)
def baseline_missing(ctx: Context) -> Iterator[Hit]:
    baseline = ctx.baseline
    required_names = [str(n) for n in baseline.required_scp_names or []]
    denies = [d for d in baseline.required_denies or [] if isinstance(d, dict) and d.get("action")]
    if not required_names and not denies:
        return
    for account in _members(ctx):
        in_effect = {name for level in ctx.scp_levels(account) for _pk, name, _doc in level}
        problems = [f"SCP {name} is not in effect" for name in required_names if name not in in_effect]
        levels, error = ctx.parsed_scp_levels(account)
        if error:
            problems.append(f"cannot be judged: {error}")
        else:
            policy_set = PolicySet(identity_policies=[_allow_everything()], scps=levels)
            for deny in denies:
                caller = PROBES.get(str(deny.get("principal", "role")), PROBES["role"])
                decision = policy_set.evaluate(
                    Request(
                        principal=caller,
                        action=str(deny["action"]),
                        context={"aws:RequestedRegion": "us-east-1"},
                        now=ctx.now,
                    )
                )
                if decision.outcome is Outcome.ALLOW:
                    problems.append(f"{deny['action']} is not denied for the {deny.get('principal', 'role')}")
        if problems:
            yield Hit(
                resource_type=ResourceType.ACCOUNT,
                resource_arn=account.arn,
                resource_name=account.name,
                message=f"{account.name}: {'; '.join(problems)}.",
                evidence={"problems": problems, "scps_in_effect": sorted(in_effect)},
                account_id=account.pk,
            )


def _guardrail(document) -> bool:
    """Whether an SCP restricts anything (FullAWSAccess and its copies restrict nothing)."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements or []:
        if not isinstance(statement, dict):
            return True
        if statement.get("Effect") != "Allow" or statement.get("Action") not in ("*", ["*"]):
            return True
        if statement.get("Resource") not in ("*", ["*"]) or "Condition" in statement:
            return True
    return False


@rule(
    id="scp.root_only_full_access",
    title="An account has no guardrail beyond the organization root's",
    severity=Severity.MEDIUM,
    rationale="Below the root, every OU and the account itself pass everything through (FullAWSAccess or nothing); "
    "typically an account that joined and was never placed in an OU, so the guardrails its peers get miss it.",
    remediation=Remediation(
        console="AWS Organizations > AWS accounts: move the account into the OU its workload belongs to.",
        cli="aws organizations move-account --account-id ID --source-parent-id r-... --destination-parent-id ou-...",
    ),
    references=(OU_GUIDE, SCP_GUIDE),
    organization_inputs=True,
)
def root_only_full_access(ctx: Context) -> Iterator[Hit]:
    for account in _members(ctx):
        levels = ctx.scp_levels(account)
        below_root = levels[1:]
        if any(_guardrail(document) for level in below_root for _pk, _name, document in level):
            continue
        where = "directly under the root" if account.parent and account.parent.is_root else "in an OU without SCPs"
        yield Hit(
            resource_type=ResourceType.ACCOUNT,
            resource_arn=account.arn,
            resource_name=account.name,
            message=f"{account.name} sits {where}: only the root's SCPs restrict it.",
            evidence={"scps_by_level": [[name for _pk, name, _doc in level] for level in levels]},
            account_id=account.pk,
        )


def _admin_permission_sets(ctx: Context) -> dict[int, list[str]]:
    """Permission set pk -> the names of its policies that allow "*" on "*"."""
    managed = list(PermissionSetPolicy.objects.present().values_list("permission_set_id", "policy_id", "policy__name"))
    inline = list(
        Policy.objects.present()
        .filter(kind=PolicyKind.PERMISSION_SET_INLINE, permission_set__isnull=False)
        .values_list("permission_set_id", "id", "name")
    )
    facts = ctx.facts_for(Policy.objects.filter(pk__in={pk for _s, pk, _n in managed + inline}))
    found: dict[int, list[str]] = {}
    for set_pk, policy_pk, name in managed + inline:
        if policy_pk in facts and facts[policy_pk].admin:
            found.setdefault(set_pk, []).append(name)
    return found


def _set_hit(permission_set: PermissionSet, message: str, evidence: dict) -> Hit:
    return Hit(
        resource_type=ResourceType.PERMISSION_SET,
        resource_arn=permission_set.arn,
        resource_name=permission_set.name,
        message=message,
        evidence=evidence,
        permission_set_id=permission_set.pk,
    )


@rule(
    id="permission_set.admin_overassigned",
    title="An administrator permission set is held by too many people",
    severity=Severity.MEDIUM,
    rationale="Every standing administrator is one compromised laptop from a full compromise; keep them few and "
    "grant administration just in time.",
    remediation=Remediation(
        console="IAM Identity Center > AWS accounts: remove assignments of the set that nobody needs standing; "
        "grant it through just-in-time requests instead.",
        cli="aws sso-admin delete-account-assignment --instance-arn ARN --permission-set-arn ARN --target-id ID "
        "--target-type AWS_ACCOUNT --principal-type USER|GROUP --principal-id ID",
    ),
    references=(SSO_GUIDE,),
    per_account=False,
)
def admin_overassigned(ctx: Context) -> Iterator[Hit]:
    admin_sets = _admin_permission_sets(ctx)
    if not admin_sets:
        return
    limit = ctx.baseline.admin_permission_set_max_principals
    assignments = AccountAssignment.objects.present().filter(permission_set_id__in=list(admin_sets))
    holders: dict[int, set[int]] = {}
    via_groups: dict[int, set[int]] = {}
    for set_pk, principal_pk, kind in assignments.values_list("permission_set_id", "principal_id", "principal_type"):
        if principal_pk is None:
            continue
        (via_groups if kind == "GROUP" else holders).setdefault(set_pk, set()).add(principal_pk)
    group_pks = {g for groups in via_groups.values() for g in groups}
    members: dict[int, set[int]] = {}
    for group_pk, member_pk in (
        GroupMembership.objects.present().filter(group_id__in=group_pks).values_list("group_id", "member_id")
    ):
        members.setdefault(group_pk, set()).add(member_pk)
    for permission_set in PermissionSet.objects.present().filter(pk__in=list(admin_sets)).order_by("name"):
        people = set(holders.get(permission_set.pk, set()))
        for group_pk in via_groups.get(permission_set.pk, set()):
            people |= members.get(group_pk, set())
        if len(people) > limit:
            yield _set_hit(
                permission_set,
                f"{permission_set.name} grants administrator access to {len(people)} people (the limit is {limit}).",
                {"administrator_policies": admin_sets[permission_set.pk], "people": len(people), "limit": limit},
            )


def session_hours(duration: str) -> float | None:
    """An ISO 8601 session duration ("PT8H", "PT1H30M") in hours, or None when it is not one."""
    match = DURATION.match(duration or "")
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours + minutes / 60 + seconds / 3600


@rule(
    id="permission_set.long_session",
    title="A permission set's sessions last too long",
    severity=Severity.LOW,
    rationale="A session outlives the reason it was started; a stolen session cookie or credential works until it "
    "expires.",
    remediation=Remediation(
        console="IAM Identity Center > Permission sets > the set > Edit: shorten the session duration.",
        cli="aws sso-admin update-permission-set --instance-arn ARN --permission-set-arn ARN --session-duration PT4H",
    ),
    references=(SSO_GUIDE, "https://docs.aws.amazon.com/singlesignon/latest/userguide/howtosessionduration.html"),
    per_account=False,
)
def long_session(ctx: Context) -> Iterator[Hit]:
    limit = ctx.baseline.max_session_hours
    for permission_set in PermissionSet.objects.present().exclude(session_duration="").order_by("name"):
        hours = session_hours(permission_set.session_duration)
        if hours is not None and hours > limit:
            yield _set_hit(
                permission_set,
                f"{permission_set.name} sessions last {permission_set.session_duration} (over {limit} hours).",
                {"session_duration": permission_set.session_duration, "limit_hours": limit},
            )
