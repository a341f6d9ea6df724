"""The offline evaluator: would AWS allow this request, and which statements decide it?

Follows the IAM User Guide's "Policy evaluation logic" (single-account and cross-account pages) and the
Organizations guide's SCP and RCP evaluation:

1. An explicit Deny in any applicable policy (RCPs, SCPs, resource policies, identity policies,
   permissions boundary, session policy, VPC endpoint policy) decides: EXPLICIT_DENY. A Deny with
   ``NotPrincipal`` spares a caller only when its account, role and session are all named, and never a
   principal with a permissions boundary ("Permissions boundaries for IAM entities").
2. Service rules (:mod:`.service_rules`): changes AWS refuses outright (an AWS managed KMS key's policy,
   a service-linked or reserved role's policies) are IMPLICIT_DENY whatever the policies say.
3. RCPs, where they apply (the resource's service supports them, the resource is not in the management
   account, the caller is not a service-linked role...): every level of the organization (root, each
   OU, the account owning the resource) needs an RCP statement that allows the request.
4. SCPs, unless the caller is in the management account, is a service-linked role, or is not an IAM
   principal at all: every level (root, each OU, the caller's account) needs an allowing SCP statement.
5. A VPC endpoint policy, when the request goes through an endpoint, must allow it.
6. Resource-based policies (several may be consulted: an S3 access point's and its bucket's, each must
   permit the request):
   * same account: a grant naming the caller's exact ARN (IAM user, role session) permits without
     identity policies, boundary or session policy; a grant to the role ARN, ``*`` or through
     ``NotPrincipal`` still needs the boundary and session policy; a grant to the account root only
     delegates to IAM; a policy that grants nothing leaves it to the identity side. KMS key policies and
     role trust policies are required: without their grant nothing allows the request.
   * cross-account (the resource's account differs from the caller's): the identity side (identity
     policy, boundary, session policy) AND every resource policy must allow.
   * unknown account (the ARN names none, as S3's do, and the request gives no ``resource_account`` nor
     ``aws:ResourceAccount``): allowed only when it would be both in the caller's account and in another;
     otherwise IMPLICIT_DENY, the reason saying the account is unknown (:data:`UNKNOWN_ACCOUNT`).
   * service principals, identity providers and anonymous callers have no identity side and no account:
     only resource-based policies grant them anything.
7. Otherwise an identity policy must allow (the account's root user has full access in its own account);
   then the permissions boundary and the session policy, when present, must allow too.

Not modelled: ACLs, KMS grants, S3 Object Ownership and Block Public Access, the root-user tasks SCPs
cannot restrict.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .document import Policy, PolicyType, PrincipalSpec, Statement, account_root, as_policy
from .principals import PrincipalKind
from .request import ContextValue, Decision, Outcome, PreparedRequest, Request, StatementRef, prepare
from .service_rules import ActionRules, action_rules

if TYPE_CHECKING:
    from .questions import PatternAnswer

__all__ = [
    "ContextValue",
    "Decision",
    "Outcome",
    "PolicySet",
    "PolicyType",
    "PreparedRequest",
    "Request",
    "StatementRef",
    "evaluate",
    "prepare",
]

Candidate = tuple[StatementRef, Statement]
# The reason a decision gives when the resource's owner is unknown and the answer depends on it.
UNKNOWN_ACCOUNT = "the resource's account is unknown; give aws:ResourceAccount"
# Stands for "an account other than the caller's" when deciding an accountless resource both ways.
_ANOTHER_ACCOUNT = "(another account)"
Levels = Iterable[Policy | Iterable[Policy]]


def _levels(scps: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Organization levels as tuples; a bare policy (or document) counts as a level of its own."""
    levels: list[tuple[Any, ...]] = []
    for level in scps:
        if type(level) is tuple:
            levels.append(level)
        elif isinstance(level, Policy | str | bytes | Mapping):
            levels.append((level,))
        else:
            levels.append(tuple(level))
    return levels


# How much of the identity side a resource-based grant still needs (same account).
_EXACT, _LIMITS, _IDENTITY = 0, 1, 2
# Callers a grant can name exactly (an IAM user ARN, a role session ARN, a federated user session ARN).
_EXACT_KINDS = frozenset({PrincipalKind.USER, PrincipalKind.ROLE_SESSION, PrincipalKind.FEDERATED_USER})


@dataclass(frozen=True, slots=True)
class _Plan:
    """The statements of a policy set whose Action/NotAction match one action, grouped by role."""

    rules: ActionRules
    resourceful: bool  # resource-based policies to consult, or a service rule that requires one
    refusable: bool  # a service rule may refuse this action outright
    plain: bool  # identity policies, boundary, session policy and SCPs are all that can decide
    scp_bit: int  # 1 when SCP levels apply to this action (the caller may still be exempt)
    # (candidate, check principal) for every Deny, by whether SCPs and RCPs apply: [neither, SCPs, RCPs, both]
    denies: tuple[tuple[tuple[Candidate, bool], ...], ...]
    scp_levels: tuple[tuple[Candidate, ...], ...]
    scp_names: tuple[str, ...]
    rcp_levels: tuple[tuple[Candidate, ...], ...]
    rcp_names: tuple[str, ...]
    resource_gates: tuple[tuple[str, tuple[Candidate, ...]], ...]  # (label, allows) per resource policy
    identity_allows: tuple[Candidate, ...]
    boundary_allows: tuple[Candidate, ...] | None
    session_allows: tuple[Candidate, ...] | None
    vpce_allows: tuple[Candidate, ...] | None
    # When every SCP level's first candidate matches unconditionally (FullAWSAccess), its refs.
    scp_grants: tuple[StatementRef, ...] | None = None
    rcp_grants: tuple[StatementRef, ...] | None = None


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


def _label(kind: PolicyType, policy: Policy | None) -> str:
    names = {
        PolicyType.BOUNDARY: "permissions boundary",
        PolicyType.SESSION: "session policy",
        PolicyType.VPC_ENDPOINT: "VPC endpoint policy",
        PolicyType.TRUST: "trust policy",
        PolicyType.RESOURCE: "resource policy",
    }
    label = names[kind]
    return f"{label} {policy.name}" if policy is not None and policy.name else label


class PolicySet:
    """The policies that apply to one principal's requests, compiled for repeated evaluation.

    Keeps a per-action plan (which statements of which policies can match the action) so evaluating a
    request only visits statements that name its action. Build one per principal and reuse it;
    :func:`evaluate` does this for you behind a small identity-keyed cache. Every policy is checked
    against the rules of its role (a resource policy statement without Principal, an identity policy
    with one, an RCP naming someone other than ``*`` are refused with :class:`PolicyError`).

        policy_set = PolicySet(
            identity_policies=[reader], permissions_boundary=boundary,
            scps=[[full_access], [full_access, ou_guardrail], [full_access]],  # root, OU, account
            rcps=[[rcp_full_access, perimeter], [rcp_full_access]],  # root, account of the resource
            resource_policies=[bucket_policy],
        )
        policy_set.evaluate(Request(principal=session_arn, action="s3:GetObject", resource=object_arn))
        policy_set.evaluate_pattern(Request(principal=session_arn, action="s3:*", resource="arn:aws:s3:::*"))
    """

    __slots__ = (
        "_plans",
        "boundary",
        "identity",
        "levels",
        "management_account",
        "rcp_levels",
        "resource",
        "resource_in_management_account",
        "resources",
        "session",
        "vpc_endpoint",
    )

    def __init__(
        self,
        *,
        identity_policies: Iterable[Policy] = (),
        permissions_boundary: Policy | None = None,
        scps: Levels = (),
        session_policy: Policy | None = None,
        resource_policy: Policy | None = None,
        management_account: bool = False,
        rcps: Levels = (),
        resource_policies: Iterable[Policy] = (),
        vpc_endpoint_policy: Policy | None = None,
        resource_in_management_account: bool = False,
    ) -> None:
        """``scps`` and ``rcps`` are lists of levels from the root down to the account (the caller's account
        for SCPs, the resource's for RCPs), each a list of the policies attached there; an empty ``rcps``
        means RCPs are not enabled, an empty level means nothing attached there (which denies: AWS always
        attaches RCPFullAWSAccess). ``resource_policy`` and ``resource_policies`` are the resource-based
        policies consulted for the request (a bucket policy; an access point's and its bucket's; a key
        policy; a role's trust policy). ``management_account``: the caller is in the management account
        (SCPs do not apply); ``resource_in_management_account``: the resource is (RCPs do not apply).
        """

        def single(policy: Policy | None, kind: PolicyType) -> Policy | None:
            return as_policy(policy, kind=kind) if policy is not None else None

        self.identity = tuple(as_policy(policy, kind=PolicyType.IDENTITY) for policy in identity_policies)
        self.boundary = single(permissions_boundary, PolicyType.BOUNDARY)
        self.levels = tuple(
            tuple(as_policy(policy, kind=PolicyType.SCP) for policy in level) for level in _levels(scps)
        )
        self.rcp_levels = tuple(
            tuple(as_policy(policy, kind=PolicyType.RCP) for policy in level) for level in _levels(rcps)
        )
        self.session = single(session_policy, PolicyType.SESSION)
        self.resource = single(resource_policy, PolicyType.RESOURCE)
        extra = tuple(as_policy(policy, kind=PolicyType.RESOURCE) for policy in resource_policies)
        self.resources = ((self.resource,) if self.resource is not None else ()) + extra
        self.vpc_endpoint = single(vpc_endpoint_policy, PolicyType.VPC_ENDPOINT)
        self.management_account = management_account
        self.resource_in_management_account = resource_in_management_account
        self._plans: dict[str, _Plan] = {}

    def policies(self) -> Iterator[Policy]:
        """Every policy of the set, whatever its role."""
        yield from self.identity
        for level in (*self.levels, *self.rcp_levels):
            yield from level
        yield from self.resources
        for single in (self.boundary, self.session, self.vpc_endpoint):
            if single is not None:
                yield single

    def _plan(self, action: str) -> _Plan:
        plan = self._plans.get(action)
        if plan is not None:
            return plan
        rules = action_rules(action)
        denies: list[tuple[Candidate, bool]] = []
        # A Deny with NotPrincipal always denies a principal with a permissions boundary.
        bounded = self.boundary is not None

        def split(policy_type: PolicyType, policy: Policy, *, principal: bool) -> tuple[list[Candidate], list]:
            allow, deny = policy.statements_for(action)
            found = _candidates(policy_type, policy, deny)
            if policy_type not in (PolicyType.SCP, PolicyType.RCP):
                denies.extend((c, principal and not (bounded and c[1].not_principal)) for c in found)
            return _candidates(policy_type, policy, allow), found

        identity: list[Candidate] = []
        for policy in self.identity:
            identity.extend(split(PolicyType.IDENTITY, policy, principal=False)[0])
        boundary = split(PolicyType.BOUNDARY, self.boundary, principal=False)[0] if self.boundary else None
        session = split(PolicyType.SESSION, self.session, principal=False)[0] if self.session else None

        def levels(policy_type: PolicyType, source: tuple[tuple[Policy, ...], ...]):
            allows: list[tuple[Candidate, ...]] = []
            names: list[str] = []
            level_denies: list[Candidate] = []
            for level in source:
                level_allows: list[Candidate] = []
                for policy in level:
                    allow, deny = split(policy_type, policy, principal=policy_type is PolicyType.RCP)
                    level_allows.extend(allow)
                    level_denies.extend(deny)
                allows.append(tuple(level_allows))
                names.append(", ".join(policy.name or "(unnamed)" for policy in level) or "nothing attached")
            grants = (
                tuple(level[0][0] for level in allows)
                if all(level and level[0][1].trivial for level in allows)
                else None
            )
            return tuple(allows), tuple(names), tuple(level_denies), grants

        scp_levels, scp_names, scp_denies, scp_grants = levels(
            PolicyType.SCP, () if self.management_account else self.levels
        )
        rcp_levels, rcp_names, rcp_denies, rcp_grants = levels(
            PolicyType.RCP, () if self.resource_in_management_account or not rules.rcp else self.rcp_levels
        )
        resource_type = PolicyType.TRUST if rules.trust else PolicyType.RESOURCE
        gates = tuple(
            (_label(resource_type, policy), tuple(split(resource_type, policy, principal=True)[0]))
            for policy in self.resources
        )
        vpce = split(PolicyType.VPC_ENDPOINT, self.vpc_endpoint, principal=True)[0] if self.vpc_endpoint else None
        scp_checks = tuple((c, False) for c in scp_denies)
        rcp_checks = tuple((c, True) for c in rcp_denies)
        base = tuple(denies)
        plan = _Plan(
            rules=rules,
            resourceful=bool(gates) or rules.kms or rules.trust,
            refusable=rules.protected_role_change or rules.kms,
            plain=not (
                gates or vpce is not None or rcp_levels or rules.kms or rules.trust or rules.protected_role_change
            ),
            scp_bit=1 if scp_levels else 0,
            denies=(base, base + scp_checks, base + rcp_checks, base + scp_checks + rcp_checks),
            scp_levels=scp_levels,
            scp_names=scp_names,
            rcp_levels=rcp_levels,
            rcp_names=rcp_names,
            resource_gates=gates,
            identity_allows=tuple(identity),
            boundary_allows=tuple(boundary) if boundary is not None else None,
            session_allows=tuple(session) if session is not None else None,
            vpce_allows=tuple(vpce) if vpce is not None else None,
            scp_grants=scp_grants,
            rcp_grants=rcp_grants,
        )
        if len(self._plans) >= 4096:
            self._plans.clear()
        self._plans[action] = plan
        return plan

    def _rcps_apply(self, plan: _Plan, prepared: PreparedRequest) -> bool:
        """RCP exemptions that depend on the request (the action's are settled in the plan)."""
        if not plan.rcp_levels or prepared.facts.service_linked:
            return False
        rules, about = plan.rules, prepared.resource_facts
        if rules.kms and (prepared.request.resource_managed_by_aws or about.aws_managed_alias):
            return False  # AWS managed KMS keys
        return not (rules.trust and about.service_linked_role)  # a service assuming its service-linked role

    def _refusal(self, plan: _Plan, prepared: PreparedRequest) -> str | None:
        """Why AWS refuses the request whatever the policies say, or None."""
        rules, about, facts = plan.rules, prepared.resource_facts, prepared.facts
        if rules.protected_role_change and (about.service_linked_role or about.reserved_role):
            if facts.kind is PrincipalKind.SERVICE or facts.service_linked:
                return None
            what = "service-linked" if about.service_linked_role else "reserved"
            return f"AWS refuses {prepared.request.action} on a {what} role: only its service may change it"
        aws_managed = prepared.request.resource_managed_by_aws or about.aws_managed_alias
        if rules.aws_managed_key_change and aws_managed:
            return f"AWS refuses {prepared.request.action} on an AWS managed key: AWS manages its policy and settings"
        if rules.reserved_alias_change and about.aws_managed_alias:
            return f"AWS refuses {prepared.request.action}: the alias/aws/ prefix is reserved for AWS managed keys"
        return None

    def evaluate(self, request: Request | PreparedRequest) -> Decision:
        """Decide one request (see the module docstring for the rules)."""
        # type() rather than isinstance(): cheaper, and nothing subclasses PreparedRequest.
        prepared = request if type(request) is PreparedRequest else prepare(request)  # type: ignore[arg-type]
        plan = self._plan(prepared.action)
        resource = prepared.resource
        context = prepared.context
        facts = prepared.facts

        # Which organization policies apply: bit 1 SCPs, bit 2 RCPs (also the index of the deny list to use).
        applies = 0 if facts.scp_exempt else plan.scp_bit
        if plan.rcp_levels and self._rcps_apply(plan, prepared):
            applies += 2
        denials: list[StatementRef] = []
        for (ref, statement), check_principal in plan.denies[applies]:
            if (
                statement.resource_test(resource, context)
                and (not check_principal or statement.matches_principal(prepared.identifiers))
                and statement.conditions_hold(context)
            ):
                denials.append(ref)
        if denials:
            return Decision(Outcome.EXPLICIT_DENY, "explicitly denied by", tuple(denials), denials[0])

        granted: list[StatementRef] = []
        if not plan.plain:
            if plan.refusable:
                refusal = self._refusal(plan, prepared)
                if refusal is not None:
                    return Decision(Outcome.IMPLICIT_DENY, refusal)
            if applies & 2:
                refused = self._levels_allow(plan.rcp_grants, plan.rcp_levels, plan.rcp_names, "RCP", prepared, granted)
                if refused is not None:
                    return refused
        if applies & 1:
            if plan.scp_grants is not None:
                granted.extend(plan.scp_grants)
            else:
                refused = self._levels_allow(None, plan.scp_levels, plan.scp_names, "SCP", prepared, granted)
                if refused is not None:
                    return refused

        resource_account = prepared.resource_account
        if resource_account is None:
            if prepared.resource_facts.accountless and facts.account is not None:
                return self._unknown_account(plan, prepared, granted)
            cross_account = False
        else:
            cross_account = resource_account != facts.account and facts.account is not None
        if not plan.plain or not facts.plain or cross_account:
            return self._beyond_identity(plan, prepared, granted, cross_account)

        # The common case: an IAM principal, same account, nothing but identity policies, boundary, session.
        return self._identity_side(plan, prepared, granted)

    def _unknown_account(self, plan: _Plan, prepared: PreparedRequest, granted: list[StatementRef]) -> Decision:
        """The resource's ARN names no account and the request does not say it: decided both ways.

        Allowed only when it would be allowed both in the caller's own account and in another one (where the
        resource's policy must allow too, "Cross-account policy evaluation logic"); otherwise the decision
        fails closed and says what is missing. Everything before this step (Denies, SCPs, RCPs) reads the
        same request either way, so only the identity and resource sides are decided twice.
        """
        same = self._beyond_identity(plan, prepared, granted[:], False)
        if not same.allowed:
            return same
        other = self._beyond_identity(plan, prepared._replace(resource_account=_ANOTHER_ACCOUNT), granted, True)
        if other.allowed:
            return same
        detail = (
            f"{UNKNOWN_ACCOUNT} (allowed if it is the caller's own account {prepared.account}; "
            f"in another account: {other.reason})"
        )
        return Decision(Outcome.IMPLICIT_DENY, detail, other.statements)

    def _beyond_identity(
        self, plan: _Plan, prepared: PreparedRequest, granted: list[StatementRef], cross_account: bool
    ) -> Decision:
        """Steps 5 to 7 of the module docstring when more than the caller's identity side can decide."""
        endpoint: StatementRef | None = None
        if plan.vpce_allows is not None:
            found = _first(plan.vpce_allows, prepared, with_principal=True)
            if found is None:
                detail = f"the {_label(PolicyType.VPC_ENDPOINT, self.vpc_endpoint)} does not allow it"
                return Decision(Outcome.IMPLICIT_DENY, detail, tuple(granted))
            endpoint = found[0]
        if plan.resourceful or endpoint is not None or cross_account or not prepared.facts.has_identity_side:
            return self._with_resource_side(plan, prepared, granted, endpoint, cross_account)
        if prepared.facts.root:
            return Decision(Outcome.ALLOW, "allowed: the account root user has full access", tuple(granted))
        return self._identity_side(plan, prepared, granted)

    def _identity_side(self, plan: _Plan, prepared: PreparedRequest, granted: list[StatementRef]) -> Decision:
        """Step 7: an identity policy allows, then the boundary and the session policy."""
        identity_grant = _first(plan.identity_allows, prepared)
        if identity_grant is None:
            return Decision(Outcome.IMPLICIT_DENY, "no identity-based policy allows it", tuple(granted))
        granted.append(identity_grant[0])
        refused = self._limits(plan, prepared, granted)
        if refused is not None:
            return refused
        return Decision(Outcome.ALLOW, "allowed by", tuple(granted), identity_grant[0])

    def _limits(self, plan: _Plan, prepared: PreparedRequest, granted: list[StatementRef]) -> Decision | None:
        """The permissions boundary and the session policy must allow too: appends their statements, or refuses."""
        if plan.boundary_allows is not None:
            found = _first(plan.boundary_allows, prepared)
            if found is None:
                detail = f"the {_label(PolicyType.BOUNDARY, self.boundary)} does not allow it"
                return Decision(Outcome.IMPLICIT_DENY, detail, tuple(granted))
            granted.append(found[0])
        if plan.session_allows is not None:
            found = _first(plan.session_allows, prepared)
            if found is None:
                detail = f"the {_label(PolicyType.SESSION, self.session)} does not allow it"
                return Decision(Outcome.IMPLICIT_DENY, detail, tuple(granted))
            granted.append(found[0])
        return None

    def _with_resource_side(
        self,
        plan: _Plan,
        prepared: PreparedRequest,
        granted: list[StatementRef],
        endpoint: StatementRef | None,
        cross_account: bool,
    ) -> Decision:
        """Step 6 and 7 of the module docstring when resource-based policies, or their absence, matter."""
        facts, rules = prepared.facts, plan.rules
        grants = [(label, self._best_grant(allows, prepared)) for label, allows in plan.resource_gates]
        if not facts.has_identity_side:
            return self._outside_iam(grants, granted, endpoint, prepared)
        about = prepared.resource_facts
        if cross_account or (rules.kms and about.kms_key) or (rules.trust and about.role):
            if not grants:
                what = "key policy" if rules.kms else "trust policy" if rules.trust else "resource policy"
                where = "cross-account request" if cross_account else f"{prepared.request.action} needs its {what}"
                return Decision(Outcome.IMPLICIT_DENY, f"{where}: no {what} allows it", tuple(granted))
            for label, grant in grants:
                if grant is None:
                    where = ""
                    if cross_account:
                        owner = prepared.resource_account
                        where = " (in another account)" if owner is _ANOTHER_ACCOUNT else f" (in account {owner})"
                    return Decision(Outcome.IMPLICIT_DENY, f"the {label}{where} does not allow it", tuple(granted))
        need = _IDENTITY
        if grants and not cross_account:
            need = max(self._need(grant, prepared) for _label_, grant in grants)
        resource_refs = [grant[0] for _label_, grant in grants if grant is not None]
        if endpoint is not None:
            resource_refs.append(endpoint)
        if need == _EXACT:
            return Decision(
                Outcome.ALLOW, "allowed (names the caller) by", (*granted, *resource_refs), resource_refs[0]
            )
        subject: StatementRef | None = None
        root = facts.root  # full access in its own account, no identity policy needed
        if not root:
            identity_grant = _first(plan.identity_allows, prepared)
            if identity_grant is not None:
                subject = identity_grant[0]
                granted.append(subject)
            elif need == _IDENTITY:
                detail = "no identity-based policy allows it"
                if cross_account:
                    detail += " (a cross-account request needs the caller's identity policy too)"
                return Decision(Outcome.IMPLICIT_DENY, detail, tuple(granted))
        refused = self._limits(plan, prepared, granted)
        if refused is not None:
            return refused
        if subject is None and resource_refs:
            subject = resource_refs[0]
        detail = "allowed (the account root user needs no identity policy) by" if root else "allowed by"
        return Decision(Outcome.ALLOW, detail, (*granted, *resource_refs), subject)

    @staticmethod
    def _levels_allow(
        grants: tuple[StatementRef, ...] | None,
        levels: tuple[tuple[Candidate, ...], ...],
        names: tuple[str, ...],
        what: str,
        prepared: PreparedRequest,
        granted: list[StatementRef],
    ) -> Decision | None:
        """Every organization level must allow: appends each level's allowing statement, or says which does not."""
        if grants is not None:
            granted.extend(grants)
            return None
        for depth, level in enumerate(levels):
            found = _first(level, prepared, with_principal=what == "RCP")
            if found is None:
                detail = f"no {what} at organization level {depth} allows it ({names[depth]})"
                return Decision(Outcome.IMPLICIT_DENY, detail, tuple(granted))
            granted.append(found[0])
        return None

    @classmethod
    def _best_grant(cls, allows: tuple[Candidate, ...], prepared: PreparedRequest) -> Candidate | None:
        """The matching Allow of a resource policy that needs least of the identity side (any grant naming
        the caller exactly is enough, wherever it stands in the policy)."""
        best: Candidate | None = None
        best_need = _IDENTITY + 1
        resource, context, identifiers = prepared.resource, prepared.context, prepared.identifiers
        for candidate in allows:
            statement = candidate[1]
            if (
                statement.resource_test(resource, context)
                and statement.matches_principal(identifiers)
                and statement.conditions_hold(context)
            ):
                need = cls._need(candidate, prepared)
                if need < best_need:
                    best, best_need = candidate, need
                    if need == _EXACT:
                        break
        return best

    @staticmethod
    def _need(grant: Candidate | None, prepared: PreparedRequest) -> int:
        """What a same-account resource-based grant still needs from the identity side."""
        if grant is None:
            return _IDENTITY
        statement = grant[1]
        principal = statement.principal
        if (
            principal is not None
            and not statement.not_principal
            and prepared.exact in principal.aws
            and prepared.facts.kind in _EXACT_KINDS
        ):
            return _EXACT
        if (
            principal is not None
            and not statement.not_principal
            and not principal.everyone
            and _names_only_account(principal, prepared)
        ):
            return _IDENTITY  # a grant to the account delegates to IAM
        return _LIMITS

    @staticmethod
    def _outside_iam(
        grants: list[tuple[str, Candidate | None]],
        granted: list[StatementRef],
        endpoint: StatementRef | None,
        prepared: PreparedRequest,
    ) -> Decision:
        """Service principals, identity providers, anonymous callers: only resource-based policies grant."""
        who = prepared.facts.kind.value.replace("_", " ")
        if not grants:
            return Decision(
                Outcome.IMPLICIT_DENY, f"no resource-based policy allows it (a {who} has no identity policies)"
            )
        for label, grant in grants:
            if grant is None:
                return Decision(Outcome.IMPLICIT_DENY, f"the {label} does not allow the {who}", tuple(granted))
        refs = [grant[0] for _label_, grant in grants if grant is not None]
        if endpoint is not None:
            refs.append(endpoint)
        return Decision(Outcome.ALLOW, "allowed by", (*granted, *refs), refs[0])

    def evaluate_pattern(self, request: Request) -> PatternAnswer:
        """Answer a question over many resources (and actions): see :func:`~governance.policy.questions.ask`."""
        from .questions import ask

        return ask(self, request)


_SETS: OrderedDict[tuple[Any, ...], tuple[PolicySet, tuple[Any, ...]]] = OrderedDict()
_SETS_LIMIT = 256
# key -> (policy set, a snapshot of each container, the containers themselves, held so their ids stay taken)
_FAST: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()
_CONTAINERS = (list, tuple)
_EMPTY: tuple[Any, ...] = ()  # the default of the container arguments, compared by identity


def _snapshot(value: Any) -> Any:
    """A shallow copy of a list of policies or of levels, to notice later mutation of the caller's lists."""
    if type(value) not in _CONTAINERS:
        return value
    return type(value)(item[:] if type(item) in _CONTAINERS else item for item in value)


def _fast_key(
    identity: Any,
    scps: Any,
    boundary: Any,
    session: Any,
    resource: Any,
    management: bool,
    rcps: Any,
    resources: Any,
    vpce: Any,
    resource_management: bool,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The identity key of the caller's arguments, and the containers whose contents must still match."""
    if rcps is _EMPTY and resources is _EMPTY and vpce is None and not resource_management:
        return (id(identity), id(scps), id(boundary), id(session), id(resource), management), (identity, scps)
    key = (id(identity), id(scps), id(boundary), id(session), id(resource), management, id(rcps), id(resources))
    return (*key, id(vpce), resource_management), (identity, scps, rcps, resources)


def _level_key(level: Any) -> Any:
    kind = type(level)
    return tuple(map(id, level)) if kind is list or kind is tuple else id(level)


def cached_policy_set(
    *,
    identity_policies: Iterable[Policy] = (),
    permissions_boundary: Policy | None = None,
    scps: Levels = (),
    session_policy: Policy | None = None,
    resource_policy: Policy | None = None,
    management_account: bool = False,
    rcps: Levels = _EMPTY,
    resource_policies: Iterable[Policy] = _EMPTY,
    vpc_endpoint_policy: Policy | None = None,
    resource_in_management_account: bool = False,
) -> PolicySet:
    """The compiled :class:`PolicySet` for these policies, from a cache keyed by the objects' identity.

    Parsed :class:`Policy` objects are cached (the cache holds them, so an id cannot be reused while
    cached); documents are parsed on every call.
    """
    singles = (permissions_boundary, session_policy, resource_policy, vpc_endpoint_policy)
    flags = (management_account, resource_in_management_account)
    fast_key, containers = _fast_key(
        identity_policies,
        scps,
        permissions_boundary,
        session_policy,
        resource_policy,
        management_account,
        rcps,
        resource_policies,
        vpc_endpoint_policy,
        resource_in_management_account,
    )
    fast = _FAST.get(fast_key)
    if fast is not None and fast[1 : len(containers) + 1] == containers:
        return fast[0]
    identity = identity_policies if type(identity_policies) is tuple else tuple(identity_policies)
    scps = scps if type(scps) in _CONTAINERS else tuple(scps)
    rcps = rcps if type(rcps) in _CONTAINERS else tuple(rcps)
    resources = resource_policies if type(resource_policies) is tuple else tuple(resource_policies)
    key = (
        tuple(map(id, identity)),
        tuple(map(_level_key, scps)),
        tuple(map(_level_key, rcps)),
        tuple(map(id, resources)),
        *map(id, singles),
        *flags,
    )
    entry = _SETS.get(key)
    if entry is None:
        levels, rcp_levels = _levels(scps), _levels(rcps)
        built = PolicySet(
            identity_policies=identity,
            permissions_boundary=permissions_boundary,
            scps=levels,
            session_policy=session_policy,
            resource_policy=resource_policy,
            management_account=management_account,
            rcps=rcp_levels,
            resource_policies=resources,
            vpc_endpoint_policy=vpc_endpoint_policy,
            resource_in_management_account=resource_in_management_account,
        )
        groups = (identity, resources, *levels, *rcp_levels)
        if not all(isinstance(policy, Policy) for group in groups for policy in group) or not all(
            policy is None or isinstance(policy, Policy) for policy in singles
        ):
            return built
        entry = (built, (identity, levels, rcp_levels, resources, singles))
        _SETS[key] = entry
        if len(_SETS) > _SETS_LIMIT:
            _SETS.popitem(last=False)
    if all(type(container) in _CONTAINERS for container in containers):
        _FAST[fast_key] = (entry[0], *map(_snapshot, containers), containers)
        if len(_FAST) > _SETS_LIMIT:
            _FAST.popitem(last=False)
    return entry[0]


def evaluate(
    request: Request | PreparedRequest,
    *,
    identity_policies: Iterable[Policy] = (),
    permissions_boundary: Policy | None = None,
    scps: Levels = (),
    session_policy: Policy | None = None,
    resource_policy: Policy | None = None,
    management_account: bool = False,
    rcps: Levels = _EMPTY,
    resource_policies: Iterable[Policy] = _EMPTY,
    vpc_endpoint_policy: Policy | None = None,
    resource_in_management_account: bool = False,
) -> Decision:
    """Decide ``request`` against the given policies (see the module docstring for the rules).

    ``scps`` is a list of levels from the root down to the caller's account, each a list of the SCPs
    attached there; ``rcps`` likewise down to the resource's account (empty: RCPs not enabled).
    ``management_account=True``: the caller is in the management account (SCPs do not apply);
    ``resource_in_management_account=True``: the resource is (RCPs do not apply).

        evaluate(
            Request(principal=role_session_arn, action="kms:Decrypt", resource=key_arn),
            identity_policies=[app_policy], scps=[[full_access], [ou_guardrail]],
            rcps=[[rcp_full_access, perimeter]], resource_policy=key_policy,
        )
    """
    if (
        rcps is _EMPTY
        and resource_policies is _EMPTY
        and vpc_endpoint_policy is None
        and not resource_in_management_account
    ):
        # The writer gate's shape; keyed like _fast_key does, inline because this runs per evaluation.
        fast = _FAST.get(
            (
                id(identity_policies),
                id(scps),
                id(permissions_boundary),
                id(session_policy),
                id(resource_policy),
                management_account,
            )
        )
        # Same containers with the same contents (list equality checks identity first, element by element).
        if fast is not None and fast[1] == identity_policies and fast[2] == scps:
            return fast[0].evaluate(request)
    return cached_policy_set(
        identity_policies=identity_policies,
        permissions_boundary=permissions_boundary,
        scps=scps,
        session_policy=session_policy,
        resource_policy=resource_policy,
        management_account=management_account,
        rcps=rcps,
        resource_policies=resource_policies,
        vpc_endpoint_policy=vpc_endpoint_policy,
        resource_in_management_account=resource_in_management_account,
    ).evaluate(request)


def _names_only_account(principal: PrincipalSpec, prepared: PreparedRequest) -> bool:
    """True when the resource policy matched the caller only through its account's root ARN."""
    others = prepared.identifiers - {account_root(prepared.account or "")}
    return others.isdisjoint(principal.aws | principal.service | principal.federated | principal.canonical_user)
