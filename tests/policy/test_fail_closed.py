"""The fail-closed corners of the policy language, both effects and every negated form.

Each case names its rule and the AWS page that documents it. Unresolvable policy variables follow the
IAM User Guide's "Policy variables with no value" (VARIABLES): the string holding the variable matches
nothing; in a Deny, AWS's "inverted condition operators ... do match against a null value" keeps the Deny
applying, and in an Allow the evaluator takes the page's "the entire statement may be invalid": the
variable never turns a negated operator or a NotResource into a grant. A request value the operator
cannot compare (OPERATORS) satisfies neither the operator nor its negation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from governance.policy import Outcome, Request, evaluate

from .helpers import ACCOUNT, ALICE, BUCKET, NOW, OPERATORS, SESSION, VARIABLES, allow, deny, policy, request

A, I, E = Outcome.ALLOW, Outcome.IMPLICIT_DENY, Outcome.EXPLICIT_DENY  # noqa: E741 - table shorthand
B64_HELLO = "aGVsbG8="
TOPIC = "arn:aws:sns:eu-west-1:111122223333:topic"


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    source: str
    statement: dict[str, Any]
    request: Request
    expected: Outcome


def _decide(case: Case) -> Outcome:
    statement = case.statement
    # A Deny is tested against an allow-everything statement, so only the Deny can refuse.
    allowing = [allow("*", Sid="AllowAll")] if statement["Effect"] == "Deny" else []
    identity = [policy(*allowing, statement)]
    return evaluate(case.request, identity_policies=identity).outcome


CASES: list[Case] = []


def _add(case_id: str, rule: str, source: str, statement: dict[str, Any], req: Request, expected: Outcome) -> None:
    CASES.append(Case(case_id, rule, source, statement, req, expected))


# --- Unresolvable variables in conditions: a role session has no aws:username --------------------------
STRING_OPERATORS = [
    # (operator, negated?, key, policy value holding the variable, request value)
    ("StringEquals", False, "aws:ResourceTag/owner", "${aws:username}", "ci-run"),
    ("StringNotEquals", True, "aws:ResourceTag/owner", "${aws:username}", "ci-run"),
    ("StringEqualsIgnoreCase", False, "aws:ResourceTag/owner", "${aws:username}", "ci-run"),
    ("StringNotEqualsIgnoreCase", True, "aws:ResourceTag/owner", "${aws:username}", "ci-run"),
    ("StringLike", False, "aws:ResourceTag/owner", "${aws:username}*", "ci-run"),
    ("StringNotLike", True, "aws:ResourceTag/owner", "${aws:username}*", "ci-run"),
    ("ArnEquals", False, "aws:SourceArn", "arn:aws:iam::111122223333:user/${aws:username}", ALICE),
    ("ArnNotEquals", True, "aws:SourceArn", "arn:aws:iam::111122223333:user/${aws:username}", ALICE),
    ("ArnLike", False, "aws:SourceArn", "arn:aws:iam::*:user/${aws:username}", ALICE),
    ("ArnNotLike", True, "aws:SourceArn", "arn:aws:iam::*:user/${aws:username}", ALICE),
    ("DateEquals", False, "aws:TokenIssueTime", "${aws:PrincipalTag/issued}", "2026-01-01T00:00:00Z"),
    ("DateNotEquals", True, "aws:TokenIssueTime", "${aws:PrincipalTag/issued}", "2026-01-01T00:00:00Z"),
    ("DateLessThan", False, "aws:TokenIssueTime", "${aws:PrincipalTag/issued}", "2026-01-01T00:00:00Z"),
    ("DateGreaterThanEquals", False, "aws:TokenIssueTime", "${aws:PrincipalTag/issued}", "2026-01-01T00:00:00Z"),
    ("Bool", False, "aws:SecureTransport", "${aws:PrincipalTag/tls}", "true"),
]
for operator, negated, key, value, present in STRING_OPERATORS:
    for if_exists in (False, True):
        name = operator + ("IfExists" if if_exists else "")
        condition = {"Condition": {name: {key: value}}}
        with_key = request("s3:GetObject", principal=SESSION, context={key: present})
        without_key = request("s3:GetObject", principal=SESSION)
        _add(
            f"var-{name}-allow-present",
            f"Allow with {name} on an unresolvable variable grants nothing (the key is present)",
            VARIABLES,
            allow("s3:GetObject", **condition),
            with_key,
            I,
        )
        _add(
            f"var-{name}-allow-missing",
            f"Allow with {name} on an unresolvable variable grants nothing (the key is missing too)",
            VARIABLES,
            allow("s3:GetObject", **condition),
            without_key,
            I,
        )
        # Deny: the variable is effectively null. A negated operator matches null, a positive one does not;
        # a missing key makes a negated operator (and any ...IfExists) true.
        _add(
            f"var-{name}-deny-present",
            f"Deny with {name} on an unresolvable variable: "
            + ("an inverted operator matches the null value, the Deny applies" if negated else "no match, no Deny"),
            VARIABLES,
            deny("s3:GetObject", **condition),
            with_key,
            E if negated else A,
        )
        _add(
            f"var-{name}-deny-missing",
            f"Deny with {name} on an unresolvable variable and a missing key: "
            + ("the Deny applies" if negated or if_exists else "no match, no Deny"),
            VARIABLES,
            deny("s3:GetObject", **condition),
            without_key,
            E if negated or if_exists else A,
        )

SET_OPERATORS = [
    # (operator, negated?)
    ("ForAllValues:StringEquals", False),
    ("ForAnyValue:StringEquals", False),
    ("ForAllValues:StringLike", False),
    ("ForAnyValue:StringLike", False),
    ("ForAllValues:StringNotEquals", True),
    ("ForAnyValue:StringNotEquals", True),
    ("ForAllValues:StringNotLike", True),
    ("ForAnyValue:StringNotLike", True),
]
for operator, negated in SET_OPERATORS:
    condition = {"Condition": {operator: {"aws:TagKeys": ["${aws:PrincipalTag/allowed}"]}}}
    with_key = request("s3:PutObjectTagging", principal=SESSION, context={"aws:TagKeys": ["env", "cost"]})
    without_key = request("s3:PutObjectTagging", principal=SESSION)
    for_all = operator.startswith("ForAllValues")
    _add(
        f"var-{operator}-allow-present",
        f"Allow with {operator} on an unresolvable variable grants nothing",
        VARIABLES,
        allow("s3:PutObjectTagging", **condition),
        with_key,
        I,
    )
    _add(
        f"var-{operator}-allow-missing",
        f"Allow with {operator} on an unresolvable variable grants nothing, even with no tag keys",
        VARIABLES,
        allow("s3:PutObjectTagging", **condition),
        without_key,
        I,
    )
    _add(
        f"var-{operator}-deny-present",
        f"Deny with {operator} on an unresolvable variable: every request value differs from null",
        VARIABLES,
        deny("s3:PutObjectTagging", **condition),
        with_key,
        E if negated else A,
    )
    _add(
        f"var-{operator}-deny-missing",
        f"Deny with {operator} and no tag keys: ForAllValues holds on an empty set, ForAnyValue does not",
        VARIABLES,
        deny("s3:PutObjectTagging", **condition),
        without_key,
        E if for_all else A,
    )

# A default value resolves the variable, so the operators work as usual (both effects).
for operator, negated, _key, _value, _present in STRING_OPERATORS[:6]:
    pattern = "${aws:username, 'ci-run'}" + ("*" if "Like" in operator else "")
    condition = {"Condition": {operator: {"aws:ResourceTag/owner": pattern}}}
    req = request("s3:GetObject", principal=SESSION, context={"aws:ResourceTag/owner": "ci-run"})
    _add(
        f"var-default-{operator}-allow",
        f"A default value resolves the variable: Allow with {operator} decides as usual",
        VARIABLES,
        allow("s3:GetObject", **condition),
        req,
        I if negated else A,
    )
    _add(
        f"var-default-{operator}-deny",
        f"A default value resolves the variable: Deny with {operator} decides as usual",
        VARIABLES,
        deny("s3:GetObject", **condition),
        req,
        A if negated else E,
    )

# An IAM user has aws:username, so the same statements resolve (controls for the table above).
for operator, negated, key, value, _present in STRING_OPERATORS[:10]:
    matching = "alice" if key == "aws:ResourceTag/owner" else ALICE
    req = request("s3:GetObject", principal=ALICE, context={key: matching})
    _add(
        f"var-resolved-{operator}-allow",
        f"For an IAM user ${{aws:username}} resolves: Allow with {operator} decides on the value",
        VARIABLES,
        allow("s3:GetObject", Condition={operator: {key: value}}),
        req,
        I if negated else A,
    )
    _add(
        f"var-resolved-{operator}-deny",
        f"For an IAM user ${{aws:username}} resolves: Deny with {operator} decides on the value",
        VARIABLES,
        deny("s3:GetObject", Condition={operator: {key: value}}),
        req,
        A if negated else E,
    )

# A value with a variable among literal values: the variable's value matches nothing, the others still do.
_add(
    "var-among-values-allow-positive",
    "StringLike [home/${aws:username}/*, shared/*]: the literal value still grants shared/",
    VARIABLES,
    allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*", "shared/*"]}}),
    request("s3:ListBucket", BUCKET, principal=SESSION, context={"s3:prefix": "shared/a"}),
    A,
)
_add(
    "var-among-values-allow-positive-other",
    "StringLike [home/${aws:username}/*, shared/*]: nothing else is granted",
    VARIABLES,
    allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*", "shared/*"]}}),
    request("s3:ListBucket", BUCKET, principal=SESSION, context={"s3:prefix": "home/ci-run/"}),
    I,
)
_add(
    "var-among-values-allow-negated",
    "StringNotLike [${aws:username}*, admin*] in an Allow: the unresolvable value makes the clause fail closed",
    VARIABLES,
    allow("s3:GetObject", Condition={"StringNotLike": {"aws:ResourceTag/owner": ["${aws:username}*", "admin*"]}}),
    request(principal=SESSION, context={"aws:ResourceTag/owner": "ci-run"}),
    I,
)
_add(
    "var-among-values-deny-negated",
    "StringNotLike [${aws:username}*, admin*] in a Deny: the literal value still spares admin*",
    VARIABLES,
    deny("s3:GetObject", Condition={"StringNotLike": {"aws:ResourceTag/owner": ["${aws:username}*", "admin*"]}}),
    request(principal=SESSION, context={"aws:ResourceTag/owner": "admin-1"}),
    A,
)
_add(
    "var-among-values-deny-negated-other",
    "StringNotLike [${aws:username}*, admin*] in a Deny: any other owner is denied",
    VARIABLES,
    deny("s3:GetObject", Condition={"StringNotLike": {"aws:ResourceTag/owner": ["${aws:username}*", "admin*"]}}),
    request(principal=SESSION, context={"aws:ResourceTag/owner": "ci-run"}),
    E,
)
_add(
    "var-doc-example-deny-team-tag",
    "The page's example: Deny StringNotEquals s3:ExistingObjectTag/Team ${aws:PrincipalTag/Team}, tag unset",
    VARIABLES,
    deny(
        "s3:GetObject",
        f"{BUCKET}/*",
        Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}},
    ),
    request(principal=SESSION, context={"s3:ExistingObjectTag/Team": "blue"}),
    E,
)
_add(
    "var-doc-example-deny-team-tag-match",
    "The page's example with the principal tag set and equal: the Deny does not apply",
    VARIABLES,
    deny(
        "s3:GetObject",
        f"{BUCKET}/*",
        Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}},
    ),
    Request(
        principal=SESSION,
        action="s3:GetObject",
        resource=f"{BUCKET}/file.txt",
        context={"s3:ExistingObjectTag/Team": "blue"},
        principal_tags={"Team": "blue"},
        now=NOW,
        resource_account=ACCOUNT,
    ),
    A,
)

# --- Unresolvable variables in Resource and NotResource ---------------------------------------------------
HOME = f"{BUCKET}/home/${{aws:username}}/*"
RESOURCE_CASES = [
    ("resource-allow", "Allow Resource with the variable matches no resource", allow("s3:*", HOME), "home/ci-run/a", I),
    ("resource-deny", "Deny Resource with the variable matches no resource", deny("s3:*", HOME), "home/ci-run/a", A),
    (
        "notresource-allow",
        "Allow NotResource with the variable never widens to every resource",
        allow("s3:*", NotResource=HOME),
        "public/a",
        I,
    ),
    (
        "notresource-deny",
        "Deny NotResource with the variable: the entry matches nothing, so the Deny covers every resource",
        deny("s3:*", NotResource=HOME),
        "public/a",
        E,
    ),
    (
        "resource-list-allow",
        "Allow Resource [variable, shared/*]: the literal entry still matches",
        allow("s3:*", [HOME, f"{BUCKET}/shared/*"]),
        "shared/a",
        A,
    ),
    (
        "notresource-list-allow",
        "Allow NotResource [variable, secret/*]: the statement does not apply at all",
        allow("s3:*", NotResource=[HOME, f"{BUCKET}/secret/*"]),
        "public/a",
        I,
    ),
    (
        "notresource-list-deny-excluded",
        "Deny NotResource [variable, public/*]: public/ stays excluded from the Deny",
        deny("s3:*", NotResource=[HOME, f"{BUCKET}/public/*"]),
        "public/a",
        A,
    ),
    (
        "notresource-list-deny-other",
        "Deny NotResource [variable, public/*]: everything else is denied",
        deny("s3:*", NotResource=[HOME, f"{BUCKET}/public/*"]),
        "home/ci-run/a",
        E,
    ),
    (
        "resource-multivalued-allow",
        "A multi-valued key cannot be a variable: Allow Resource matches nothing",
        allow("s3:*", f"{BUCKET}/${{aws:TagKeys}}/*"),
        "env/a",
        I,
    ),
    (
        "resource-multivalued-deny",
        "A multi-valued key cannot be a variable: Deny Resource matches nothing",
        deny("s3:*", f"{BUCKET}/${{aws:TagKeys}}/*"),
        "env/a",
        A,
    ),
]
for case_id, rule, statement, key, expected in RESOURCE_CASES:
    req = request("s3:GetObject", f"{BUCKET}/{key}", principal=SESSION, context={"aws:TagKeys": ["env", "cost"]})
    _add(f"var-{case_id}", rule, VARIABLES, statement, req, expected)
for case_id, rule, statement, key, expected in (
    (
        "user-resource-allow",
        "For an IAM user the variable resolves in Resource",
        allow("s3:*", HOME),
        "home/alice/a",
        A,
    ),
    (
        "user-notresource-deny-own",
        "Deny NotResource home/${aws:username}/*: the user's own home is excluded",
        deny("s3:*", NotResource=HOME),
        "home/alice/a",
        A,
    ),
    (
        "user-notresource-deny-other",
        "Deny NotResource home/${aws:username}/*: another home is denied",
        deny("s3:*", NotResource=HOME),
        "home/bob/a",
        E,
    ),
    (
        "user-notresource-allow-other",
        "Allow NotResource home/${aws:username}/*: grants outside the user's home",
        allow("s3:*", NotResource=HOME),
        "home/bob/a",
        A,
    ),
):
    _add(f"var-{case_id}", rule, VARIABLES, statement, request("s3:GetObject", f"{BUCKET}/{key}"), expected)

# --- Request values an operator cannot compare -------------------------------------------------------------
TYPED = [
    # (operator, key, policy value, value that satisfies it, value that does not, value it cannot compare)
    ("NumericEquals", "s3:max-keys", "10", "10", "5", "ten"),
    ("NumericNotEquals", "s3:max-keys", "10", "5", "10", "ten"),
    ("NumericLessThan", "s3:max-keys", "10", "5", "20", "ten"),
    ("NumericLessThanEquals", "s3:max-keys", "10", "10", "11", "ten"),
    ("NumericGreaterThan", "s3:max-keys", "10", "20", "5", "ten"),
    ("NumericGreaterThanEquals", "s3:max-keys", "10", "10", "9", "ten"),
    ("DateEquals", "aws:TokenIssueTime", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-02-01", "yesterday"),
    ("DateNotEquals", "aws:TokenIssueTime", "2026-01-01T00:00:00Z", "2026-02-01", "2026-01-01T00:00:00Z", "yesterday"),
    ("DateLessThan", "aws:TokenIssueTime", "2026-01-01T00:00:00Z", "2025-12-01", "2026-02-01", "yesterday"),
    ("DateLessThanEquals", "aws:TokenIssueTime", "2026-01-01T00:00:00Z", "2026-01-01", "2026-02-01", "soon"),
    ("DateGreaterThan", "aws:TokenIssueTime", "2026-01-01T00:00:00Z", "2026-02-01", "2025-12-01", "soon"),
    ("DateGreaterThanEquals", "aws:TokenIssueTime", "2026-01-01T00:00:00Z", "2026-01-01", "2025-12-01", "later"),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", "10.1.2.3", "192.0.2.1", "not-an-ip"),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", "192.0.2.1", "10.1.2.3", "not-an-ip"),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", "2001:db8::1", "2001:db9::1", "2001:zz::1"),
    ("NotIpAddress", "aws:SourceIp", "2001:db8::/32", "2001:db9::1", "2001:db8::1", "2001:zz::1"),
    ("ArnEquals", "aws:SourceArn", TOPIC, TOPIC, f"{TOPIC}-other", "topic"),
    ("ArnNotEquals", "aws:SourceArn", TOPIC, f"{TOPIC}-other", TOPIC, "topic"),
    ("ArnLike", "aws:SourceArn", "arn:aws:sns:*:111122223333:*", "arn:aws:sns:us-east-1:111122223333:a",
     "arn:aws:sns:us-east-1:444455556666:a", "sns-topic"),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:111122223333:*", "arn:aws:sns:us-east-1:444455556666:a",
     "arn:aws:sns:us-east-1:111122223333:a", "sns-topic"),
    ("Bool", "aws:SecureTransport", "true", "true", "false", "maybe"),
    ("BinaryEquals", "custom:blob", B64_HELLO, B64_HELLO, "d29ybGQ=", "@@@"),
]  # fmt: skip
for operator, key, value, good, bad, garbage in TYPED:
    label = f"{operator}-{value}"
    for if_exists in (False, True):
        name = operator + ("IfExists" if if_exists else "")
        if if_exists and operator == "BinaryEquals":
            continue
        condition = {"Condition": {name: {key: value}}}
        variants = [("true", good, A, E), ("false", bad, I, A), ("garbage", garbage, I, A)]
        for variant, request_value, allow_expected, deny_expected in variants:
            if if_exists and variant != "garbage":
                continue
            rule = {
                "true": f"{name}: a value that satisfies it",
                "false": f"{name}: a value that does not satisfy it",
                "garbage": f"{name}: a value it cannot compare satisfies neither it nor its negation",
            }[variant]
            req = request("s3:GetObject", context={key: request_value})
            _add(f"type-{label}-{name}-{variant}-allow", f"Allow, {rule}", OPERATORS, allow("s3:*", **condition), req,
                 allow_expected)  # fmt: skip
            _add(f"type-{label}-{name}-{variant}-deny", f"Deny, {rule}", OPERATORS, deny("s3:*", **condition), req,
                 deny_expected)  # fmt: skip
for operator in ("ForAllValues:NumericLessThan", "ForAnyValue:NumericNotEquals"):
    condition = {"Condition": {operator: {"custom:sizes": "10"}}}
    req = request(context={"custom:sizes": ["5", "ten"]})
    _add(
        f"type-{operator}-allow",
        f"{operator}: a value it cannot compare never satisfies it (Allow)",
        OPERATORS,
        allow("s3:*", **condition),
        req,
        A if operator.startswith("ForAnyValue") else I,
    )
    _add(
        f"type-{operator}-deny",
        f"{operator}: a value it cannot compare never satisfies it (Deny)",
        OPERATORS,
        deny("s3:*", **condition),
        req,
        E if operator.startswith("ForAnyValue") else A,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_it_fails_closed_as_documented(case: Case) -> None:
    """Every case cites its page: VARIABLES (policy variables with no value) or OPERATORS (condition
    operators); see the module docstring."""
    outcome = _decide(case)
    assert outcome is case.expected, f"{case.rule} ({case.source}): got {outcome.value}"


def test_case_ids_are_unique_and_cover_both_effects() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    effects = {case.statement["Effect"] for case in CASES}
    assert effects == {"Allow", "Deny"}
    assert len(CASES) >= 250
