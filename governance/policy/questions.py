"""Questions over many resources (and actions): allowed for all, some or none of them, and why.

A request whose resource is a pattern (``arn:aws:s3:::*``, ``arn:aws:iam::*:role/*``, ``*``) and whose
action may be one (``ec2:*``) asks about every resource and action it matches. The evaluator answers it
exactly, without listing resources: the policies' own Resource patterns split the matching resources into
regions whose resources every statement treats alike, and one example resource per region is evaluated
with the ordinary evaluator (conditions, boundaries, SCPs, RCPs, resource policies and service rules
included). Actions are grouped the same way from the IAM catalog (actions that the same statements name
and the same service rules govern are decided alike).

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
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .catalog import expand_actions
from .errors import PolicyError
from .patterns import ANY, STAR, Token, glob_tokens, has_wildcard, regions
from .request import Decision, Request, StatementRef, prepare
from .service_rules import action_rules

if TYPE_CHECKING:
    from .evaluate import PolicySet

_ACCOUNT = re.compile(r"^\d{12}$")


class Coverage(StrEnum):
    ALL = "all"
    SOME = "some"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class PatternPart:
    """One region of a question: its actions, an example resource, and the decision for all of them.

    ``matches`` are the policies' Resource patterns every resource of the region matches, ``excludes``
    those none of them matches (together they describe the region).
    """

    actions: tuple[str, ...]
    example: str
    matches: tuple[str, ...]
    excludes: tuple[str, ...]
    decision: Decision

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
class PatternShift:
    """A region whose decision differs between two policy sets."""

    actions: tuple[str, ...]
    example: str
    matches: tuple[str, ...]
    excludes: tuple[str, ...]
    before: Decision
    after: Decision


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
        PatternPart(actions, example, matches, excludes, decisions[0])
        for actions, example, matches, excludes, decisions in _explore(request, (policy_set,))
    )
    return PatternAnswer(request.action, request.resource, _coverage(part.allowed for part in parts), parts)


def evaluate_pattern(request: Request, **policies: Any) -> PatternAnswer:
    """:func:`~governance.policy.evaluate.evaluate` for a question: the same keyword arguments
    (``identity_policies``, ``scps``, ``rcps``, ``resource_policies``...), answered by :func:`ask`."""
    from .evaluate import policy_set

    return ask(policy_set(**policies), request)


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
    for actions, example, matches, excludes, (old, new) in _explore(request, (before, after)):
        was.append(old.allowed)
        now.append(new.allowed)
        if old.allowed != new.allowed:
            shift = PatternShift(actions, example, matches, excludes, old, new)
            (lost if old.allowed else gained).append(shift)
    return PatternChange(request.action, request.resource, _coverage(was), _coverage(now), tuple(lost), tuple(gained))


def _coverage(allowed: Iterable[bool]) -> Coverage:
    flags = set(allowed)
    if flags == {True}:
        return Coverage.ALL
    if True in flags:
        return Coverage.SOME
    return Coverage.NONE


Found = tuple[tuple[str, ...], str, tuple[str, ...], tuple[str, ...], list[Decision]]


def _explore(request: Request, sets: Sequence[PolicySet]) -> Iterator[Found]:
    question = glob_tokens(request.resource)
    account = request.resource_account or _pattern_account(request.resource) or prepare(request).account
    for actions in _action_classes(request.action, sets):
        asked = dataclasses.replace(request, action=actions[0], resource_account=account)
        context = prepare(asked).context
        action = actions[0].lower()
        patterns: dict[tuple[Token, ...], None] = {}
        for policy_set in sets:
            for statement in policy_set._plan(action).statements():
                for tokens in statement.resource_tokens(context):
                    if tokens != (STAR,):
                        patterns[tokens] = None
        patterns.update(dict.fromkeys(_tokens(action_rules(action).resource_patterns)))
        ordered = tuple(patterns)
        for vector, example in _regions(question, ordered):
            prepared = prepare(asked, resource=example)
            decisions = [policy_set.evaluate(prepared) for policy_set in sets]
            matches = tuple(_text(tokens) for tokens, hit in zip(ordered, vector, strict=True) if hit)
            excludes = tuple(_text(tokens) for tokens, hit in zip(ordered, vector, strict=True) if not hit)
            yield actions, example, matches, excludes, decisions


@lru_cache(maxsize=64)
def _tokens(patterns: tuple[str, ...]) -> tuple[tuple[Token, ...], ...]:
    return tuple(glob_tokens(pattern) for pattern in patterns)


def _pattern_account(pattern: str) -> str | None:
    """The account a resource pattern names literally (``arn:aws:sqs:*:444455556666:*``), if any."""
    parts = pattern.split(":", 5)
    return parts[4] if len(parts) == 6 and _ACCOUNT.match(parts[4]) else None


@lru_cache(maxsize=4096)
def _regions(question: tuple[Token, ...], patterns: tuple[tuple[Token, ...], ...]) -> list:
    try:
        return regions(question, patterns)
    except ValueError as exc:
        raise PolicyError(f"cannot split the resources of this question: {exc}") from None


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
    """The actions a (possibly wildcard) action names, grouped into those every statement treats alike."""
    if not has_wildcard(action):
        return [(action,)]
    names = sorted(expand_actions(action))
    if not names:
        raise PolicyError(f"{action!r} matches no action in the IAM catalog")
    policies = [policy for policy_set in sets for policy in policy_set.policies()]
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name in names:
        lowered = name.lower()
        key = (
            action_rules(lowered).key,
            *(
                tuple(map(id, allow)) + tuple(map(id, deny))
                for allow, deny in (p.statements_for(lowered) for p in policies)
            ),
        )
        groups.setdefault(key, []).append(name)
    return [tuple(group) for group in groups.values()]
