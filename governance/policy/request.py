"""A request as the evaluator sees it, prepared once, and the decision it gets back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from .document import PolicyType
from .principals import PrincipalFacts, principal_facts
from .service_rules import ResourceFacts, resource_facts

ContextValue = str | bool | int | float | Sequence[str | bool | int | float]


class Outcome(StrEnum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit_deny"
    EXPLICIT_DENY = "explicit_deny"


class StatementRef(NamedTuple):
    """Names one statement: the policy type and name, and the statement's Sid (or ``#index``)."""

    policy_type: PolicyType
    policy: str
    sid: str | None
    index: int  # type: ignore[assignment]  # the statement's position (shadows tuple.index)

    def __str__(self) -> str:
        label = self.sid if self.sid else f"#{self.index}"
        return f"{self.policy_type.value} {self.policy or '(unnamed)'} {label}"


class Decision(NamedTuple):
    """The outcome, the statements that decided it, and a one-line reason for people.

    ``statements`` holds every matching Deny for EXPLICIT_DENY, and for ALLOW the allowing statement
    of each gate passed (RCP and SCP levels, identity or resource policies, boundary, session policy,
    VPC endpoint policy). Immutable; a named tuple because one is built per evaluation. Truthy only for
    ALLOW.
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

    ``principal`` is the caller's ARN (for a role session the ``assumed-role`` session ARN), a service
    principal (``ec2.amazonaws.com``), a federated identity provider when evaluating trust policies, or
    :data:`~governance.policy.principals.ANONYMOUS` for an unauthenticated request.
    ``principal_arn`` is ``aws:PrincipalArn`` (the role ARN for a session; derived when omitted; give it
    with its path to mark a service-linked or reserved role).
    ``context`` keys are case-insensitive; values may be lists (multi-valued keys such as aws:TagKeys).
    ``now`` fills aws:CurrentTime/aws:EpochTime when the context does not; it defaults to the clock.
    ``resource_account`` is the account that owns the resource; when omitted it is read from the ARN, else
    from an ``aws:ResourceAccount`` context value. When none of them says (S3 ARNs name no account), the
    evaluator does not assume: it allows only what both the caller's own account and another would allow.
    ``resource_managed_by_aws`` marks a resource AWS manages for you (an AWS managed KMS key).
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
    resource_managed_by_aws: bool = False


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


_MULTI = (list, tuple, set, frozenset)
# Context keys repeat from request to request: each is lower-cased once (bounded, as keys come from code
# and policies, not from callers' data; past the bound a key is lower-cased on every use).
_KEYS: dict[str, str] = {}
_TAG_KEYS: dict[str, str] = {}
_KEYS_LIMIT = 4096


def _key(key: str) -> str:
    lowered = key.lower()
    if len(_KEYS) < _KEYS_LIMIT:
        _KEYS[key] = lowered
    return lowered


def _tag_key(tag: str) -> str:
    lowered = "aws:principaltag/" + tag.lower()
    if len(_TAG_KEYS) < _KEYS_LIMIT:
        _TAG_KEYS[tag] = lowered
    return lowered


class PreparedRequest(NamedTuple):
    """A request with its context normalized (lower-case keys, tuple values) and what the evaluator derives
    from its principal and resource."""

    request: Request
    action: str
    resource: str
    context: dict[str, tuple[str, ...]]
    identifiers: frozenset[str]
    account: str | None
    exact: str
    facts: PrincipalFacts
    resource_account: str | None
    resource_facts: ResourceFacts


def prepare(request: Request, *, resource: str | None = None) -> PreparedRequest:
    """Normalize a request once: lower-case context keys, tuple values, derived aws:* keys.

    ``resource`` replaces the request's resource (a question over many resources prepares one request
    per example resource without copying the rest).
    """
    facts = principal_facts(request.principal, request.principal_arn, request.username, request.userid)
    context: dict[str, tuple[str, ...]] = facts.context.copy()
    tags = request.principal_tags
    if tags:
        for tag, value in tags.items():
            context[_TAG_KEYS.get(tag) or _tag_key(tag)] = (value,)
    now = request.now
    if now is None:
        now = datetime.now(UTC).replace(microsecond=0)
    context["aws:currenttime"], context["aws:epochtime"] = _time_values(now)
    resource = request.resource if resource is None else resource
    about = resource_facts(resource)
    resource_account = request.resource_account or about.account
    if resource_account is not None:
        context["aws:resourceaccount"] = (resource_account,)
    for key, given in request.context.items():
        key = _KEYS.get(key) or _key(key)
        if type(given) is str:
            context[key] = (given,)
        elif isinstance(given, _MULTI):
            context[key] = tuple(_text(item) for item in given)
        else:
            context[key] = (_text(given),)
    if resource_account is None:
        # AWS sets aws:ResourceAccount on the request ("AWS global condition context keys"); given that way,
        # it says whose the resource is when its ARN cannot. One value only: several say nothing certain.
        stated = context.get("aws:resourceaccount")
        if stated is not None and len(stated) == 1 and stated[0]:
            resource_account = stated[0]
    return PreparedRequest(
        request,
        request.action.lower(),
        resource,
        context,
        facts.identifiers,
        facts.account,
        request.principal,
        facts,
        resource_account,
        about,
    )
