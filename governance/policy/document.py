"""Parse IAM policy JSON into an immutable, pre-compiled form.

Accepted: a JSON string/bytes or an already-decoded mapping; ``Statement`` as one object or a list;
``Action``/``NotAction``, ``Resource``/``NotResource``, ``Principal``/``NotPrincipal`` and condition
values as a string or a list of strings. Action matching is case-insensitive, resource matching is
case-sensitive, both with ``*`` and ``?`` wildcards only. A missing ``Version`` means 2008-10-17, the
language version without policy variables. Every shape error raises :class:`PolicyError` naming where.

``parse_policy(..., kind=PolicyType.RESOURCE)`` also applies the rules of that kind of policy (a
resource-based statement needs ``Principal`` or ``NotPrincipal``; identity-based policies and SCPs
cannot name one; RCPs name only ``"*"``...); :class:`~governance.policy.evaluate.PolicySet` applies
them to every policy by the role it is given, so a policy parsed without a kind is checked there.

A policy variable that cannot be resolved fails closed by the statement's effect (IAM User Guide,
"Policy variables with no value"): the string holding it matches nothing. In a Deny, AWS's "null
value" reading holds (a negated operator, or a ``NotResource`` entry, with nothing to compare is
satisfied, so the Deny still applies); in an Allow it never turns into a match (a negated operator or a
``NotResource`` with an unresolvable entry makes the statement not apply), the documented "the entire
statement may be invalid".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .conditions import ConditionClause, Context, parse_condition
from .errors import PolicyError
from .patterns import Matcher, Token, compile_glob, glob_tokens, has_wildcard
from .variables import Template, parse_template

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
VERSIONS = (VERSION_2012, VERSION_2008)

# The elements of the policy language, in the order AWS's documentation and console show them.
DOCUMENT_KEYS = ("Version", "Id", "Statement")
STATEMENT_KEYS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_PRINCIPAL_TYPES = {"AWS", "Service", "Federated", "CanonicalUser"}
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|aws|cloudfront):.+$")
_ACTION = re.compile(r"^[A-Za-z0-9*?_.-]+:[A-Za-z0-9*?_.-]+$")
_ACTION_CACHE_LIMIT = 8192


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class PolicyType(StrEnum):
    """The role a policy plays in a request; also the kind whose rules :func:`parse_policy` applies."""

    IDENTITY = "identity"
    BOUNDARY = "permissions_boundary"
    SCP = "scp"
    RCP = "rcp"
    SESSION = "session"
    RESOURCE = "resource"
    TRUST = "trust"
    VPC_ENDPOINT = "vpc_endpoint"


# Kinds whose statements cannot say whom they apply to (the others must).
IDENTITY_BASED = frozenset({PolicyType.IDENTITY, PolicyType.BOUNDARY, PolicyType.SESSION, PolicyType.SCP})


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """The Principal (or NotPrincipal) element. Account ids are stored as their root ARN."""

    everyone: bool = False
    aws: frozenset[str] = frozenset()
    service: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    canonical_user: frozenset[str] = frozenset()

    def matches(self, identifiers: frozenset[str]) -> bool:
        """True when any identifier of the caller (ARNs, root ARN, service or provider name) is named."""
        if self.everyone:
            return True
        return not (
            identifiers.isdisjoint(self.aws)
            and identifiers.isdisjoint(self.service)
            and identifiers.isdisjoint(self.federated)
            and identifiers.isdisjoint(self.canonical_user)
        )

    def names_all(self, identifiers: frozenset[str]) -> bool:
        """True when every identifier of the caller is named (what exempts it from a Deny with NotPrincipal).

        AWS "might validate the account first, then the role, and then the assumed-role user" (IAM User
        Guide, NotPrincipal), so a caller is spared only when its account, role and session are all listed.
        An anonymous caller has no identifier and is spared only by ``*``.
        """
        if self.everyone:
            return True
        if not identifiers:
            return False
        return identifiers <= (self.aws | self.service | self.federated | self.canonical_user)


def account_root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement; ``index`` is its position in the policy, used with ``sid`` to name it in decisions."""

    index: int
    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[ConditionClause, ...]
    services: frozenset[str] | None = field(compare=False)
    _action_matchers: tuple[Matcher, ...] = field(compare=False, repr=False)
    _resource_matchers: tuple[Matcher, ...] = field(compare=False, repr=False)
    _resource_templates: tuple[Template, ...] = field(compare=False, repr=False)
    _any_resource: bool = field(compare=False, repr=False)
    trivial: bool = field(compare=False, repr=False, default=False)  # any resource, no conditions
    _checks: tuple[Callable[[Context], bool], ...] = field(compare=False, repr=False, default=())
    resource_test: Callable[[str, Context], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Specialize the Resource test once; evaluation calls it for every candidate statement.
        test: Callable[[str, Context], bool] = self.matches_resource
        if self._any_resource:
            test = _never_resource if self.not_resource else _any_resource
        elif len(self._resource_matchers) == 1 and not self._resource_templates and not self.not_resource:
            test = _single_resource(self._resource_matchers[0])
        object.__setattr__(self, "resource_test", test)

    @property
    def label(self) -> str:
        return self.sid if self.sid else f"#{self.index}"

    def matches_action(self, action: str) -> bool:
        """``action`` must already be lower-cased."""
        hit = False
        for matcher in self._action_matchers:
            if matcher(action):
                hit = True
                break
        return hit is not self.not_action

    def matches_resource(self, resource: str, context: Context) -> bool:
        if self._any_resource:
            return not self.not_resource
        hit = False
        for matcher in self._resource_matchers:
            if matcher(resource):
                hit = True
                break
        if not hit:
            for template in self._resource_templates:
                resolved = template.matcher(context)
                if resolved is None:
                    if self.not_resource and self.effect is Effect.ALLOW:
                        return False  # an unresolvable NotResource entry never widens an Allow
                    continue
                if resolved(resource):
                    hit = True
                    break
        return hit is not self.not_resource

    def resource_tokens(self, context: Context) -> list[tuple[Token, ...]]:
        """The Resource/NotResource entries as token patterns under ``context`` (for questions over many
        resources); an entry whose variable cannot be resolved matches nothing and is left out."""
        if self.resources is None:
            return []
        templates = {template.source: template for template in self._resource_templates}
        found = []
        for entry in self.resources:
            template = templates.get(entry)
            tokens = template.tokens(context) if template is not None else glob_tokens(entry)
            if tokens is not None:
                found.append(tokens)
        return found

    def matches_principal(self, identifiers: frozenset[str]) -> bool:
        """Whether the statement applies to the caller: ``Principal`` names it, or ``NotPrincipal`` does not.

        For a Deny with ``NotPrincipal`` the caller is exempt only when all of its identifiers are named.
        """
        principal = self.principal
        if principal is None:
            return True
        if not self.not_principal:
            return principal.matches(identifiers)
        if self.effect is Effect.DENY:
            return not principal.names_all(identifiers)
        return not principal.matches(identifiers)

    def conditions_hold(self, context: Context) -> bool:
        # A plain loop: all() over a generator costs a frame per call on the hot path.
        for check in self._checks:  # noqa: SIM110
            if not check(context):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """The statement back as IAM JSON (lists always, canonical operator names)."""
        out: dict[str, Any] = {}
        if self.sid is not None:
            out["Sid"] = self.sid
        out["Effect"] = self.effect.value
        if self.principal is not None:
            out["NotPrincipal" if self.not_principal else "Principal"] = _principal_json(self.principal)
        out["NotAction" if self.not_action else "Action"] = list(self.actions)
        if self.resources is not None:
            out["NotResource" if self.not_resource else "Resource"] = list(self.resources)
        if self.conditions:
            block: dict[str, dict[str, list[str]]] = {}
            for clause in self.conditions:
                block.setdefault(clause.operator, {})[clause.key] = list(clause.values)
            out["Condition"] = block
        return out


def _any_resource(_resource: str, _context: Context) -> bool:
    return True


def _never_resource(_resource: str, _context: Context) -> bool:
    return False


def _single_resource(matcher: Matcher) -> Callable[[str, Context], bool]:
    def test(resource: str, _context: Context) -> bool:
        return matcher(resource)

    return test


def _principal_json(spec: PrincipalSpec) -> Any:
    if spec.everyone and not (spec.aws or spec.service or spec.federated or spec.canonical_user):
        return "*"
    out: dict[str, list[str]] = {}
    for name, values in (
        ("AWS", spec.aws),
        ("Service", spec.service),
        ("Federated", spec.federated),
        ("CanonicalUser", spec.canonical_user),
    ):
        if values:
            out[name] = sorted(values)
    return out


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy. ``name`` identifies it in decisions (e.g. a managed policy ARN or SCP id)."""

    name: str
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    size: int = field(compare=False)
    _by_service: Mapping[str, tuple[Statement, ...]] = field(compare=False, repr=False)
    _any_service: tuple[Statement, ...] = field(compare=False, repr=False)
    _by_action: dict[str, tuple[tuple[Statement, ...], tuple[Statement, ...]]] = field(
        compare=False, repr=False, default_factory=dict
    )
    _kinds: set[PolicyType] = field(compare=False, repr=False, default_factory=set)

    @property
    def variables_enabled(self) -> bool:
        return self.version == VERSION_2012

    def statements_for(self, action: str) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """``(allow statements, deny statements)`` whose Action/NotAction matches the lower-cased action."""
        cached = self._by_action.get(action)
        if cached is not None:
            return cached
        service = action.partition(":")[0]
        candidates = self._by_service.get(service, ()) + self._any_service
        matching = sorted((s for s in candidates if s.matches_action(action)), key=lambda s: s.index)
        result = (
            tuple(s for s in matching if s.effect is Effect.ALLOW),
            tuple(s for s in matching if s.effect is Effect.DENY),
        )
        if len(self._by_action) >= _ACTION_CACHE_LIMIT:
            self._by_action.clear()
        self._by_action[action] = result
        return result

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Version": self.version}
        if self.id is not None:
            out["Id"] = self.id
        out["Statement"] = [statement.to_json() for statement in self.statements]
        return out


def _strings(value: object, path: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError("must not be an empty list", path=path)
    for position, item in enumerate(items):
        if not isinstance(item, str) or not item:
            where = f"{path}[{position}]" if isinstance(value, list) else path
            raise PolicyError("must be a non-empty string or a list of them", path=where)
    return tuple(items)


def _parse_principal(value: object, path: str) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(everyone=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError('must be "*" or an object such as {"AWS": ...} or {"Service": ...}', path=path)
    found: dict[str, frozenset[str]] = {}
    everyone = False
    for kind, raw in value.items():
        if kind not in _PRINCIPAL_TYPES:
            allowed = ", ".join(sorted(_PRINCIPAL_TYPES))
            raise PolicyError(f"unknown principal type {kind!r} (expected one of {allowed})", path=path)
        names = _strings(raw, f"{path}.{kind}")
        for position, name in enumerate(names):
            where = f"{path}.{kind}[{position}]" if isinstance(raw, list) else f"{path}.{kind}"
            _check_principal_name(kind, name, where)
        if kind == "AWS":
            if "*" in names:
                everyone = True
            names = tuple(account_root(name) if _ACCOUNT_ID.match(name) else name for name in names)
        found[kind] = frozenset(names)
    return PrincipalSpec(
        everyone=everyone,
        aws=found.get("AWS", frozenset()),
        service=found.get("Service", frozenset()),
        federated=found.get("Federated", frozenset()),
        canonical_user=found.get("CanonicalUser", frozenset()),
    )


def _check_principal_name(kind: str, name: str, path: str) -> None:
    """AWS refuses a principal it cannot resolve, and wildcards anywhere but a lone ``*`` (AWS only)."""
    if kind == "AWS":
        if name == "*" or _ACCOUNT_ID.match(name):
            return
        if not _PRINCIPAL_ARN.match(name):
            raise PolicyError(f"{name!r} must be '*', a 12-digit account id or an IAM or STS principal ARN", path=path)
    if has_wildcard(name):
        raise PolicyError(
            f"{name!r}: a principal cannot use wildcards (only a lone '*' for everyone)",
            path=path,
        )


def _one_of(raw: Mapping[str, Any], first: str, second: str, path: str, *, required: bool) -> tuple[str | None, bool]:
    if first in raw and second in raw:
        raise PolicyError(f"cannot have both {first} and {second}", path=path)
    if first in raw:
        return first, False
    if second in raw:
        return second, True
    if required:
        raise PolicyError(f"must have {first} or {second}", path=path)
    return None, False


def _parse_statement(raw: object, index: int, path: str, *, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("must be an object", path=path)
    unknown = sorted(set(raw) - set(STATEMENT_KEYS))
    if unknown:
        raise PolicyError(f"unknown element {unknown[0]!r}", path=path)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError("must be a string", path=f"{path}.Sid")
    effect_raw = raw.get("Effect")
    if effect_raw not in ("Allow", "Deny"):
        raise PolicyError(f"must be Allow or Deny, not {effect_raw!r}", path=f"{path}.Effect")
    effect = Effect(effect_raw)

    action_key, not_action = _one_of(raw, "Action", "NotAction", path, required=True)
    assert action_key is not None
    actions = _strings(raw[action_key], f"{path}.{action_key}")
    services: set[str] | None = set()
    action_matchers = []
    for position, action in enumerate(actions):
        if action != "*" and not _ACTION.match(action):
            raise PolicyError(f"{action!r} must be 'service:action' or '*'", path=f"{path}.{action_key}[{position}]")
        lowered = action.lower()
        action_matchers.append(compile_glob(lowered))
        service = lowered.partition(":")[0]
        if action == "*" or has_wildcard(service):
            services = None
        elif services is not None:
            services.add(service)
    if not_action:
        services = None

    resource_key, not_resource = _one_of(raw, "Resource", "NotResource", path, required=False)
    resources = None
    resource_matchers: list[Matcher] = []
    resource_templates: list[Template] = []
    any_resource = resource_key is None
    if resource_key is not None:
        resources = _strings(raw[resource_key], f"{path}.{resource_key}")
        for position, resource in enumerate(resources):
            where = f"{path}.{resource_key}[{position}]" if len(resources) > 1 else f"{path}.{resource_key}"
            if resource != "*" and not resource.startswith("arn:"):
                raise PolicyError(f"{resource!r} must be an ARN or '*'", path=where)
            template = parse_template(resource, path=where) if variables else None
            if template is not None:
                resource_templates.append(template)
            else:
                resource_matchers.append(compile_glob(resource))
        any_resource = "*" in resources

    principal_key, not_principal = _one_of(raw, "Principal", "NotPrincipal", path, required=False)
    principal = _parse_principal(raw[principal_key], f"{path}.{principal_key}") if principal_key else None

    conditions: tuple[ConditionClause, ...] = ()
    if "Condition" in raw:
        conditions = parse_condition(
            raw["Condition"], path=f"{path}.Condition", variables=variables, strict=effect is Effect.ALLOW
        )

    return Statement(
        index=index,
        sid=sid,
        effect=effect,
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        principal=principal,
        not_principal=not_principal,
        conditions=conditions,
        services=frozenset(services) if services is not None else None,
        _action_matchers=tuple(action_matchers),
        _resource_matchers=tuple(resource_matchers),
        _resource_templates=tuple(resource_templates),
        _any_resource=any_resource,
        trivial=any_resource and not not_resource and not conditions,
        _checks=tuple(clause.check for clause in conditions),
    )


def _decode(document: str | bytes | Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
    if isinstance(document, Mapping):
        return document, len(json.dumps(document, separators=(",", ":")))
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy is not UTF-8: {exc}") from None
    if not isinstance(document, str):
        raise PolicyError(f"policy must be JSON text or an object, not {type(document).__name__}")
    try:
        decoded = json.loads(document)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(decoded, dict):
        raise PolicyError(f"policy must be a JSON object, not {type(decoded).__name__}")
    return decoded, len(document)


_KIND_LABELS = {
    PolicyType.IDENTITY: "an identity-based policy",
    PolicyType.BOUNDARY: "a permissions boundary",
    PolicyType.SESSION: "a session policy",
    PolicyType.SCP: "an SCP",
    PolicyType.RCP: "an RCP",
    PolicyType.RESOURCE: "a resource-based policy",
    PolicyType.TRUST: "a role trust policy",
    PolicyType.VPC_ENDPOINT: "a VPC endpoint policy",
}


def kind_problems(policy: Policy, kind: PolicyType) -> list[tuple[str, str, str]]:
    """``(code, message, path)`` for each rule of ``kind`` the policy breaks (IAM User Guide, "IAM JSON
    policy elements: Principal" and "NotPrincipal"; Organizations guide, "SCP syntax" and "RCP syntax")."""
    label = _KIND_LABELS[kind]
    problems: list[tuple[str, str, str]] = []
    if kind is PolicyType.RCP and policy.version != VERSION_2012:
        problems.append(("RCP_VERSION", f"{label} must use Version {VERSION_2012}", "Version"))
    for statement in policy.statements:
        path = f"Statement[{statement.index}]"
        element = "NotPrincipal" if statement.not_principal else "Principal"
        if kind in IDENTITY_BASED:
            if statement.principal is not None:
                problems.append(("PRINCIPAL_NOT_ALLOWED", f"{label} cannot have {element}", f"{path}.{element}"))
            if statement.resources is None:
                problems.append(("MISSING_RESOURCE", f"{label} statement needs Resource or NotResource", path))
            continue
        if statement.principal is None:
            problems.append(
                (
                    "MISSING_PRINCIPAL",
                    f"{label} statement needs Principal or NotPrincipal (never read as everyone)",
                    path,
                )
            )
        if kind is PolicyType.TRUST and statement.not_principal:
            problems.append(("TRUST_NOTPRINCIPAL", f"{label} cannot use NotPrincipal", f"{path}.NotPrincipal"))
        if kind is not PolicyType.RCP:
            continue
        if statement.not_principal:
            problems.append(("RCP_NOTPRINCIPAL", f"{label} cannot use NotPrincipal", f"{path}.NotPrincipal"))
        elif statement.principal is not None and statement.principal != PrincipalSpec(everyone=True):
            problems.append(("RCP_PRINCIPAL", f'{label} can name only "*" in Principal', f"{path}.Principal"))
        if statement.not_action:
            problems.append(("RCP_NOTACTION", f"{label} cannot use NotAction", f"{path}.NotAction"))
        if statement.resources is None:
            problems.append(("MISSING_RESOURCE", f"{label} statement needs Resource or NotResource", path))
        if statement.effect is Effect.ALLOW and not (
            statement.actions == ("*",) and statement.resources == ("*",) and not statement.conditions
        ):
            problems.append(
                (
                    "RCP_ALLOW",
                    f'{label} allows only as RCPFullAWSAccess does ("Allow" "*" on "*"); write a Deny',
                    f"{path}.Effect",
                )
            )
    return problems


def check_kind(policy: Policy, kind: PolicyType) -> Policy:
    """Raise :class:`PolicyError` (naming the policy and the element) when ``policy`` breaks the rules of
    ``kind``; remembered per policy, so checking a shared policy again costs a set lookup."""
    if kind in policy._kinds:
        return policy
    problems = kind_problems(policy, kind)
    if problems:
        _code, message, path = problems[0]
        named = f" {policy.name!r}" if policy.name else ""
        raise PolicyError(f"{message} (policy{named})", path=path)
    policy._kinds.add(kind)
    return policy


def parse_policy(
    document: str | bytes | Mapping[str, Any], *, name: str = "", kind: PolicyType | None = None
) -> Policy:
    """Parse and compile a policy document; raises :class:`PolicyError` with the failing location.

    With ``kind`` the document must also follow that kind's rules, e.g. ``kind=PolicyType.RESOURCE``
    refuses a statement without ``Principal``/``NotPrincipal``.
    """
    raw, size = _decode(document)
    unknown = sorted(set(raw) - set(DOCUMENT_KEYS))
    if unknown:
        raise PolicyError(f"unknown top-level element {unknown[0]!r}")
    version = raw.get("Version", VERSION_2008)
    if version not in VERSIONS:
        raise PolicyError(f"must be {VERSION_2012} or {VERSION_2008}, not {version!r}", path="Version")
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError("must be a string", path="Id")
    if "Statement" not in raw:
        raise PolicyError("policy has no Statement")
    body = raw["Statement"]
    variables = version == VERSION_2012
    statements: tuple[Statement, ...]
    if isinstance(body, dict):
        statements = (_parse_statement(body, 0, "Statement", variables=variables),)
    elif isinstance(body, list):
        if not body:
            raise PolicyError("must not be an empty list", path="Statement")
        statements = tuple(
            _parse_statement(item, index, f"Statement[{index}]", variables=variables) for index, item in enumerate(body)
        )
    else:
        raise PolicyError("must be an object or a list of objects", path="Statement")
    sids = [s.sid for s in statements if s.sid]
    duplicates = sorted({sid for sid in sids if sids.count(sid) > 1})
    if duplicates:
        raise PolicyError(f"duplicate Sid {duplicates[0]!r}", path="Statement")

    by_service: dict[str, list[Statement]] = {}
    any_service: list[Statement] = []
    for statement in statements:
        if statement.services is None:
            any_service.append(statement)
        else:
            for service in statement.services:
                by_service.setdefault(service, []).append(statement)
    policy = Policy(
        name=name or policy_id or "",
        version=version,
        id=policy_id,
        statements=statements,
        size=size,
        _by_service={service: tuple(items) for service, items in by_service.items()},
        _any_service=tuple(any_service),
    )
    return check_kind(policy, kind) if kind is not None else policy


def as_policy(
    policy: Policy | str | bytes | Mapping[str, Any], *, name: str = "", kind: PolicyType | None = None
) -> Policy:
    """Accept a parsed policy or anything :func:`parse_policy` takes; with ``kind``, check its rules."""
    if isinstance(policy, Policy):
        return check_kind(policy, kind) if kind is not None else policy
    return parse_policy(policy, name=name, kind=kind)
