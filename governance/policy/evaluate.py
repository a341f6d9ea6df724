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

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from .document import Policy, PrincipalSpec, Statement, account_root, as_policy

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


class StatementRef(NamedTuple):
    """Names one statement: the policy type and name, and the statement's Sid (or ``#index``)."""

    policy_type: PolicyType
    policy: str
    sid: str | None
    index: int

    def __str__(self) -> str:
        label = self.sid if self.sid else f"#{self.index}"
        return f"{self.policy_type.value} {self.policy or '(unnamed)'} {label}"


class Decision(NamedTuple):
    """The outcome, the statements that decided it, and a one-line reason for people.

    ``statements`` holds every matching Deny for EXPLICIT_DENY, and for ALLOW the allowing statement
    of each gate passed (SCP levels, identity or resource policy, boundary, session policy).
    Immutable; a named tuple because one is built per evaluation. Truthy only for ALLOW.
    """

    outcome: Outcome
    detail: str
    statements: tuple[StatementRef, ...] = ()
    subject: StatementRef | None = None

    @property
    def reason(self) -> str:
        # Built on demand: formatting it for every evaluation costs more than some decisions.
        return f"{self.detail} {self.subject}" if self.subject is not None else self.detail

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
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


@lru_cache(maxsize=256)
def _time_values(now: datetime) -> tuple[tuple[str], tuple[str]]:
    return (_text(now),), (str(int(now.timestamp())),)


def _arn_parts(arn: str) -> list[str] | None:
    parts = arn.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


class PreparedRequest(NamedTuple):
    """A request with its context normalized (lower-case keys, tuple values) and principal identifiers."""

    request: Request
    action: str
    resource: str
    context: dict[str, tuple[str, ...]]
    identifiers: frozenset[str]
    account: str | None
    exact: str


@lru_cache(maxsize=1024)
def _principal_facts(
    principal: str, principal_arn: str | None, username: str | None, userid: str | None
) -> tuple[tuple[tuple[str, tuple[str]], ...], frozenset[str], str | None]:
    """Context entries, identifiers and account derived from the caller; cached per caller."""
    parts = _arn_parts(principal)
    account = parts[4] if parts and parts[4] else None
    if parts is not None:
        kind, _, rest = parts[5].partition("/")
        if principal_arn is None:
            if parts[2] == "sts" and kind == "assumed-role":
                principal_arn = f"arn:{parts[1]}:iam::{parts[4]}:role/{rest.partition('/')[0]}"
            else:
                principal_arn = principal
        if username is None and parts[2] == "iam" and kind == "user":
            username = rest.rpartition("/")[2]
    entries = tuple(
        (key, (value,))
        for key, value in (
            ("aws:username", username),
            ("aws:userid", userid),
            ("aws:principalarn", principal_arn),
            ("aws:principalaccount", account),
        )
        if value is not None
    )
    identifiers = {principal}
    if principal_arn:
        identifiers.add(principal_arn)
    if account:
        identifiers.add(account_root(account))
    return entries, frozenset(identifiers), account


def prepare(request: Request) -> PreparedRequest:
    """Normalize a request once: lower-case context keys, tuple values, derived aws:* keys."""
    principal = request.principal
    entries, identifiers, account = _principal_facts(principal, request.principal_arn, request.username, request.userid)
    context: dict[str, tuple[str, ...]] = dict(entries)
    tags = request.principal_tags
    if tags:
        for tag, value in tags.items():
            context["aws:principaltag/" + tag.lower()] = (value,)
    now = request.now
    if now is None:
        now = datetime.now(UTC).replace(microsecond=0)
    context["aws:currenttime"], context["aws:epochtime"] = _time_values(now)
    for key, value in request.context.items():
        if type(value) is str:
            context[key.lower()] = (value,)
        elif isinstance(value, list | tuple | set | frozenset):
            context[key.lower()] = tuple(_text(item) for item in value)
        else:
            context[key.lower()] = (_text(value),)
    return PreparedRequest(request, request.action.lower(), request.resource, context, identifiers, account, principal)


Candidate = tuple[StatementRef, Statement]


def _levels(scps: Iterable[Any]) -> list[tuple[Any, ...]]:
    """SCP levels as tuples; a bare policy (or document) counts as a level of its own."""
    levels: list[tuple[Any, ...]] = []
    for level in scps:
        if type(level) is tuple:
            levels.append(level)
        elif isinstance(level, Policy | str | bytes | Mapping):
            levels.append((level,))
        else:
            levels.append(tuple(level))
    return levels


@dataclass(frozen=True, slots=True)
class _Plan:
    """The statements of a policy set whose Action/NotAction match one action, grouped by role."""

    denies: tuple[tuple[Candidate, bool], ...]  # (candidate, check principal)
    scp_levels: tuple[tuple[Candidate, ...], ...]
    scp_names: tuple[str, ...]
    resource_allows: tuple[Candidate, ...]
    identity_allows: tuple[Candidate, ...]
    boundary_allows: tuple[Candidate, ...] | None
    session_allows: tuple[Candidate, ...] | None
    # When every SCP level's first candidate matches unconditionally (FullAWSAccess), its refs.
    scp_grants: tuple[StatementRef, ...] | None = None


def _candidates(policy_type: PolicyType, policy: Policy, statements: tuple[Statement, ...]) -> list[Candidate]:
    return [(StatementRef(policy_type, policy.name, s.sid, s.index), s) for s in statements]


def _first(
    candidates: tuple[Candidate, ...], prepared: PreparedRequest, *, with_principal: bool = False
) -> Candidate | None:
    """The first candidate statement whose Resource, Principal (if asked) and Condition all match."""
    resource = prepared.resource
    context = prepared.context
    for candidate in candidates:
        statement = candidate[1]
        if statement.trivial and not with_principal:
            return candidate
        if (
            statement.resource_test(resource, context)
            and (not with_principal or statement.matches_principal(prepared.identifiers))
            and statement.conditions_hold(context)
        ):
            return candidate
    return None


class PolicySet:
    """The policies that apply to one principal, compiled for repeated evaluation.

    Keeps a per-action plan (which statements of which policies can match the action) so evaluating a
    request only visits statements that name its action. Build one per principal and reuse it;
    :func:`evaluate` does this for you behind a small identity-keyed cache.
    """

    __slots__ = ("_plans", "boundary", "identity", "levels", "management_account", "resource", "session")

    def __init__(
        self,
        *,
        identity_policies: Iterable[Policy] = (),
        permissions_boundary: Policy | None = None,
        scps: Iterable[Policy | Iterable[Policy]] = (),
        session_policy: Policy | None = None,
        resource_policy: Policy | None = None,
        management_account: bool = False,
    ) -> None:
        self.identity = tuple(as_policy(policy) for policy in identity_policies)
        self.boundary = as_policy(permissions_boundary) if permissions_boundary is not None else None
        self.levels = tuple(tuple(as_policy(policy) for policy in level) for level in _levels(scps))
        self.session = as_policy(session_policy) if session_policy is not None else None
        self.resource = as_policy(resource_policy) if resource_policy is not None else None
        self.management_account = management_account
        self._plans: dict[str, _Plan] = {}

    def _plan(self, action: str) -> _Plan:
        plan = self._plans.get(action)
        if plan is not None:
            return plan
        denies: list[tuple[Candidate, bool]] = []
        allows: dict[PolicyType, list[Candidate]] = {kind: [] for kind in PolicyType}

        def add(policy_type: PolicyType, policy: Policy) -> list[Candidate]:
            allow, deny = policy.statements_for(action)
            denies.extend((c, policy_type is PolicyType.RESOURCE) for c in _candidates(policy_type, policy, deny))
            found = _candidates(policy_type, policy, allow)
            allows[policy_type].extend(found)
            return found

        for policy in self.identity:
            add(PolicyType.IDENTITY, policy)
        if self.boundary is not None:
            add(PolicyType.BOUNDARY, self.boundary)
        levels: list[tuple[Candidate, ...]] = []
        names: list[str] = []
        if not self.management_account:
            for level in self.levels:
                level_allows: list[Candidate] = []
                for policy in level:
                    level_allows.extend(add(PolicyType.SCP, policy))
                levels.append(tuple(level_allows))
                names.append(", ".join(policy.name or "(unnamed)" for policy in level) or "no SCPs attached")
        if self.session is not None:
            add(PolicyType.SESSION, self.session)
        if self.resource is not None:
            add(PolicyType.RESOURCE, self.resource)
        plan = _Plan(
            denies=tuple(denies),
            scp_levels=tuple(levels),
            scp_names=tuple(names),
            resource_allows=tuple(allows[PolicyType.RESOURCE]),
            identity_allows=tuple(allows[PolicyType.IDENTITY]),
            boundary_allows=tuple(allows[PolicyType.BOUNDARY]) if self.boundary is not None else None,
            session_allows=tuple(allows[PolicyType.SESSION]) if self.session is not None else None,
            scp_grants=tuple(level[0][0] for level in levels)
            if all(level and level[0][1].trivial for level in levels)
            else None,
        )
        if len(self._plans) >= 4096:
            self._plans.clear()
        self._plans[action] = plan
        return plan

    def evaluate(self, request: Request | PreparedRequest) -> Decision:
        """Decide one request (see the module docstring for the rules)."""
        prepared = request if isinstance(request, PreparedRequest) else prepare(request)
        plan = self._plan(prepared.action)
        resource = prepared.resource
        context = prepared.context

        denials: list[StatementRef] = []
        for (ref, statement), check_principal in plan.denies:
            if (
                statement.resource_test(resource, context)
                and (not check_principal or statement.matches_principal(prepared.identifiers))
                and statement.conditions_hold(context)
            ):
                denials.append(ref)
        if denials:
            return Decision(Outcome.EXPLICIT_DENY, "explicitly denied by", tuple(denials), denials[0])

        if plan.scp_grants is not None:
            granted = list(plan.scp_grants)
        else:
            granted = []
            for depth, level in enumerate(plan.scp_levels):
                found = _first(level, prepared)
                if found is None:
                    names = plan.scp_names[depth]
                    detail = f"no SCP at organization level {depth} allows it ({names})"
                    return Decision(Outcome.IMPLICIT_DENY, detail, tuple(granted))
                granted.append(found[0])

        resource_grant = _first(plan.resource_allows, prepared, with_principal=True) if plan.resource_allows else None
        resource_account = prepared.request.resource_account
        cross_account = resource_account is not None and resource_account != prepared.account
        if cross_account and resource_grant is None:
            return Decision(Outcome.IMPLICIT_DENY, "cross-account request without a resource policy that allows it")
        if resource_grant is not None and not cross_account:
            ref, statement = resource_grant
            principal = statement.principal
            if principal is not None and not statement.not_principal and prepared.exact in principal.aws:
                return Decision(Outcome.ALLOW, "allowed (names the caller) by", (*granted, ref), ref)
            if principal is not None and not principal.everyone and _names_only_account(principal, prepared):
                resource_grant = None

        identity_grant = _first(plan.identity_allows, prepared)
        if identity_grant is None:
            if resource_grant is None or cross_account:
                return Decision(Outcome.IMPLICIT_DENY, "no identity-based policy allows it", tuple(granted))
            identity_grant = resource_grant
        granted.append(identity_grant[0])

        for label, candidates, policy in (
            ("permissions boundary", plan.boundary_allows, self.boundary),
            ("session policy", plan.session_allows, self.session),
        ):
            if candidates is None:
                continue
            found = _first(candidates, prepared)
            if found is None:
                named = f"{label} {policy.name}" if policy is not None and policy.name else label
                return Decision(Outcome.IMPLICIT_DENY, f"the {named} does not allow it", tuple(granted))
            granted.append(found[0])

        if cross_account and resource_grant is not None:
            granted.append(resource_grant[0])
        return Decision(Outcome.ALLOW, "allowed by", tuple(granted), identity_grant[0])


_SETS: OrderedDict[tuple[Any, ...], tuple[PolicySet, tuple[Any, ...]]] = OrderedDict()
_SETS_LIMIT = 256


_FAST: OrderedDict[tuple[Any, ...], tuple[PolicySet, Any, Any, tuple[Any, ...]]] = OrderedDict()


def _remember(key: tuple[Any, ...], policy_set: PolicySet, identity: Any, scps: Any) -> None:
    """Cache by the caller's containers; snapshots detect later mutation of those lists."""
    if type(identity) not in (list, tuple) or type(scps) not in (list, tuple):
        return
    levels = type(scps)(level[:] if type(level) in (list, tuple) else level for level in scps)
    _FAST[key] = (policy_set, identity[:], levels, (identity, scps))
    if len(_FAST) > _SETS_LIMIT:
        _FAST.popitem(last=False)


def _level_key(level: Any) -> Any:
    kind = type(level)
    return tuple(map(id, level)) if kind is list or kind is tuple else id(level)


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
    there; ``management_account=True`` means SCPs do not apply. Parsed :class:`Policy` objects are
    compiled into a :class:`PolicySet` that is cached by object identity (the cache holds them, so an
    id cannot be reused while cached); documents are parsed on every call.
    """
    fast_key = (
        id(identity_policies),
        id(scps),
        id(permissions_boundary),
        id(session_policy),
        id(resource_policy),
        management_account,
    )
    fast = _FAST.get(fast_key)
    # Same containers with the same contents (list equality checks identity first, element by element).
    if fast is not None and fast[1] == identity_policies and fast[2] == scps:
        return fast[0].evaluate(request)
    identity = identity_policies if type(identity_policies) is tuple else tuple(identity_policies)
    scps = scps if type(scps) is tuple or type(scps) is list else tuple(scps)
    key = (
        tuple(map(id, identity)),
        id(permissions_boundary),
        tuple(map(_level_key, scps)),
        id(session_policy),
        id(resource_policy),
        management_account,
    )
    entry = _SETS.get(key)
    if entry is not None:
        _remember(fast_key, entry[0], identity_policies, scps)
        return entry[0].evaluate(request)
    levels = _levels(scps)
    policy_set = PolicySet(
        identity_policies=identity,
        permissions_boundary=permissions_boundary,
        scps=levels,
        session_policy=session_policy,
        resource_policy=resource_policy,
        management_account=management_account,
    )
    singles = (permissions_boundary, session_policy, resource_policy)
    if all(isinstance(policy, Policy) for group in (identity, *levels) for policy in group) and all(
        policy is None or isinstance(policy, Policy) for policy in singles
    ):
        _SETS[key] = (policy_set, (identity, levels, singles))
        if len(_SETS) > _SETS_LIMIT:
            _SETS.popitem(last=False)
        _remember(fast_key, policy_set, identity_policies, scps)
    return policy_set.evaluate(request)


def _names_only_account(principal: PrincipalSpec, prepared: PreparedRequest) -> bool:
    """True when the resource policy matched the caller only through its account's root ARN."""
    others = prepared.identifiers - {account_root(prepared.account or "")}
    return others.isdisjoint(principal.aws | principal.service | principal.federated | principal.canonical_user)
