"""The gate in front of every AWS write: would AWS let this person do it themselves?

Before the portal writes to AWS on someone's behalf (an SCP change, a remediation, a JIT grant)
it evaluates that person's own Identity Center permission sets on the target account (their
AWS managed and inline policies, the customer managed policies they reference resolved in that
account, their permissions boundary, and the SCPs in effect there) for the exact action and
resource, with the offline evaluator. A person may switch into any one of their permission sets,
so the write is allowed when one of them allows it; otherwise it is refused naming the deciding
statement ("explicit deny by ...", the boundary that does not allow it) or saying that no
statement allowed it. A set whose boundary the last sync could not read allows nothing here
(fail closed).

Allowed writes run through the writer role (governance/aws/writer.py) with `SourceIdentity` set to the person's linked
Identity Center user name (so CloudTrail names the human) and session tags naming the portal
user and action; the write is audited with the AWS request id. Refusals are audited too.

    result = perform_write(
        actor=request.user, action="organizations:UpdatePolicy", resource=policy_arn,
        account_id=management_account_id, request=request,
        call=lambda clients: clients("organizations").update_policy(PolicyId=..., Content=...),
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q

from governance.aws.errors import AwsError
from governance.policy import (
    Decision,
    Outcome,
    Policy,
    PolicyError,
    PolicyType,
    Request,
    evaluate,
    parse_policy,
)


class WriteRefusedError(PermissionDenied):
    """The actor's own AWS permissions would not allow this write; `reason` says why."""

    def __init__(self, reason: str, decisions: tuple[tuple[str, Decision], ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.decisions = decisions


@dataclass(frozen=True)
class WriteCheck:
    """The outcome of evaluating each of the actor's permission sets on the target account."""

    allowed: bool
    reason: str
    aws_user_name: str = ""
    permission_set: str = ""  # the set that allows it, when allowed
    decisions: tuple[tuple[str, Decision], ...] = field(default=())


def _scp_levels(account_id: str) -> tuple[list[list[Policy]], bool]:
    """The SCPs in effect on the account, root first; and whether it is the management account."""
    from governance.inventory.models import Account, OrganizationalUnit, PolicyKind, ScpAttachment

    account = Account.objects.present().filter(account_id=account_id).select_related("parent").first()
    if account is None:
        return [], False
    if account.is_management:
        return [], True
    unit_ids = [p for p in (account.parent.path if account.parent else "").split("/") if p]
    units = {u.ou_id: u.pk for u in OrganizationalUnit.objects.filter(ou_id__in=unit_ids)}
    attachments = (
        ScpAttachment.objects.present()
        .select_related("policy")
        .filter(policy__removed_at__isnull=True, policy__kind=PolicyKind.SCP)
    )
    by_unit: dict[int, list[Policy]] = {}
    for_account: list[Policy] = []
    for attachment in attachments.filter(unit_id__in=units.values()) | attachments.filter(account=account):
        if attachment.policy.document is None:
            continue
        parsed = parse_policy(attachment.policy.document, name=attachment.policy.name)
        if attachment.account_id == account.pk:
            for_account.append(parsed)
        else:
            by_unit.setdefault(attachment.unit_id, []).append(parsed)
    levels = [by_unit.get(units[ou], []) for ou in unit_ids if ou in units]
    return [*levels, for_account], False


@dataclass(frozen=True)
class PermissionSetGrant:
    """What one permission set grants on the account, as the evaluator needs it.

    `policies` are its AWS managed, inline and (resolved in the account) customer managed
    policies; `boundary` its permissions boundary when it has one. `problem` is set when the
    portal cannot know what the set allows (its boundary is unknown or missing from the
    inventory): the gate then counts the set as allowing nothing, and says why.
    """

    policies: list[Policy] = field(default_factory=list)
    boundary: Policy | None = None
    problem: str = ""


def _parsed(document: Any, name: str) -> Policy | None:
    if document is None:
        return None
    try:
        return parse_policy(document, name=name)
    except PolicyError:
        # A document the evaluator cannot read grants nothing here; AWS would have rejected it.
        return None


def permission_set_policies(*, principal: Any, account_id: str) -> dict[str, PermissionSetGrant]:
    """Permission-set name → what it grants, for each set assigned to `principal` on the account.

    Customer managed references resolve like AWS (and the sync) resolve them: the customer managed
    policy of that name and path in the account of the assignment; one naming no policy there
    grants nothing.
    """
    from governance.inventory.models import (
        AccountAssignment,
        GroupMembership,
        PermissionSet,
        PermissionSetPolicy,
        PolicyKind,
    )
    from governance.inventory.models import Policy as PolicyRow
    from governance.inventory.models.identity_center import BoundaryType
    from governance.inventory.models.org import reference_path

    group_ids = GroupMembership.objects.present().filter(member=principal).values("group_id")
    assigned = (
        AccountAssignment.objects.present()
        .filter(aws_account_id=account_id)
        .filter(Q(principal=principal) | Q(principal_id__in=group_ids))
        .values("permission_set_id")
    )
    sets = list(
        PermissionSet.objects.present()
        .filter(pk__in=assigned)
        .only(
            "name",
            "customer_managed_references",
            "boundary_type",
            "boundary_name",
            "boundary_path",
            "boundary_policy_arn",
        )
    )
    if not sets:
        return {}
    names = {s.pk: s.name for s in sets}
    policies: dict[int, list[Policy]] = {s.pk: [] for s in sets}
    managed = (
        PermissionSetPolicy.objects.present()
        .filter(permission_set_id__in=names, policy__removed_at__isnull=True)
        .values_list("permission_set_id", "policy__name", "policy__document")
    )
    inline = (
        PolicyRow.objects.present()
        .filter(kind=PolicyKind.PERMISSION_SET_INLINE, permission_set_id__in=names)
        .values_list("permission_set_id", "name", "document")
    )
    for set_id, name, document in [*managed, *inline]:
        if (parsed := _parsed(document, f"{names[set_id]}/{name}")) is not None:
            policies[set_id].append(parsed)

    wanted = {r["name"] for s in sets for r in s.customer_managed_references}
    wanted |= {s.boundary_name for s in sets if s.boundary_type == BoundaryType.CUSTOMER_MANAGED}
    arns = {s.boundary_policy_arn for s in sets if s.boundary_type == BoundaryType.MANAGED_POLICY}
    customer, by_arn = _named_policies(account_id=account_id, names=wanted, arns=arns)

    grants: dict[str, PermissionSetGrant] = {}
    for s in sets:
        for ref in s.customer_managed_references:
            key = (ref["name"], reference_path(ref.get("path")))
            if (parsed := _parsed(customer.get(key), f"{s.name}/{key[1]}{key[0]}")) is not None:
                policies[s.pk].append(parsed)
        boundary, problem = _boundary(s, account_id=account_id, customer=customer, by_arn=by_arn)
        grants[s.name] = PermissionSetGrant(policies[s.pk], boundary, problem)
    return grants


def _named_policies(
    *, account_id: str, names: set[str], arns: set[str]
) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """Documents of the account's customer managed policies by (name, path), and of policies by ARN."""
    from governance.inventory.models import Policy as PolicyRow
    from governance.inventory.models import PolicyKind
    from governance.inventory.models.org import reference_path

    customer: dict[tuple[str, str], Any] = {}
    by_arn: dict[str, Any] = {}
    if not names and not arns:
        return customer, by_arn
    named = PolicyRow.objects.customer_managed_named(names).filter(account__account_id=account_id)
    rows = (named | PolicyRow.objects.present().filter(arn__in=arns)).values_list(
        "kind", "account__account_id", "name", "path", "arn", "document"
    )
    for kind, account, name, path, arn, document in rows:
        if kind == PolicyKind.CUSTOMER_MANAGED and account == account_id:
            customer[(name, reference_path(path))] = document
        by_arn[arn] = document
    return customer, by_arn


def _boundary(
    permission_set: Any, *, account_id: str, customer: dict[tuple[str, str], Any], by_arn: dict[str, Any]
) -> tuple[Policy | None, str]:
    """The set's parsed permissions boundary, or why it cannot be known ("" when it can)."""
    from governance.inventory.models.identity_center import BoundaryType
    from governance.inventory.models.org import reference_path

    kind = permission_set.boundary_type
    if kind == BoundaryType.NONE:
        return None, ""
    if kind == BoundaryType.UNKNOWN:
        return None, (
            f"its permissions boundary could not be read from AWS at the last sync "
            f"({permission_set.get_boundary_type_display()}), so what it allows is unknown"
        )
    label = permission_set.boundary_label
    if kind == BoundaryType.CUSTOMER_MANAGED:
        document = customer.get((permission_set.boundary_name, reference_path(permission_set.boundary_path)))
        where = f"a customer managed policy in account {account_id}"
    else:
        document = by_arn.get(permission_set.boundary_policy_arn)
        where = "a managed policy in the inventory"
    parsed = _parsed(document, f"{permission_set.name} boundary {label}")
    if parsed is None:
        return None, f"its permissions boundary {label} is not {where} the portal can read"
    return parsed, ""


def check_write(*, actor: Any, action: str, resource: str, account_id: str, context: dict | None = None) -> WriteCheck:
    """Evaluate `action` on `resource` in `account_id` against the actor's own permission sets."""
    from governance.authz.selectors import linked_principal

    principal = linked_principal(actor)
    if principal is None:
        return WriteCheck(False, "You are not linked to an IAM Identity Center user, so AWS would not let you either.")
    sets = permission_set_policies(principal=principal, account_id=account_id)
    if not sets:
        return WriteCheck(
            False,
            f"You have no permission set on account {account_id}.",
            aws_user_name=principal.user_name,
        )
    levels, management = _scp_levels(account_id)
    decisions: list[tuple[str, Decision]] = []
    for name in sorted(sets):
        grant = sets[name]
        if grant.problem:
            decisions.append((name, Decision(Outcome.IMPLICIT_DENY, grant.problem)))
            continue
        session_arn = f"arn:aws:sts::{account_id}:assumed-role/AWSReservedSSO_{name}/{principal.user_name}"
        decision = evaluate(
            Request(
                principal=session_arn,
                action=action,
                resource=resource,
                context=context or {},
                username=principal.user_name,
                principal_arn=f"arn:aws:iam::{account_id}:role/AWSReservedSSO_{name}",
                # The write is made in the target account; without this the evaluator would read the
                # owner from the ARN (an Organizations ARN names the management account).
                resource_account=account_id,
            ),
            identity_policies=grant.policies,
            permissions_boundary=grant.boundary,
            scps=levels,
            management_account=management,
        )
        if decision.allowed:
            return WriteCheck(True, decision.reason, principal.user_name, name, ((name, decision),))
        decisions.append((name, decision))
    problems = {name for name in sets if sets[name].problem}
    return WriteCheck(False, _refusal(action, resource, decisions, problems), principal.user_name, "", tuple(decisions))


def _refusal(action: str, resource: str, decisions: list[tuple[str, Decision]], problems: set[str]) -> str:
    parts = []
    for name, decision in decisions:
        if name in problems:
            parts.append(f"{name}: {decision.reason}")
        elif decision.outcome is Outcome.EXPLICIT_DENY:
            denied_by = ", ".join(str(s) for s in decision.statements) or decision.reason
            parts.append(f"{name}: explicitly denied by {denied_by}")
        elif any(ref.policy_type is PolicyType.IDENTITY for ref in decision.statements):
            # A policy allowed it and a later gate (the boundary; the gate sends no session policy) did not.
            parts.append(f"{name}: {decision.reason}")
        else:
            parts.append(f"{name}: no statement allowed it ({decision.reason})")
    return f"AWS would not allow {action} on {resource}: " + "; ".join(parts)


def perform_write(
    *,
    actor: Any,
    action: str,
    resource: str,
    account_id: str,
    call: Callable[[Callable[[str], Any]], dict],
    request: Any = None,
    context: dict | None = None,
    before: Any = None,
    after: Any = None,
) -> dict:
    """Check, then run `call(clients)` as the writer role naming the actor, and audit either way.

    Raises `WriteRefusedError` (a PermissionDenied) when the actor's own permissions would not
    allow the write; nothing is sent to AWS then. AWS's errors are audited and raised as the
    gateway's types (`governance.aws.errors`: `AwsDenied`, `AwsThrottled`, `AwsNotFound`,
    `AwsUnreachable`, or `AwsError`), never as botocore's.
    """
    from governance.audit.services import record
    from governance.aws import writer

    audit_target = {"object_type": "aws.resource", "object_id": resource[:255], "object_repr": f"{action} {resource}"}
    check = check_write(actor=actor, action=action, resource=resource, account_id=account_id, context=context)
    if not check.allowed:
        record(
            actor=actor,
            action="aws.write.refused",
            **audit_target,
            after={"aws_action": action, "account_id": account_id, "reason": check.reason},
            request=request,
        )
        raise WriteRefusedError(check.reason, check.decisions)
    tags = {
        "portal-user": writer.tag_value(getattr(actor, "email", "") or str(actor)),
        "portal-action": writer.tag_value(action),
    }
    outcome: dict[str, Any] = {
        "aws_action": action,
        "account_id": account_id,
        "source_identity": check.aws_user_name,
        "permission_set": check.permission_set,
        "after": after,
    }
    try:
        # Assuming the writer role is part of the write: its refusal is audited like the call's.
        response = writer.run_write(account_id=account_id, actor_user_name=check.aws_user_name, tags=tags, call=call)
    except Exception as exc:
        outcome["error"] = str(exc)[:1000]
        outcome["aws_request_id"] = writer.request_id(exc) if isinstance(exc, AwsError) else ""
        record(actor=actor, action="aws.write.failed", **audit_target, before=before, after=outcome, request=request)
        raise
    outcome["aws_request_id"] = writer.request_id(response or {})
    record(actor=actor, action="aws.write", **audit_target, before=before, after=outcome, request=request)
    return response
