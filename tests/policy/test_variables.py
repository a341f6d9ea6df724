"""Policy variables in Resource and in condition values (IAM User Guide: "IAM policy elements:
Variables and tags", "Specifying default values", "Special characters")."""

from __future__ import annotations

from typing import Any

import pytest

from governance.policy import evaluate

from .helpers import ALICE, BUCKET, SESSION, allow, policy, request

# (id, documented rule, statement, request, allowed?)
CASES: list[tuple[str, str, dict[str, Any], Any, bool]] = [
    (
        "username-resource",
        "${aws:username} in Resource is the caller's user name",
        allow("s3:*", f"{BUCKET}/home/${{aws:username}}/*"),
        request(resource=f"{BUCKET}/home/alice/a"),
        True,
    ),
    (
        "username-resource-other-home",
        "${aws:username} does not match another user's folder",
        allow("s3:*", f"{BUCKET}/home/${{aws:username}}/*"),
        request(resource=f"{BUCKET}/home/bob/a"),
        False,
    ),
    (
        "username-case-insensitive-name",
        "Variable names are case-insensitive",
        allow("s3:*", f"{BUCKET}/home/${{AWS:UserName}}/*"),
        request(resource=f"{BUCKET}/home/alice/a"),
        True,
    ),
    (
        "username-missing-for-role",
        "A role session has no aws:username: the resource matches nothing",
        allow("s3:*", f"{BUCKET}/home/${{aws:username}}/*"),
        request(principal=SESSION, resource=f"{BUCKET}/home/ci-run/a"),
        False,
    ),
    (
        "username-default",
        "A default value applies when the key is missing",
        allow("s3:*", f"{BUCKET}/home/${{aws:username, 'shared'}}/*"),
        request(principal=SESSION, resource=f"{BUCKET}/home/shared/a"),
        True,
    ),
    (
        "default-ignored-when-present",
        "The default is not used when the key has a value",
        allow("s3:*", f"{BUCKET}/home/${{aws:username, 'shared'}}/*"),
        request(resource=f"{BUCKET}/home/shared/a"),
        False,
    ),
    (
        "default-quote-escape",
        "Two single quotes in a default stand for one",
        allow("s3:*", f"{BUCKET}/${{aws:PrincipalTag/x, 'o''neil'}}/*"),
        request(resource=f"{BUCKET}/o'neil/a"),
        True,
    ),
    (
        "userid",
        "${aws:userid} substitutes the unique id",
        allow("s3:*", f"{BUCKET}/${{aws:userid}}/*"),
        request(resource=f"{BUCKET}/AIDAEXAMPLE/a", userid="AIDAEXAMPLE"),
        True,
    ),
    (
        "principal-tag-resource",
        "${aws:PrincipalTag/team} in Resource",
        allow("s3:*", f"{BUCKET}/${{aws:PrincipalTag/team}}/*"),
        request(resource=f"{BUCKET}/data/a", principal_tags={"team": "data"}),
        True,
    ),
    (
        "principal-tag-condition",
        "${aws:PrincipalTag/team} in a condition value (ABAC)",
        allow("ec2:StartInstances", Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
        request("ec2:StartInstances", "*", principal_tags={"team": "data"}, context={"aws:ResourceTag/team": "data"}),
        True,
    ),
    (
        "principal-tag-condition-mismatch",
        "ABAC: tags differ → condition false",
        allow("ec2:StartInstances", Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
        request("ec2:StartInstances", "*", principal_tags={"team": "web"}, context={"aws:ResourceTag/team": "data"}),
        False,
    ),
    (
        "principal-tag-condition-missing",
        "ABAC: an untagged principal's variable resolves to nothing → false",
        allow("ec2:StartInstances", Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
        request("ec2:StartInstances", "*", context={"aws:ResourceTag/team": "data"}),
        False,
    ),
    (
        "principal-tag-negated-missing",
        "In an Allow, a negated operator on a variable with no value never turns 'matches nothing' into a grant",
        allow(
            "ec2:StartInstances", Condition={"StringNotEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
        ),
        request("ec2:StartInstances", "*", context={"aws:ResourceTag/team": "data"}),
        False,
    ),
    (
        "variable-in-string-like",
        "Variables in StringLike keep the policy's own wildcards",
        allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}),
        request("s3:ListBucket", BUCKET, context={"s3:prefix": "home/alice/photos"}),
        True,
    ),
    (
        "variable-value-is-literal",
        "A substituted value's * is literal, not a wildcard",
        allow("s3:*", f"{BUCKET}/${{aws:PrincipalTag/team}}/*"),
        request(resource=f"{BUCKET}/dataset/a", principal_tags={"team": "data*"}),
        False,
    ),
    (
        "variable-value-literal-match",
        "A substituted value matches itself literally",
        allow("s3:*", f"{BUCKET}/${{aws:PrincipalTag/team}}/*"),
        request(resource=f"{BUCKET}/data*/a", principal_tags={"team": "data*"}),
        True,
    ),
    (
        "escape-star",
        "${*} is a literal asterisk",
        allow("s3:*", f"{BUCKET}/${{*}}"),
        request(resource=f"{BUCKET}/*"),
        True,
    ),
    (
        "escape-star-not-wildcard",
        "${*} does not act as a wildcard",
        allow("s3:*", f"{BUCKET}/${{*}}"),
        request(resource=f"{BUCKET}/anything"),
        False,
    ),
    (
        "escape-question",
        "${?} is a literal question mark",
        allow("s3:*", f"{BUCKET}/why${{?}}"),
        request(resource=f"{BUCKET}/whyX"),
        False,
    ),
    (
        "escape-dollar",
        "${$} is a literal dollar sign",
        allow("s3:*", f"{BUCKET}/${{$}}{{x}}"),
        request(resource=f"{BUCKET}/${{x}}"),
        True,
    ),
    (
        "source-ip-variable",
        "${aws:SourceIp} in a condition value",
        allow("s3:*", Condition={"StringEquals": {"custom:ip": "${aws:SourceIp}"}}),
        request(context={"aws:SourceIp": "203.0.113.9", "custom:ip": "203.0.113.9"}),
        True,
    ),
    (
        "current-time-variable",
        "${aws:CurrentTime} in a condition value",
        allow("s3:*", Condition={"DateLessThanEquals": {"custom:issued": "${aws:CurrentTime}"}}),
        request(context={"custom:issued": "2026-01-01T00:00:00Z"}),
        True,
    ),
    (
        "multi-valued-not-a-variable",
        "A multi-valued key cannot be used as a variable",
        allow("s3:*", f"{BUCKET}/${{aws:TagKeys}}/*"),
        request(resource=f"{BUCKET}/a/x", context={"aws:TagKeys": ["a", "b"]}),
        False,
    ),
    (
        "variable-in-arn-like",
        "Variables in ArnLike values",
        allow("iam:*", Condition={"ArnLike": {"custom:arn": "arn:aws:iam::*:user/${aws:username}"}}),
        request("iam:GetUser", ALICE, context={"custom:arn": ALICE}),
        True,
    ),
]


@pytest.mark.parametrize(
    ("statement", "req", "allowed"),
    [pytest.param(statement, req, allowed, id=case_id) for case_id, _rule, statement, req, allowed in CASES],
)
def test_it_substitutes_variables_as_documented(statement: dict[str, Any], req: Any, allowed: bool) -> None:
    decision = evaluate(req, identity_policies=[policy(statement)])
    rule = next(rule for _id, rule, s, r, _a in CASES if s is statement and r is req)
    assert decision.allowed is allowed, rule
