"""Questions over many resources (and actions): allowed for all, some or none of them, and why.

A request whose resource is a pattern (``arn:aws:s3:::*``, ``arn:aws:iam::*:role/*``, ``*``) and whose
action may be one (``ec2:*``) asks about every resource and action it matches. The evaluator answers it
exactly, without listing resources: the Resource patterns of the statements that can apply split the
matching resources into regions that every gate (identity policies, boundary, session policy, each SCP and
RCP level, endpoint and resource policies) and every Deny list treat alike, and one example resource per
region is evaluated with the ordinary evaluator (conditions, principals and service rules included).
Actions are grouped the same way from the IAM catalog (actions that the same statements name and the same
service rules govern are decided alike).

    answer = ask(policy_set, Request(principal=role_arn, action="iam:PassRole", resource="*"))
    answer.coverage              # Coverage.ALL / SOME / NONE
    for part in answer.parts:    # one per region (and group of actions)
        part.actions, part.example, part.matches, part.excludes, part.decision.statements

    # Findings: who can pass any role?
    for principal, answer in ask_many(action="iam:PassRole", resource="*", subjects=principals_and_sets):
        if answer.coverage is Coverage.ALL: ...

    # Impact analysis: who loses ec2:* somewhere if this SCP changes?
    change = compare(before_set, after_set, Request(principal=arn, action="ec2:*", resource="*"))
    change.lost                  # parts allowed before and denied after, with both decisions

The question is about resources in one account, for the cross-account rules: the request's
``resource_account`` when given, else the account the resource pattern names literally, else the caller's
own ("who can pass any role?" means any role of the caller's account).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .catalog import expand_actions
from .document import Effect, Statement
from .errors import PolicyError
from .patterns import ANY, STAR, Part, Token, glob_tokens, has_wildcard, matches_tokens, regions
from .request import Decision, PreparedRequest, Request, StatementRef, prepare
from .service_rules import action_rules

if TYPE_CHECKING:
    from .evaluate import PolicySet

_ACCOUNT = re.compile(r"^\d{12}$")


class Coverage(StrEnum):
    ALL = "all"
    SOME = "some"
    NONE = "none"


class _Described:
    """``matches``/``excludes``: the Resource patterns of the policies (those that can decide the question)
    that the part's example matches and does not match, worked out when asked for."""

    example: str
    patterns: tuple[tuple[Token, ...], ...]

    @property
    def matches(self) -> tuple[str, ...]:
        return tuple(_text(tokens) for tokens in self.patterns if matches_tokens(tokens, self.example))

    @property
    def excludes(self) -> tuple[str, ...]:
        return tuple(_text(tokens) for tokens in self.patterns if not matches_tokens(tokens, self.example))


@dataclass(frozen=True, slots=True)
class PatternPart(_Described):
    """One region of a question: its actions, an example resource, and the decision for all of them.

    Every resource of the region is decided like ``example``: the same gates allow it and the same Deny
    lists apply (``decision`` names the statements that decide the example; another resource of the part
    may be allowed by another statement of the same gate).
    """

    actions: tuple[str, ...]
    example: str
    decision: Decision
    patterns: tuple[tuple[Token, ...], ...] = field(default=(), repr=False, compare=False)

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


@dataclass(frozen=True, slots=True)
class PatternAnswer:
    """Whether ``action`` is allowed on all, some or none of the resources ``resource`` matches."""

    action: str
    resource: str
    coverage: Coverage
    parts: tuple[PatternPart, ...]

    @property
    def allowed_parts(self) -> tuple[PatternPart, ...]:
        return tuple(part for part in self.parts if part.allowed)

    @property
    def denied_parts(self) -> tuple[PatternPart, ...]:
        return tuple(part for part in self.parts if not part.allowed)

    @property
    def statements(self) -> tuple[StatementRef, ...]:
        """The statements that allow the allowed parts, each once, in the order the parts name them."""
        return tuple(dict.fromkeys(ref for part in self.allowed_parts for ref in part.decision.statements))


@dataclass(frozen=True, slots=True)
class PatternShift(_Described):
    """A region whose decision differs between two policy sets."""

    actions: tuple[str, ...]
    example: str
    before: Decision
    after: Decision
    patterns: tuple[tuple[Token, ...], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PatternChange:
    """What changes for a question between two policy sets (e.g. before and after an SCP edit)."""

    action: str
    resource: str
    before: Coverage
    after: Coverage
    lost: tuple[PatternShift, ...]  # allowed before, denied after
    gained: tuple[PatternShift, ...]  # denied before, allowed after


def ask(policy_set: PolicySet, request: Request) -> PatternAnswer:
    """Answer ``request`` (its action and resource may be patterns) against one policy set."""
    parts = tuple(
        PatternPart(actions, example, decisions[0], patterns)
        for actions, example, patterns, decisions in _explore(request, (policy_set,))
    )
    return PatternAnswer(request.action, request.resource, _coverage(part.allowed for part in parts), parts)


def evaluate_pattern(request: Request, **policies: Any) -> PatternAnswer:
    """:func:`~governance.policy.evaluate.evaluate` for a question: the same keyword arguments
    (``identity_policies``, ``scps``, ``rcps``, ``resource_policies``...), answered by :func:`ask`."""
    from .evaluate import cached_policy_set

    return ask(cached_policy_set(**policies), request)


def ask_many(
    *,
    action: str,
    resource: str,
    subjects: Iterable[tuple[str, PolicySet]],
    context: dict[str, Any] | None = None,
    **request: Any,
) -> Iterator[tuple[str, PatternAnswer]]:
    """The same question for many principals: ``subjects`` are ``(principal ARN, its PolicySet)`` pairs.

    Extra keyword arguments go to each :class:`Request` (``now``, ``resource_account``...). Shared
    policies share their compiled plans and the split of resources, so a thousand principals cost little
    more than their distinct policies.
    """
    for principal, policy_set in subjects:
        question = Request(principal=principal, action=action, resource=resource, context=context or {}, **request)
        yield principal, ask(policy_set, question)


def compare(before: PolicySet, after: PolicySet, request: Request) -> PatternChange:
    """Which regions of the question change decision from ``before`` to ``after``.

    Both sets' Resource patterns split the resources, so a region allowed before is never hidden inside a
    larger region after.
    """
    lost: list[PatternShift] = []
    gained: list[PatternShift] = []
    was: list[bool] = []
    now: list[bool] = []
    for actions, example, patterns, (old, new) in _explore(request, (before, after)):
        was.append(old.allowed)
        now.append(new.allowed)
        if old.allowed != new.allowed:
            shift = PatternShift(actions, example, old, new, patterns)
            (lost if old.allowed else gained).append(shift)
    return PatternChange(request.action, request.resource, _coverage(was), _coverage(now), tuple(lost), tuple(gained))


def clear_caches() -> None:
    """Forget every automaton, split and per-statement answer the questions cached (a cold start)."""
    from . import patterns

    for cached in (patterns._automaton, patterns._union, patterns.disjoint, patterns.includes, patterns.glob_tokens):
        cached.cache_clear()
    for cached in (_regions, _text, _tokens, _catalog_actions):
        cached.cache_clear()
    _NAMED.clear()


def _coverage(allowed: Iterable[bool]) -> Coverage:
    flags = set(allowed)
    if flags == {True}:
        return Coverage.ALL
    if True in flags:
        return Coverage.SOME
    return Coverage.NONE


Found = tuple[tuple[str, ...], str, tuple[tuple[Token, ...], ...], list[Decision]]


def _explore(request: Request, sets: Sequence[PolicySet]) -> Iterator[Found]:
    question = glob_tokens(request.resource)
    account = request.resource_account or _pattern_account(request.resource) or prepare(request).account
    for actions in _action_classes(request.action, sets):
        asked = dataclasses.replace(request, action=actions[0], resource_account=account)
        prepared = prepare(asked)
        action = actions[0].lower()
        groups: list[tuple[Part, ...]] = []
        for policy_set in sets:
            groups.extend(_groups(policy_set._plan(action), prepared))
        groups.extend(((tokens,),) for tokens in _tokens(action_rules(action).resource_patterns))
        unique = tuple(dict.fromkeys(groups))
        patterns = tuple(dict.fromkeys(tokens for group in unique for part in group for tokens in part))
        for _vector, example in _regions(question, unique):
            decisions = [policy_set.evaluate(prepare(asked, resource=example)) for policy_set in sets]
            yield actions, example, patterns, decisions


def _groups(plan: Any, prepared: PreparedRequest) -> list[tuple[Part, ...]]:
    """The unions of Resource patterns whose membership decides the request, for one policy set.

    The decision depends on the resource only through: whether some Deny applies, whether each gate (the
    identity policies, the boundary, the session policy, each SCP and RCP level, the endpoint policy, each
    resource policy by how it names the caller) has an Allow that applies. So each of those is one union
    of the Resource patterns of the statements that can apply here (their conditions and principal do not
    depend on the resource), a NotResource statement a union of its own; a gate that allows every resource
    contributes nothing, and neither does a Deny list once one Deny covers everything. A union is kept as
    one part per policy, so principals sharing a managed policy share its automaton.
    """
    context, identifiers = prepared.context, prepared.identifiers
    groups: list[tuple[Part, ...]] = []

    def applicable(statement: Statement, *, check_principal: bool) -> bool:
        # A Deny with NotPrincipal may apply whoever is named (a principal with a boundary): kept.
        spared = statement.not_principal and statement.effect is Effect.DENY
        if (
            check_principal
            and statement.principal is not None
            and not spared
            and not statement.matches_principal(identifiers)
        ):
            return False
        return statement.conditions_hold(context)

    def union(candidates: list[tuple[StatementRef, Statement]]) -> bool:
        """Adds the candidates' unions; True when they cover every resource."""
        parts: dict[str, list[tuple[Token, ...]]] = {}
        negated: list[tuple[tuple[Token, ...], ...]] = []
        for ref, statement in candidates:
            entries = statement.resource_tokens(context)
            if statement.resources is None or (not statement.not_resource and "*" in statement.resources):
                return True
            if statement.not_resource:
                if statement.effect is Effect.ALLOW and len(entries) < len(statement.resources):
                    continue  # an unresolvable NotResource entry: the Allow never applies
                if not entries:
                    return True
                negated.append(tuple(entries))
            else:
                parts.setdefault(f"{ref.policy_type}:{ref.policy}", []).extend(entries)
        if parts:
            unique = dict.fromkeys(tuple(dict.fromkeys(entries)) for entries in parts.values() if entries)
            groups.append(tuple(unique))
        groups.extend((entries,) for entries in negated)
        return False

    # The Denies that apply to this caller; RCP Denies apart, as whether RCPs apply depends on the resource
    # (along the service rules' own patterns, which are groups of their own).
    scps = 0 if prepared.facts.scp_exempt else plan.scp_bit
    always, with_rcps = plan.denies[scps], plan.denies[scps + 2]
    denies = [candidate for candidate, check in always if applicable(candidate[1], check_principal=check)]
    if union(denies):
        return []  # everything is denied: one region
    start = len(groups)
    rcp_denies = [c for c, check in with_rcps[len(always) :] if applicable(c[1], check_principal=check)]
    if union(rcp_denies):
        del groups[start:]  # denied wherever RCPs apply: the service rules' patterns split that already
    gates = [plan.identity_allows, *plan.scp_levels, *plan.rcp_levels]
    gates += [gate for gate in (plan.boundary_allows, plan.session_allows, plan.vpce_allows) if gate is not None]
    for gate in gates:
        start = len(groups)
        if union([candidate for candidate in gate if applicable(candidate[1], check_principal=True)]):
            del groups[start:]
    for _label, allows in plan.resource_gates:
        kinds: dict[int, list[tuple[StatementRef, Statement]]] = {}
        for candidate in allows:
            if applicable(candidate[1], check_principal=True):
                kinds.setdefault(_grant_kind(candidate[1], prepared), []).append(candidate)
        for candidates in kinds.values():
            start = len(groups)
            if union(candidates):
                del groups[start:]
    return [group for group in groups if group]


@lru_cache(maxsize=64)
def _tokens(patterns: tuple[str, ...]) -> tuple[tuple[Token, ...], ...]:
    return tuple(glob_tokens(pattern) for pattern in patterns)


def _pattern_account(pattern: str) -> str | None:
    """The account a resource pattern names literally (``arn:aws:sqs:*:444455556666:*``), if any."""
    parts = pattern.split(":", 5)
    return parts[4] if len(parts) == 6 and _ACCOUNT.match(parts[4]) else None


def _grant_kind(statement: Statement, prepared: PreparedRequest) -> int:
    from .evaluate import PolicySet

    return PolicySet._need((None, statement), prepared)  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def _regions(question: tuple[Token, ...], groups: tuple[tuple[Part, ...], ...]) -> list:
    try:
        return regions(question, groups)
    except ValueError as exc:
        raise PolicyError(f"cannot split the resources of this question: {exc}") from None


@lru_cache(maxsize=16384)
def _text(tokens: tuple[Token, ...]) -> str:
    """A token pattern back as policy text (a literal wildcard character written as its escape)."""
    out = []
    for token in tokens:
        if token is STAR:
            out.append("*")
        elif token is ANY:
            out.append("?")
        else:
            out.append({"*": "${*}", "?": "${?}", "$": "${$}"}.get(token, token))  # type: ignore[arg-type]
    return "".join(out)


def _action_classes(action: str, sets: Sequence[PolicySet]) -> list[tuple[str, ...]]:
    """The actions a (possibly wildcard) action names, grouped into those every statement treats alike.

    Partition refinement: start from the groups the service rules make, then split every group by each
    statement that could name some of the actions (whether it names each one is cached per statement, so
    principals sharing a managed policy share the work).
    """
    if not has_wildcard(action):
        return [(action,)]
    names, lowered, by_rules = _catalog_actions(action)
    service = action.partition(":")[0].lower()
    statements: dict[int, Statement] = {}
    for policy_set in sets:
        for policy in policy_set.policies():
            candidates = (
                policy.statements
                if has_wildcard(service)
                else (*policy._by_service.get(service, ()), *policy._any_service)
            )
            for statement in candidates:
                statements[id(statement)] = statement
    classes = [list(group) for group in by_rules]
    for statement in statements.values():
        hits = _named_by(statement, action, lowered)
        if not hits:
            continue
        refined = []
        for group in classes:
            inside = [index for index in group if index in hits]
            if inside and len(inside) < len(group):
                refined.append(inside)
                refined.append([index for index in group if index not in hits])
            else:
                refined.append(group)
        classes = refined
    return [tuple(names[index] for index in group) for group in classes]


@lru_cache(maxsize=256)
def _catalog_actions(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """The catalog actions of a pattern, their lower-cased names, and their indices grouped by service rules."""
    names = tuple(sorted(expand_actions(pattern)))
    if not names:
        raise PolicyError(f"{pattern!r} matches no action in the IAM catalog")
    lowered = tuple(name.lower() for name in names)
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, name in enumerate(lowered):
        groups.setdefault(action_rules(name).key, []).append(index)
    return names, lowered, tuple(tuple(group) for group in groups.values())


_NAMED: dict[tuple[int, str], tuple[Statement, frozenset[int]]] = {}


def _named_by(statement: Statement, pattern: str, lowered: tuple[str, ...]) -> frozenset[int]:
    """The indices of the pattern's actions that the statement's Action/NotAction names (cached)."""
    key = (id(statement), pattern)
    found = _NAMED.get(key)
    if found is None or found[0] is not statement:
        if len(_NAMED) >= 65536:
            _NAMED.clear()
        hits = frozenset(index for index, name in enumerate(lowered) if statement.matches_action(name))
        found = _NAMED[key] = (statement, hits)  # holding the statement keeps its id from being reused
    return found[1]
