"""The offline evaluator: would AWS allow this request, and which statements decide it?

Follows the IAM User Guide's "Policy evaluation logic" for a request within one account, simplified
where noted:

1. An explicit Deny in any applicable policy (SCPs, resource policy, identity policies, permissions
   boundary, session policy) decides: EXPLICIT_DENY.
2. SCPs, unless the principal is in the management account: every level of the organization hierarchy
   (root, each OU, the account) must have an SCP statement that allows the request.
3. A resource-based policy that allows the request for the caller's exact ARN (an IAM user ARN or a
   role-session ARN) allows it even when identity policies, the boundary or the session policy do not.
   One that allows it through another principal (the role ARN for a role session, ``*``) counts like an
   identity-policy allow: the boundary and session policy still limit it. One that names only the account
   (``arn:aws:iam::<account>:root``) delegates to IAM and grants nothing by itself.
4. Otherwise an identity policy must allow; then the permissions boundary (when present) and the session
   policy (when present) must allow too.
5. Cross-account requests (``resource_account`` differs from the principal's account) need both: the
   identity side as above and an allowing resource policy (any matching principal, including the account).

Not modelled: RCPs, VPC endpoint policies, service-linked role exemptions, ACLs, KMS grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .document import Policy, Statement, account_root, as_policy

ContextValue = str | bool | int | float | Sequence[str | bool | int | float]


class Outcome(StrEnum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit_deny"
    EXPLICIT_DENY = "explicit_deny"


class PolicyType(StrEnum):
    IDENTITY = "identity"
    BOUNDARY = "permissions_boundary"
    SCP = "scp"
    SESSION = "session"
    RESOURCE = "resource"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Names one statement: the policy type and name, and the statement's Sid (or ``#index``)."""

    policy_type: PolicyType
    policy: str
    sid: str | None
    index: int

    def __str__(self) -> str:
        label = self.sid if self.sid else f"#{self.index}"
        return f"{self.policy_type.value} {self.policy or '(unnamed)'} {label}"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    statements: tuple[StatementRef, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def __bool__(self) -> bool:
        return self.outcome is Outcome.ALLOW


@dataclass(frozen=True, slots=True)
class Request:
    """One API request as the evaluator sees it.

    ``principal`` is the caller's ARN (for a role session the ``assumed-role`` session ARN), or a service
    principal (``ec2.amazonaws.com``) or federated provider when evaluating trust policies.
    ``principal_arn`` is ``aws:PrincipalArn`` (the role ARN for a session; derived when omitted).
    ``context`` keys are case-insensitive; values may be lists (multi-valued keys such as aws:TagKeys).
    ``now`` fills aws:CurrentTime/aws:EpochTime when the context does not; it defaults to the clock.
    """

    principal: str
    action: str
    resource: str = "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    userid: str | None = None
    principal_arn: str | None = None
    resource_account: str | None = None
    now: datetime | None = None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _arn_parts(arn: str) -> list[str] | None:
    parts = arn.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request with its context normalized (lower-case keys, tuple values) and principal identifiers."""

    request: Request
    action: str
    resource: str
    context: dict[str, tuple[str, ...]]
    identifiers: frozenset[str]
    account: str | None
    exact: str


def prepare(request: Request) -> PreparedRequest:
    context: dict[str, tuple[str, ...]] = {}
    principal = request.principal
    parts = _arn_parts(principal)
    account = parts[4] if parts and parts[4] else None
    principal_arn = request.principal_arn
    username = request.username
    if parts is not None:
        kind, _, rest = parts[5].partition("/")
        if principal_arn is None:
            if parts[2] == "sts" and kind == "assumed-role":
                principal_arn = f"arn:{parts[1]}:iam::{parts[4]}:role/{rest.partition('/')[0]}"
            else:
                principal_arn = principal
        if username is None and parts[2] == "iam" and kind == "user":
            username = rest.rpartition("/")[2]
    defaults: dict[str, str | None] = {
        "aws:username": username,
        "aws:userid": request.userid,
        "aws:principalarn": principal_arn,
        "aws:principalaccount": account,
    }
    for key, value in defaults.items():
        if value is not None:
            context[key] = (value,)
    for tag, value in request.principal_tags.items():
        context[f"aws:principaltag/{tag.lower()}"] = (value,)
    now = request.now or datetime.now(UTC)
    context["aws:currenttime"] = (_text(now),)
    context["aws:epochtime"] = (str(int(now.timestamp())),)
    for key, value in request.context.items():
        if isinstance(value, list | tuple | set | frozenset):
            context[key.lower()] = tuple(_text(item) for item in value)
        else:
            context[key.lower()] = (_text(value),)

    identifiers = {principal}
    if principal_arn:
        identifiers.add(principal_arn)
    if account:
        identifiers.add(account_root(account))
    return PreparedRequest(
        request=request,
        action=request.action.lower(),
        resource=request.resource,
        context=context,
        identifiers=frozenset(identifiers),
        account=account,
        exact=principal,
    )


def _ref(policy_type: PolicyType, policy: Policy, statement: Statement) -> StatementRef:
    return StatementRef(policy_type, policy.name, statement.sid, statement.index)


def _matching_allow(policy: Policy, prepared: PreparedRequest, *, with_principal: bool = False) -> Statement | None:
    allows = policy.statements_for(prepared.action)[0]
    resource = prepared.resource
    context = prepared.context
    for statement in allows:
        if (
            statement.matches_resource(resource, context)
            and (not with_principal or statement.matches_principal(prepared.identifiers))
            and statement.conditions_hold(context)
        ):
            return statement
    return None


def _levels(scps: Iterable[Policy | Iterable[Policy]]) -> list[tuple[Policy, ...]]:
    levels = []
    for level in scps:
        if isinstance(level, Policy):
            levels.append((level,))
        else:
            levels.append(tuple(as_policy(policy) for policy in level))
    return levels


def evaluate(
    request: Request | PreparedRequest,
    *,
    identity_policies: Iterable[Policy] = (),
    permissions_boundary: Policy | None = None,
    scps: Iterable[Policy | Iterable[Policy]] = (),
    session_policy: Policy | None = None,
    resource_policy: Policy | None = None,
    management_account: bool = False,
) -> Decision:
    """Decide ``request`` against the given policies (see the module docstring for the rules).

    ``scps`` is a list of levels from the root down to the account, each a list of the SCPs attached
    there; ``management_account=True`` means SCPs do not apply. Pass parsed :class:`Policy` objects.
    """
    prepared = request if isinstance(request, PreparedRequest) else prepare(request)
    action = prepared.action
    resource = prepared.resource
    context = prepared.context
    identity = tuple(identity_policies)
    levels = [] if management_account else _levels(scps)

    applicable: list[tuple[PolicyType, Policy]] = [(PolicyType.IDENTITY, policy) for policy in identity]
    if permissions_boundary is not None:
        applicable.append((PolicyType.BOUNDARY, permissions_boundary))
    for level in levels:
        applicable.extend((PolicyType.SCP, policy) for policy in level)
    if session_policy is not None:
        applicable.append((PolicyType.SESSION, session_policy))
    if resource_policy is not None:
        applicable.append((PolicyType.RESOURCE, resource_policy))

    denials: list[StatementRef] = []
    for policy_type, policy in applicable:
        denies = policy.statements_for(action)[1]
        for statement in denies:
            if (
                statement.matches_resource(resource, context)
                and (policy_type is not PolicyType.RESOURCE or statement.matches_principal(prepared.identifiers))
                and statement.conditions_hold(context)
            ):
                denials.append(_ref(policy_type, policy, statement))
    if denials:
        return Decision(Outcome.EXPLICIT_DENY, f"explicitly denied by {denials[0]}", tuple(denials))

    granted: list[StatementRef] = []
    for depth, level in enumerate(levels):
        for policy in level:
            statement = _matching_allow(policy, prepared)
            if statement is not None:
                granted.append(_ref(PolicyType.SCP, policy, statement))
                break
        else:
            names = ", ".join(policy.name or "(unnamed)" for policy in level) or "no SCPs attached"
            return Decision(Outcome.IMPLICIT_DENY, f"no SCP at organization level {depth} allows it ({names})")

    resource_grant: Statement | None = None
    if resource_policy is not None:
        resource_grant = _matching_allow(resource_policy, prepared, with_principal=True)

    cross_account = (
        prepared.request.resource_account is not None and prepared.request.resource_account != prepared.account
    )
    if cross_account and resource_grant is None:
        return Decision(Outcome.IMPLICIT_DENY, "cross-account request without a resource policy that allows it")

    if resource_grant is not None and not cross_account:
        principal = resource_grant.principal
        ref = _ref(PolicyType.RESOURCE, resource_policy, resource_grant)  # type: ignore[arg-type]
        if principal is not None and not resource_grant.not_principal and prepared.exact in principal.aws:
            return Decision(Outcome.ALLOW, f"allowed by {ref} naming the caller", (*granted, ref))
        if principal is not None and _names_only_account(principal.aws, prepared) and not principal.everyone:
            resource_grant = None

    identity_grant: StatementRef | None = None
    for policy in identity:
        statement = _matching_allow(policy, prepared)
        if statement is not None:
            identity_grant = _ref(PolicyType.IDENTITY, policy, statement)
            break
    if identity_grant is None:
        if resource_grant is None or cross_account:
            return Decision(Outcome.IMPLICIT_DENY, "no identity-based policy allows it", tuple(granted))
        identity_grant = _ref(PolicyType.RESOURCE, resource_policy, resource_grant)  # type: ignore[arg-type]
    granted.append(identity_grant)

    for policy_type, policy in ((PolicyType.BOUNDARY, permissions_boundary), (PolicyType.SESSION, session_policy)):
        if policy is None:
            continue
        statement = _matching_allow(policy, prepared)
        if statement is None:
            label = "permissions boundary" if policy_type is PolicyType.BOUNDARY else "session policy"
            named = f"{label} {policy.name}" if policy.name else label
            return Decision(Outcome.IMPLICIT_DENY, f"the {named} does not allow it", tuple(granted))
        granted.append(_ref(policy_type, policy, statement))

    if cross_account:
        granted.append(_ref(PolicyType.RESOURCE, resource_policy, resource_grant))  # type: ignore[arg-type]
    return Decision(Outcome.ALLOW, f"allowed by {identity_grant}", tuple(granted))


def _names_only_account(aws: frozenset[str], prepared: PreparedRequest) -> bool:
    """True when the resource policy matched the caller only through its account's root ARN."""
    return not (aws & (prepared.identifiers - {account_root(prepared.account or "")}))
