"""Properties of the evaluator that must hold for any policies (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.policy import Outcome, PolicySet, Request, actions_for, complement, evaluate, parse_policy

from .helpers import ALICE, NOW
from .helpers import SESSION as ROLE_SESSION

CONCRETE_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:RunInstances",
    "ec2:DescribeInstances",
    "iam:CreateUser",
]
ACTION_PATTERNS = [*CONCRETE_ACTIONS, "s3:*", "s3:Get*", "ec2:Describe*", "*", "iam:*", "s3:?etObject"]
CONCRETE_RESOURCES = ["arn:aws:s3:::b/x", "arn:aws:s3:::b/y", "arn:aws:s3:::c/x", "*"]
RESOURCE_PATTERNS = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/x", "arn:aws:s3:::c/*", "arn:aws:s3:::${aws:username}/*"]
CONDITIONS: list[dict[str, Any]] = [
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
    {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}},
    {"NumericLessThanIfExists": {"s3:max-keys": "10"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
]
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"aws:SecureTransport": True, "aws:RequestedRegion": "eu-west-1", "aws:SourceIp": "10.1.1.1"},
    {
        "aws:SecureTransport": False,
        "aws:RequestedRegion": "us-east-1",
        "aws:SourceIp": "192.0.2.1",
        "aws:TagKeys": ["env", "cost"],
        "s3:max-keys": "50",
    },
]


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    actions = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
    statement["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = actions
    resources = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2))
    statement["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = resources
    if draw(st.booleans()):
        statement["Condition"] = draw(st.sampled_from(CONDITIONS))
    return statement


@st.composite
def policies(draw: st.DrawFn, name: str = "p", effect: str | None = None) -> Any:
    body = draw(st.lists(statements(effect), min_size=1, max_size=4))
    return parse_policy({"Version": "2012-10-17", "Statement": body}, name=name)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    return Request(
        principal=ALICE,
        action=draw(st.sampled_from(CONCRETE_ACTIONS)),
        resource=draw(st.sampled_from(CONCRETE_RESOURCES)),
        context=draw(st.sampled_from(CONTEXTS)),
        now=NOW,
    )


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "identity_policies": draw(st.lists(policies("identity"), min_size=0, max_size=3)),
    }
    if draw(st.booleans()):
        bundle["permissions_boundary"] = draw(policies("boundary"))
    if draw(st.booleans()):
        bundle["scps"] = draw(st.lists(st.lists(policies("scp"), min_size=1, max_size=2), min_size=1, max_size=3))
    if draw(st.booleans()):
        bundle["session_policy"] = draw(policies("session"))
    return bundle


DENY_ALL = parse_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
DENY_ALL_RESOURCE = parse_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}
)
SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(bundles(), requests(), st.sampled_from(["identity", "boundary", "scp", "session", "resource"]))
def test_an_explicit_deny_always_wins(bundle: dict[str, Any], request: Request, where: str) -> None:
    bundle = dict(bundle)
    if where == "identity":
        bundle["identity_policies"] = [*bundle["identity_policies"], DENY_ALL]
    elif where == "boundary":
        bundle["permissions_boundary"] = DENY_ALL
    elif where == "scp":
        bundle["scps"] = [*bundle.get("scps", []), [DENY_ALL]]
    elif where == "session":
        bundle["session_policy"] = DENY_ALL
    else:
        bundle["resource_policy"] = DENY_ALL_RESOURCE
    assert evaluate(request, **bundle).outcome is Outcome.EXPLICIT_DENY


@SETTINGS
@given(
    st.lists(policies("identity"), max_size=3),
    policies("boundary"),
    st.lists(st.lists(policies("scp"), min_size=1, max_size=2), min_size=1, max_size=3),
    requests(),
)
def test_boundaries_and_scps_only_narrow(identity: list[Any], boundary: Any, scps: list[Any], request: Request) -> None:
    alone = evaluate(request, identity_policies=identity)
    bounded = evaluate(request, identity_policies=identity, permissions_boundary=boundary)
    governed = evaluate(request, identity_policies=identity, scps=scps)
    both = evaluate(request, identity_policies=identity, permissions_boundary=boundary, scps=scps)
    for narrowed in (bounded, governed, both):
        assert not narrowed.allowed or alone.allowed
        if alone.outcome is Outcome.EXPLICIT_DENY:
            assert narrowed.outcome is Outcome.EXPLICIT_DENY
    assert not both.allowed or (bounded.allowed and governed.allowed)


@st.composite
def service_patterns(draw: st.DrawFn) -> tuple[str, list[str]]:
    service = draw(st.sampled_from(["s3", "sqs", "kms", "iam"]))
    names = sorted(actions_for(service))
    picked = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
    patterns = []
    for action in picked:
        cut = draw(st.integers(len(service) + 2, len(action)))
        patterns.append(action if cut == len(action) else action[:cut] + "*")
    return service, patterns


@settings(max_examples=40, deadline=None)
@given(service_patterns())
def test_notaction_is_the_complement_of_action_within_a_service(case: tuple[str, list[str]]) -> None:
    service, patterns = case
    not_action = PolicySet(
        identity_policies=[
            parse_policy(
                {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": patterns, "Resource": "*"}}
            )
        ]
    )
    action = PolicySet(
        identity_policies=[
            parse_policy(
                {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": patterns, "Resource": "*"}}
            )
        ]
    )
    expected = complement(patterns, service)
    for name in actions_for(service):
        request = Request(principal=ALICE, action=name, now=NOW)
        allowed_by_not_action = not_action.evaluate(request).allowed
        assert allowed_by_not_action is (name in expected), name
        assert allowed_by_not_action is not action.evaluate(request).allowed, name


@SETTINGS
@given(bundles(), requests())
def test_evaluation_is_deterministic(bundle: dict[str, Any], request: Request) -> None:
    first = evaluate(request, **bundle)
    assert evaluate(request, **bundle) == first
    reparsed = {
        key: ([parse_policy(p.to_json(), name=p.name) for p in value] if key == "identity_policies" else value)
        for key, value in bundle.items()
    }
    assert evaluate(request, **reparsed) == first
    assert PolicySet(**bundle).evaluate(request) == first


# --- An unresolvable variable never widens what an Allow grants, nor narrows what a Deny denies -----------
# The reference is AWS's documented reading ("Policy variables with no value": the value is effectively
# null, equal to and like nothing): the same policy with the variable replaced by a value no request
# carries. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
NEVER = "\u2400"  # appears in no request value
VARIABLE_RESOURCES = [
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/home/${aws:username}/*",
    "arn:aws:s3:::c/${aws:username}",
]
VARIABLE_CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
    {"StringNotEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
    {"StringNotEqualsIfExists": {"aws:ResourceTag/owner": "${aws:username}"}},
    {"StringEqualsIfExists": {"aws:ResourceTag/owner": "${aws:username}"}},
    {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
    {"StringNotLike": {"s3:prefix": ["home/${aws:username}/*", "shared/*"]}},
    {"StringNotEqualsIgnoreCase": {"aws:ResourceTag/owner": ["${aws:username}", "admin"]}},
    {"ArnNotEquals": {"aws:SourceArn": "arn:aws:iam::111122223333:user/${aws:username}"}},
    {"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:user/${aws:username}"}},
    {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["${aws:username}"]}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["${aws:username}", "env"]}},
    {"ForAllValues:StringLike": {"aws:TagKeys": ["${aws:username}*"]}},
    {"Bool": {"aws:SecureTransport": "true"}},
]
VARIABLE_CONTEXTS: list[dict[str, Any]] = [
    {},
    {"aws:ResourceTag/owner": "ci-run", "s3:prefix": "home/ci-run/", "aws:TagKeys": ["env"]},
    {"aws:ResourceTag/owner": "admin", "s3:prefix": "shared/x", "aws:SourceArn": "arn:aws:iam::111122223333:user/x"},
    {"aws:TagKeys": ["env", "cost"], "aws:SecureTransport": True, "s3:prefix": "other/"},
]


@st.composite
def variable_statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    statement["Action"] = draw(st.lists(st.sampled_from(["s3:GetObject", "s3:*", "*"]), min_size=1, max_size=2))
    resources = draw(st.lists(st.sampled_from(VARIABLE_RESOURCES), min_size=1, max_size=2))
    statement["NotResource" if draw(st.integers(0, 3)) == 0 else "Resource"] = resources
    if draw(st.booleans()):
        statement["Condition"] = draw(st.sampled_from(VARIABLE_CONDITIONS))
    return statement


def _documents(statements: list[dict[str, Any]]) -> tuple[Any, Any]:
    import json

    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    null = text.replace("${aws:username}", NEVER)
    return parse_policy(text, name="with-variable"), parse_policy(null, name="null-value")


@SETTINGS
@given(
    st.lists(variable_statements(), min_size=1, max_size=4),
    st.sampled_from(["arn:aws:s3:::b/home/ci-run/x", "arn:aws:s3:::b/x", "arn:aws:s3:::c/x", "*"]),
    st.sampled_from(VARIABLE_CONTEXTS),
    st.sampled_from([ROLE_SESSION, "arn:aws:iam::111122223333:root"]),
)
def test_an_unresolvable_variable_never_widens_an_allow_nor_narrows_a_deny(
    statements: list[dict[str, Any]], resource: str, context: dict[str, Any], principal: str
) -> None:
    with_variable, null_value = _documents(statements)
    request = Request(principal=principal, action="s3:GetObject", resource=resource, context=context, now=NOW)
    unresolved = evaluate(request, identity_policies=[with_variable])
    reference = evaluate(request, identity_policies=[null_value])
    assert not unresolved.allowed or reference.allowed, (unresolved.reason, reference.reason)
    if reference.outcome is Outcome.EXPLICIT_DENY:
        assert unresolved.outcome is Outcome.EXPLICIT_DENY, (unresolved.reason, reference.reason)


# --- RCPs, VPC endpoint policies and resource policies in the same account only narrow or add as documented --
FULL_RCP = parse_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
)


@st.composite
def rcps(draw: st.DrawFn) -> Any:
    body = [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": draw(st.lists(st.sampled_from(["s3:*", "s3:GetObject", "sqs:*", "kms:*"]), min_size=1)),
            "Resource": draw(st.sampled_from(RESOURCE_PATTERNS[:4])),
            **({"Condition": draw(st.sampled_from(CONDITIONS))} if draw(st.booleans()) else {}),
        }
        for _ in range(draw(st.integers(1, 2)))
    ]
    return parse_policy({"Version": "2012-10-17", "Statement": body}, name="rcp")


@SETTINGS
@given(bundles(), requests(), st.lists(st.lists(rcps(), max_size=2), min_size=1, max_size=3), st.booleans())
def test_rcps_and_endpoint_policies_only_narrow(bundle: dict[str, Any], request: Request, levels, vpce: bool) -> None:
    """RCPs never grant (Organizations "RCP evaluation"); an endpoint policy only limits (PrivateLink
    "Control access to VPC endpoints using endpoint policies")."""
    alone = evaluate(request, **bundle)
    narrowed = {"rcps": [[FULL_RCP, *level] for level in levels]}
    if vpce:
        narrowed["vpc_endpoint_policy"] = parse_policy(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
            }
        )
    both = evaluate(request, **bundle, **narrowed)
    assert not both.allowed or alone.allowed
    if alone.outcome is Outcome.EXPLICIT_DENY:
        assert both.outcome is Outcome.EXPLICIT_DENY
    # RCPFullAWSAccess everywhere changes nothing.
    assert evaluate(request, **bundle, rcps=[[FULL_RCP]] * len(levels)).outcome is alone.outcome


# --- A question over many resources agrees with evaluating each resource ------------------------------------
QUESTION_PATTERNS = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::*", "arn:aws:s3:::?/x"]
CONCRETE_POOL = ["arn:aws:s3:::b/x", "arn:aws:s3:::b/y", "arn:aws:s3:::c/x", "arn:aws:s3:::b/home/alice/x", "x", "*"]


@SETTINGS
@given(bundles(), st.sampled_from(CONCRETE_ACTIONS), st.sampled_from(QUESTION_PATTERNS), st.sampled_from(CONTEXTS))
def test_a_question_agrees_with_evaluating_each_resource(bundle, action: str, pattern: str, context) -> None:
    from governance.policy import Coverage, PolicySet, ask
    from governance.policy.patterns import compile_glob

    policy_set = PolicySet(**bundle)
    question = Request(principal=ALICE, action=action, resource=pattern, context=context, now=NOW)
    answer = ask(policy_set, question)
    # A question is about the caller's own account (questions.py): each resource is asked the same way.
    own = {"context": context, "now": NOW, "resource_account": "111122223333"}
    for part in answer.parts:
        example = Request(principal=ALICE, action=action, resource=part.example, **own)
        assert policy_set.evaluate(example) == part.decision
    matches = compile_glob(pattern)
    for resource in filter(matches, CONCRETE_POOL):
        concrete = Request(principal=ALICE, action=action, resource=resource, **own)
        allowed = policy_set.evaluate(concrete).allowed
        if answer.coverage is Coverage.ALL:
            assert allowed, resource
        if answer.coverage is Coverage.NONE:
            assert not allowed, resource


@st.composite
def resource_statements(draw: st.DrawFn) -> dict[str, Any]:
    statement = draw(statements())
    principal = draw(
        st.sampled_from(
            ["*", {"AWS": ALICE}, {"AWS": "111122223333"}, {"AWS": "arn:aws:iam::111122223333:role/Deployer"}]
        )
    )
    statement["NotPrincipal" if statement["Effect"] == "Deny" and draw(st.booleans()) else "Principal"] = principal
    return statement


@st.composite
def wider_bundles(draw: st.DrawFn) -> dict[str, Any]:
    bundle = draw(bundles())
    if draw(st.booleans()):
        body = draw(st.lists(resource_statements(), min_size=1, max_size=3))
        bundle["resource_policy"] = parse_policy({"Version": "2012-10-17", "Statement": body}, name="bucket")
    if draw(st.booleans()):
        bundle["rcps"] = [[FULL_RCP, draw(rcps())]]
    return bundle


@SETTINGS
@given(
    wider_bundles(),
    st.sampled_from(CONCRETE_ACTIONS),
    st.sampled_from(QUESTION_PATTERNS),
    st.sampled_from(CONTEXTS),
    st.sampled_from([ALICE, ROLE_SESSION, "anonymous", "cloudtrail.amazonaws.com"]),
)
def test_a_question_agrees_with_each_resource_with_resource_policies_and_rcps(
    bundle, action: str, pattern: str, context, principal: str
) -> None:
    from governance.policy import Coverage, PolicySet, ask
    from governance.policy.patterns import compile_glob

    policy_set = PolicySet(**bundle)
    answer = ask(policy_set, Request(principal=principal, action=action, resource=pattern, context=context, now=NOW))
    decide = lambda resource: policy_set.evaluate(  # noqa: E731 - one use
        Request(
            principal=principal,
            action=action,
            resource=resource,
            context=context,
            now=NOW,
            resource_account="111122223333" if principal in (ALICE, ROLE_SESSION) else None,
        )
    )
    for part in answer.parts:
        assert decide(part.example) == part.decision
    for resource in filter(compile_glob(pattern), CONCRETE_POOL):
        allowed = decide(resource).allowed
        assert not (answer.coverage is Coverage.ALL and not allowed), resource
        assert not (answer.coverage is Coverage.NONE and allowed), resource


# --- A resource whose owner is unknown (S3 ARNs name no account) ---------------------------------------------
@SETTINGS
@given(
    wider_bundles(),
    st.sampled_from(CONCRETE_ACTIONS),
    st.sampled_from(["arn:aws:s3:::b/x", "arn:aws:s3:::c/x", "arn:aws:s3:::b"]),
    st.sampled_from(CONTEXTS),
    st.sampled_from([ALICE, ROLE_SESSION, "arn:aws:iam::111122223333:root"]),
)
def test_an_unknown_resource_account_never_allows_what_one_account_would_deny(
    bundle, action: str, resource: str, context, principal: str
) -> None:
    """IAM User Guide, "Cross-account policy evaluation logic": the owner decides which policies must allow,
    so an owner the request does not give is allowed exactly when both readings are."""
    policy_set = PolicySet(**bundle)

    def decide(owner: str | None) -> Any:
        return policy_set.evaluate(
            Request(
                principal=principal, action=action, resource=resource, context=context, now=NOW, resource_account=owner
            )
        )

    unknown, same, other = decide(None), decide("111122223333"), decide("444455556666")
    assert unknown.allowed == (same.allowed and other.allowed), (unknown.reason, same.reason, other.reason)
    if not unknown.allowed and same.allowed:
        assert unknown.reason.startswith("the resource's account is unknown; give aws:ResourceAccount")
    if same.outcome is Outcome.EXPLICIT_DENY:
        assert unknown.outcome is Outcome.EXPLICIT_DENY
