"""Would this principal's request be allowed, and which statements of every layer decide it?

The answer comes from the policy engine over what the inventory holds: the principal's identity
policies (attached, inline and through groups) and permissions boundary, the SCPs in effect on the
principal's account, and the RCPs in effect on the resource's account. Besides the overall decision,
each layer is decided on its own (every other layer taken as allowing), so a reader sees which
statements of that layer allow or deny, and which level of the organization is the one that blocks.

Fails closed: an unknown principal is an error, a policy the engine cannot read grants nothing and
is named in `warnings`, a boundary the sync could not read allows nothing. A resource whose ARN names
no account (S3) is not assumed to be the caller's: give `aws:ResourceAccount` in the context, or the
decision is Allowed only when it would be in the caller's account and in another (the reason says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Q

from governance.inventory.models import Account, Entitlement, Principal, PrincipalKind
from governance.policy import (
    Decision,
    Policy,
    PolicyError,
    Request,
    StatementRef,
    evaluate,
    is_known_action,
    parse_policy,
)
from governance.scp.effective import Chain, chains

_ARN = re.compile(r"^arn:aws[\w-]*:(?P<service>[^:]*):[^:]*:(?P<account>\d{12})?:(?P<rest>.*)$")
_SESSION = re.compile(r"^arn:aws[\w-]*:sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_EVERYTHING_NAME = "(every other layer taken as allowing)"
EVERYTHING = parse_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    name=_EVERYTHING_NAME,
)


class ExplainError(ValueError):
    """The question cannot be asked as given; the message says what to fix."""


@dataclass
class Layer:
    layer: str  # scp, rcp, identity, boundary
    decision: Decision
    level: int | None = None
    target_id: str = ""
    name: str = ""
    policies: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"layer": self.layer}
        if self.level is not None:
            data.update(level=self.level, target_id=self.target_id, name=self.name)
        data.update(
            policies=self.policies,
            decision=self.decision.outcome.value,
            reason=_reason(self.decision),
            statements=statements(self.decision.statements),
        )
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class Explanation:
    principal: Principal
    request: Request
    decision: Decision
    layers: list[Layer]
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.request.principal,
            "principal_kind": self.principal.kind,
            "account_id": self.principal.account.account_id if self.principal.account else "",
            "action": self.request.action,
            "resource": self.request.resource,
            "resource_account": self.request.resource_account,
            "context": {k: v for k, v in self.request.context.items()},
            "decision": self.decision.outcome.value,
            "allowed": self.decision.allowed,
            "reason": _reason(self.decision),
            "statements": statements(self.decision.statements),
            "layers": [layer.as_dict() for layer in self.layers],
            "warnings": self.warnings,
        }


def _reason(decision: Decision) -> str:
    return decision.reason.replace(f" {_EVERYTHING_NAME}", "").replace(_EVERYTHING_NAME, "")


def statements(refs: Iterable[StatementRef]) -> list[dict[str, Any]]:
    return [
        {"type": ref.policy_type.value, "policy": ref.policy, "sid": ref.sid, "index": ref.index}
        for ref in refs
        if ref.policy != _EVERYTHING_NAME
    ]


def parse_context(pairs: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; a key given twice becomes a list (multi-valued keys such as aws:TagKeys)."""
    context: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ExplainError(f"context {pair!r} must be KEY=VALUE (for example aws:RequestedRegion=eu-west-1)")
        key = key.strip()
        if key in context:
            existing = context[key]
            context[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            context[key] = value
    return context


def find_principal(arn: str, queryset: Any = None) -> Principal:
    """The IAM user or role named by `arn` (a role session ARN names its role)."""
    principals = (
        (queryset if queryset is not None else Principal.objects.all())
        .present()
        .select_related("account__organization", "permissions_boundary")
    )
    session = _SESSION.match(arn)
    if session:
        found = principals.filter(
            kind=PrincipalKind.IAM_ROLE, account__account_id=session["account"], name=session["role"]
        ).first()
    else:
        found = principals.filter(arn=arn, kind__in=[PrincipalKind.IAM_USER, PrincipalKind.IAM_ROLE]).first()
    if found is None:
        raise ExplainError(f"{arn!r} is not an IAM user, role or role session the inventory holds")
    return found


def _identity_policies(principal: Principal, warnings: list[str]) -> list[Policy]:
    rows = (
        Entitlement.objects.present()
        .filter(principal=principal, policy__removed_at__isnull=True)
        .values_list("policy__name", "policy__document")
        .order_by("policy__name", "policy_id")
        .distinct()
    )
    policies = []
    for name, document in rows:
        if document is None:
            warnings.append(f"{name}: no document was synced (it grants nothing here)")
            continue
        try:
            policies.append(parse_policy(document, name=name))
        except PolicyError as exc:
            warnings.append(f"{name}: the engine cannot read it ({exc}); it grants nothing here")
    return policies


def _resource_account(resource: str, principal_account: str, context: dict[str, Any]) -> str | None:
    """The resource's account: named by its ARN or given as ``aws:ResourceAccount``; None when an ARN names
    none (S3) and the context does not say (the engine then does not assume it is the caller's)."""
    given = [value for key, value in context.items() if key.lower() == "aws:resourceaccount"]
    stated: str | None = None
    if given:
        if len(given) > 1 or not isinstance(given[0], str) or not _ACCOUNT_ID.match(given[0]):
            shown = given[0] if len(given) == 1 else given
            raise ExplainError(f"aws:ResourceAccount {shown!r} must be one 12-digit account ID (e.g. 123456789012)")
        stated = given[0]
    match = _ARN.match(resource)
    named = match["account"] if match and match["account"] else None
    if named and stated and named != stated:
        raise ExplainError(f"aws:ResourceAccount {stated} contradicts the resource's ARN, which names account {named}")
    if named or stated:
        return named or stated
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and not parts[4]:
        return None
    return principal_account  # "*" (and an ARN whose account is not an ID) is taken as the caller's own


def explain(
    *, principal_arn: str, action: str, resource: str, context: dict[str, Any] | None = None, principals: Any = None
) -> Explanation:
    """Decide the request and each layer on its own (see the module docstring)."""
    if "*" in action or "?" in action:
        # The engine would match the pattern as a literal action name: a Deny of s3:* would not match
        # "s3:Get*", and the answer would look more permissive than AWS is.
        raise ExplainError(f"action {action!r} is a pattern: name one action (for example s3:GetObject)")
    service, colon, name = action.partition(":")
    if not colon or not service or not name:
        raise ExplainError(f"action {action!r} must be service:Action (for example s3:GetObject)")
    principal = find_principal(principal_arn, principals)
    account = principal.account
    if account is None:
        raise ExplainError(f"{principal_arn!r} belongs to no account of the organization")
    warnings: list[str] = []
    if not is_known_action(action):
        warnings.append(f"{action} is not in the IAM action catalog: check its spelling")
    identity = _identity_policies(principal, warnings)
    boundary: Policy | None = None
    boundary_problem = ""
    if principal.permissions_boundary_id:
        row = principal.permissions_boundary
        try:
            boundary = parse_policy(row.document, name=row.name) if row and row.document is not None else None
        except PolicyError as exc:
            boundary_problem = f"the permissions boundary cannot be read ({exc})"
        if boundary is None and not boundary_problem:
            boundary_problem = "the permissions boundary's document was not synced"
        if boundary_problem:
            # Fail closed: a boundary nobody can read allows nothing.
            boundary = parse_policy({"Version": "2012-10-17", "Statement": []}, name="(unreadable boundary)")
            warnings.append(boundary_problem + "; it is taken as allowing nothing")

    resource_account_id = _resource_account(resource, account.account_id, context or {})
    unknown_owner = ""
    if resource_account_id is None:
        unknown_owner = (
            "the resource's account is unknown (its ARN names none): it is Allowed only if it would be both in "
            "the caller's account and in another; give --context aws:ResourceAccount=ACCOUNT_ID"
        )
        warnings.append(unknown_owner)
    # The RCPs of the resource's account; with the owner unknown, the caller's (its own-account reading).
    rcp_account = resource_account_id or account.account_id
    accounts = {
        a.account_id: a
        for a in Account.objects.filter(
            Q(pk=account.pk) | Q(account_id=rcp_account, removed_at__isnull=True)
        ).select_related("parent")
    }
    by_pk = chains(list(accounts.values()))
    own: Chain = by_pk[account.pk]
    target = accounts.get(rcp_account)
    theirs: Chain | None = by_pk[target.pk] if target is not None else None
    for chain in (own, theirs):
        if chain is not None:
            warnings.extend(f"{p}; it is taken as allowing nothing" for p in chain.problems)
    if theirs is None:
        warnings.append(f"the resource's account {rcp_account} is outside the organization: no RCPs apply")

    # AWS adds these to every request of an organization's principal on an organization's resource;
    # data-perimeter policies turn on them. Given explicitly, the caller's values win.
    given = {key.lower() for key in (context or {})}
    defaults: dict[str, Any] = {"aws:PrincipalOrgID": account.organization.org_id}
    if theirs is not None:
        defaults["aws:ResourceOrgID"] = account.organization.org_id
    request = Request(
        principal=principal_arn,
        action=action,
        resource=resource,
        context={**{k: v for k, v in defaults.items() if k.lower() not in given}, **(context or {})},
        principal_tags=principal.tags or {},
        username=principal.name if principal.kind == PrincipalKind.IAM_USER else None,
        principal_arn=principal.arn if principal.kind == PrincipalKind.IAM_ROLE else None,
        resource_account=resource_account_id,
    )
    scp_levels = own.scp_levels()
    rcp_levels = theirs.rcp_levels() if theirs is not None else []
    rcp_management = bool(theirs and theirs.management)
    decision = evaluate(
        request,
        identity_policies=identity,
        permissions_boundary=boundary,
        scps=scp_levels,
        management_account=own.management,
        rcps=rcp_levels,
        resource_in_management_account=rcp_management,
    )
    # Each layer on its own shows what its statements say; with the owner unknown that is the caller's own
    # account's reading (the overall decision above is the one that does not assume it).
    own_reading = "decided as in the caller's own account (the resource's account is unknown)"
    layer_request = replace(request, resource_account=account.account_id) if unknown_owner else request

    def noted(*notes: str) -> str:
        return "; ".join(note for note in (*notes, own_reading if unknown_owner else "") if note)

    layers: list[Layer] = []
    for level in own.levels:
        names = [p.name for p in level.scps]
        note = noted("SCPs do not apply to the management account" if own.management else "")
        one = evaluate(
            layer_request, identity_policies=[EVERYTHING], scps=[level.parsed("scp")], management_account=own.management
        )
        layers.append(Layer("scp", one, level.depth, level.target_id, level.name, names, note))
    if theirs is not None and rcp_levels:
        for level in theirs.levels:
            one = evaluate(
                layer_request,
                identity_policies=[EVERYTHING],
                rcps=[level.parsed("rcp")],
                resource_in_management_account=rcp_management,
            )
            note = noted("RCPs do not apply to resources of the management account" if rcp_management else "")
            layers.append(
                Layer("rcp", one, level.depth, level.target_id, level.name, [p.name for p in level.rcps], note)
            )
    identity_layer = evaluate(layer_request, identity_policies=identity)
    layers.append(Layer("identity", identity_layer, policies=[p.name for p in identity], note=noted()))
    if boundary is not None:
        one = evaluate(layer_request, identity_policies=[EVERYTHING], permissions_boundary=boundary)
        layers.append(Layer("boundary", one, policies=[boundary.name or ""], note=noted(boundary_problem)))
    return Explanation(principal, request, decision, layers, warnings)
