"""The decision table: AWS's documented policy evaluation logic, one rule per case.

Sources: IAM User Guide, "Policy evaluation logic", "Policy evaluation for requests within a single
account", "Cross-account policy evaluation logic", "IAM JSON policy elements" (Action, NotAction,
Resource, NotResource, Principal, NotPrincipal, Version) and the Organizations SCP guide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from governance.policy import Outcome, PolicySet, Request, evaluate, prepare

from .helpers import ACCOUNT, ALICE, BOB, BUCKET, OTHER_ACCOUNT, ROLE, SESSION, allow, deny, policy, request

A, I, E = Outcome.ALLOW, Outcome.IMPLICIT_DENY, Outcome.EXPLICIT_DENY  # noqa: E741 - table shorthand
FULL_ACCESS = policy(allow("*", "*", Sid="FullAWSAccess"), name="FullAWSAccess")


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    request: Request
    expected: Outcome
    policies: dict[str, Any] = field(default_factory=dict)


def ident(*statements: dict[str, Any], name: str = "identity") -> list[Any]:
    return [policy(*statements, name=name)]


CASES = [
    Case("default-deny", "All requests are implicitly denied by default", request(), I),
    Case(
        "identity-allow",
        "An identity-based allow grants the request",
        request(),
        A,
        {"identity_policies": ident(allow("s3:GetObject"))},
    ),
    Case(
        "deny-beats-allow-same-policy",
        "An explicit deny overrides an allow in the same policy",
        request(),
        E,
        {"identity_policies": ident(allow("s3:*"), deny("s3:GetObject"))},
    ),
    Case(
        "deny-beats-allow-other-policy",
        "An explicit deny in any policy overrides an allow in another",
        request(),
        E,
        {"identity_policies": ident(allow("s3:*")) + ident(deny("s3:GetObject"), name="deny")},
    ),
    Case(
        "action-wildcard-suffix",
        "Action wildcards: s3:Get* matches s3:GetObject",
        request(),
        A,
        {"identity_policies": ident(allow("s3:Get*"))},
    ),
    Case(
        "action-wildcard-middle",
        "Action wildcards may appear anywhere: s3:*Object",
        request(),
        A,
        {"identity_policies": ident(allow("s3:*Object"))},
    ),
    Case(
        "action-question-mark",
        "? matches exactly one character in an action",
        request("s3:GetObject"),
        A,
        {"identity_policies": ident(allow("s3:GetObjec?"))},
    ),
    Case(
        "action-case-insensitive-policy",
        "Action names are case-insensitive (policy side)",
        request(),
        A,
        {"identity_policies": ident(allow("S3:getobject"))},
    ),
    Case(
        "action-case-insensitive-request",
        "Action names are case-insensitive (request side)",
        request("S3:GETOBJECT"),
        A,
        {"identity_policies": ident(allow("s3:GetObject"))},
    ),
    Case(
        "action-other-service",
        "An action in another service is not matched",
        request("s3:GetObject"),
        I,
        {"identity_policies": ident(allow("ec2:*"))},
    ),
    Case(
        "action-star",
        "Action * matches every action of every service",
        request("kms:Decrypt", "*"),
        A,
        {"identity_policies": ident(allow("*"))},
    ),
    Case(
        "action-list",
        "Action lists are OR'd",
        request("s3:PutObject"),
        A,
        {"identity_policies": ident(allow(["s3:GetObject", "s3:PutObject"]))},
    ),
    Case(
        "resource-exact",
        "Resource ARN matches exactly",
        request(),
        A,
        {"identity_policies": ident(allow("s3:GetObject", f"{BUCKET}/file.txt"))},
    ),
    Case(
        "resource-case-sensitive",
        "Resource ARNs are case-sensitive",
        request(),
        I,
        {"identity_policies": ident(allow("s3:GetObject", f"{BUCKET}/FILE.txt"))},
    ),
    Case(
        "resource-wildcard",
        "Resource wildcards: bucket/* matches any key",
        request(),
        A,
        {"identity_policies": ident(allow("s3:GetObject", f"{BUCKET}/*"))},
    ),
    Case(
        "resource-question-mark",
        "? in Resource matches one character",
        request(resource=f"{BUCKET}/a.txt"),
        A,
        {"identity_policies": ident(allow("s3:GetObject", f"{BUCKET}/?.txt"))},
    ),
    Case(
        "resource-question-mark-one-only",
        "? in Resource does not match two characters",
        request(resource=f"{BUCKET}/ab.txt"),
        I,
        {"identity_policies": ident(allow("s3:GetObject", f"{BUCKET}/?.txt"))},
    ),
    Case(
        "resource-bucket-not-object",
        "A bucket ARN does not match objects in it",
        request(),
        I,
        {"identity_policies": ident(allow("s3:GetObject", BUCKET))},
    ),
    Case(
        "resource-list",
        "Resource lists are OR'd",
        request(),
        A,
        {"identity_policies": ident(allow("s3:GetObject", ["arn:aws:s3:::other/*", f"{BUCKET}/*"]))},
    ),
    Case(
        "resource-account-wildcard",
        "Wildcards match across ARN segments",
        request("iam:GetUser", ALICE),
        A,
        {"identity_policies": ident(allow("iam:GetUser", "arn:aws:iam::*:user/*"))},
    ),
    Case(
        "notaction-allow-others",
        "Allow+NotAction allows every action not listed",
        request("s3:GetObject"),
        A,
        {"identity_policies": ident(allow(NotAction="iam:*", Resource="*"))},
    ),
    Case(
        "notaction-allow-listed-excluded",
        "Allow+NotAction does not allow the listed actions",
        request("iam:CreateUser", "*"),
        I,
        {"identity_policies": ident(allow(NotAction="iam:*", Resource="*"))},
    ),
    Case(
        "notaction-deny-others",
        "Deny+NotAction denies everything not listed",
        request("s3:GetObject"),
        E,
        {"identity_policies": ident(allow("*"), deny(NotAction=["iam:*", "sts:*"], Resource="*"))},
    ),
    Case(
        "notaction-deny-listed-passes",
        "Deny+NotAction leaves the listed actions alone",
        request("iam:GetUser", ALICE),
        A,
        {"identity_policies": ident(allow("*"), deny(NotAction=["iam:*", "sts:*"], Resource="*"))},
    ),
    Case(
        "notresource-allow",
        "Allow+NotResource allows resources not listed",
        request(),
        A,
        {"identity_policies": ident(allow("s3:*", NotResource=f"{BUCKET}/secret/*"))},
    ),
    Case(
        "notresource-allow-excluded",
        "Allow+NotResource does not allow the listed resources",
        request(resource=f"{BUCKET}/secret/key"),
        I,
        {"identity_policies": ident(allow("s3:*", NotResource=f"{BUCKET}/secret/*"))},
    ),
    Case(
        "notresource-deny",
        "Deny+NotResource denies everything outside the listed resources",
        request(resource="arn:aws:s3:::other/x"),
        E,
        {"identity_policies": ident(allow("s3:*"), deny("s3:*", NotResource=[BUCKET, f"{BUCKET}/*"]))},
    ),
    Case(
        "deny-condition-false",
        "A Deny whose condition is false does not apply",
        request(context={"aws:SecureTransport": True}),
        A,
        {"identity_policies": ident(allow("s3:*"), deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))},
    ),
    Case(
        "deny-condition-true",
        "A Deny whose condition is true applies",
        request(context={"aws:SecureTransport": False}),
        E,
        {"identity_policies": ident(allow("s3:*"), deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))},
    ),
    # SCPs
    Case(
        "scp-full-access",
        "SCPs: every level allows (FullAWSAccess) so the identity allow stands",
        request(),
        A,
        {"identity_policies": ident(allow("s3:*")), "scps": [[FULL_ACCESS], [FULL_ACCESS], [FULL_ACCESS]]},
    ),
    Case(
        "scp-level-without-allow",
        "SCPs: a level with no allowing SCP denies implicitly",
        request(),
        I,
        {
            "identity_policies": ident(allow("s3:*")),
            "scps": [[FULL_ACCESS], [policy(allow("ec2:*"), name="ec2-only")], [FULL_ACCESS]],
        },
    ),
    Case(
        "scp-any-policy-at-level",
        "SCPs: one allowing SCP among several at a level suffices",
        request(),
        A,
        {
            "identity_policies": ident(allow("s3:*")),
            "scps": [[FULL_ACCESS], [policy(allow("ec2:*"), name="ec2"), policy(allow("s3:*"), name="s3")]],
        },
    ),
    Case(
        "scp-deny",
        "SCPs: an explicit deny in an SCP overrides identity allows",
        request(),
        E,
        {"identity_policies": ident(allow("*")), "scps": [[FULL_ACCESS, policy(deny("s3:GetObject"), name="no-get")]]},
    ),
    Case(
        "scp-does-not-grant",
        "SCPs grant nothing: allowed by SCP but by no identity policy",
        request(),
        I,
        {"scps": [[FULL_ACCESS]]},
    ),
    Case(
        "scp-management-account-deny",
        "SCPs do not affect the management account (deny ignored)",
        request(),
        A,
        {
            "identity_policies": ident(allow("*")),
            "scps": [[FULL_ACCESS, policy(deny("*"), name="deny-all")]],
            "management_account": True,
        },
    ),
    Case(
        "scp-management-account-no-allow",
        "SCPs do not affect the management account (no allow needed)",
        request(),
        A,
        {"identity_policies": ident(allow("*")), "scps": [[policy(allow("ec2:*"))]], "management_account": True},
    ),
    Case(
        "scp-deny-region",
        "SCP region lock: Deny with StringNotEquals aws:RequestedRegion",
        request(context={"aws:RequestedRegion": "us-east-1"}),
        E,
        {
            "identity_policies": ident(allow("*")),
            "scps": [
                [
                    FULL_ACCESS,
                    policy(
                        deny(
                            NotAction="iam:*",
                            Resource="*",
                            Condition={"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}},
                        )
                    ),
                ]
            ],
        },
    ),
    Case(
        "scp-deny-region-allowed-region",
        "SCP region lock lets the allowed region through",
        request(context={"aws:RequestedRegion": "eu-west-1"}),
        A,
        {
            "identity_policies": ident(allow("*")),
            "scps": [
                [
                    FULL_ACCESS,
                    policy(
                        deny(
                            NotAction="iam:*",
                            Resource="*",
                            Condition={"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}},
                        )
                    ),
                ]
            ],
        },
    ),
    # permissions boundaries
    Case(
        "boundary-limits",
        "A permissions boundary must also allow: identity allows, boundary does not",
        request(),
        I,
        {"identity_policies": ident(allow("s3:*")), "permissions_boundary": policy(allow("ec2:*"))},
    ),
    Case(
        "boundary-does-not-grant",
        "A permissions boundary grants nothing by itself",
        request(),
        I,
        {"permissions_boundary": policy(allow("s3:*"))},
    ),
    Case(
        "boundary-intersection",
        "Effective permissions are identity ∩ boundary",
        request(),
        A,
        {"identity_policies": ident(allow("s3:*")), "permissions_boundary": policy(allow("s3:Get*"))},
    ),
    Case(
        "boundary-deny",
        "An explicit deny in the boundary overrides allows",
        request(),
        E,
        {"identity_policies": ident(allow("s3:*")), "permissions_boundary": policy(allow("*"), deny("s3:GetObject"))},
    ),
    # session policies
    Case(
        "session-limits",
        "A session policy must also allow",
        request(principal=SESSION),
        I,
        {"identity_policies": ident(allow("s3:*")), "session_policy": policy(allow("ec2:*"))},
    ),
    Case(
        "session-does-not-grant",
        "A session policy grants nothing by itself",
        request(principal=SESSION),
        I,
        {"session_policy": policy(allow("s3:*"))},
    ),
    Case(
        "session-intersection",
        "Identity ∩ session policy",
        request(principal=SESSION),
        A,
        {"identity_policies": ident(allow("s3:*")), "session_policy": policy(allow("s3:GetObject"))},
    ),
    Case(
        "session-deny",
        "An explicit deny in the session policy applies",
        request(principal=SESSION),
        E,
        {"identity_policies": ident(allow("s3:*")), "session_policy": policy(allow("*"), deny("s3:*"))},
    ),
    # resource-based policies, same account
    Case(
        "resource-policy-user-arn",
        "Same account: a resource policy naming the user allows without identity policy",
        request(),
        A,
        {"resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ALICE}))},
    ),
    Case(
        "resource-policy-user-arn-beats-boundary",
        "Same account: a boundary does not limit a resource policy grant naming the IAM user",
        request(),
        A,
        {
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ALICE})),
            "permissions_boundary": policy(allow("ec2:*")),
        },
    ),
    Case(
        "resource-policy-other-user",
        "A resource policy naming someone else does not allow",
        request(),
        I,
        {"resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": BOB}))},
    ),
    Case(
        "resource-policy-deny",
        "An explicit deny in the resource policy overrides an identity allow",
        request(),
        E,
        {
            "identity_policies": ident(allow("s3:*")),
            "resource_policy": policy(deny("s3:*", f"{BUCKET}/*", Principal="*")),
        },
    ),
    Case(
        "resource-policy-role-arn",
        "Same account: a resource policy naming the role grants its sessions",
        request(principal=SESSION),
        A,
        {"resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ROLE}))},
    ),
    Case(
        "resource-policy-role-arn-session-limits",
        "A grant to the role ARN is limited by the session policy",
        request(principal=SESSION),
        I,
        {
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ROLE})),
            "session_policy": policy(allow("ec2:*")),
        },
    ),
    Case(
        "resource-policy-session-arn",
        "A grant naming the role session ARN is not limited by the session policy",
        request(principal=SESSION),
        A,
        {
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": SESSION})),
            "session_policy": policy(allow("ec2:*")),
        },
    ),
    Case(
        "resource-policy-account-only",
        "Same account: a grant to the account root delegates to IAM",
        request(),
        I,
        {"resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ACCOUNT}))},
    ),
    Case(
        "resource-policy-account-plus-identity",
        "Account-root grant plus an identity allow",
        request(),
        A,
        {
            "identity_policies": ident(allow("s3:GetObject")),
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ACCOUNT})),
        },
    ),
    Case(
        "resource-policy-notprincipal-deny",
        "Deny with NotPrincipal denies everyone not named",
        request(principal=BOB),
        E,
        {
            "identity_policies": ident(allow("s3:*")),
            "resource_policy": policy(deny("s3:*", f"{BUCKET}/*", NotPrincipal={"AWS": ALICE})),
        },
    ),
    Case(
        "resource-policy-notprincipal-named",
        "Deny with NotPrincipal spares the named principal when its account is named too",
        request(),
        A,
        {
            "identity_policies": ident(allow("s3:*")),
            "resource_policy": policy(deny("s3:*", f"{BUCKET}/*", NotPrincipal={"AWS": [ALICE, ACCOUNT]})),
        },
    ),
    Case(
        "resource-policy-notprincipal-named-without-account",
        "Deny with NotPrincipal naming the user but not its account may deny the account, the user included",
        request(),
        E,
        {
            "identity_policies": ident(allow("s3:*")),
            "resource_policy": policy(deny("s3:*", f"{BUCKET}/*", NotPrincipal={"AWS": ALICE})),
        },
    ),
    Case(
        "scp-deny-beats-resource-policy",
        "An SCP deny overrides a resource policy naming the caller",
        request(),
        E,
        {
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ALICE})),
            "scps": [[FULL_ACCESS, policy(deny("s3:*"))]],
        },
    ),
    Case(
        "scp-missing-allow-beats-resource-policy",
        "SCPs limit grants from resource policies too",
        request(),
        I,
        {
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ALICE})),
            "scps": [[policy(allow("ec2:*"))]],
        },
    ),
    # trust policies (resource policy on a role, action sts:AssumeRole)
    Case(
        "trust-service-principal",
        "Trust policy: Service principal may assume the role",
        request("sts:AssumeRole", ROLE, principal="ec2.amazonaws.com"),
        A,
        {
            "resource_policy": policy(
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            )
        },
    ),
    Case(
        "trust-other-service",
        "Trust policy: another service principal may not",
        request("sts:AssumeRole", ROLE, principal="lambda.amazonaws.com"),
        I,
        {
            "resource_policy": policy(
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            )
        },
    ),
    Case(
        "trust-federated",
        "Trust policy: Federated principal with a condition on the audience",
        request(
            "sts:AssumeRoleWithWebIdentity",
            ROLE,
            principal="cognito-identity.amazonaws.com",
            context={"cognito-identity.amazonaws.com:aud": "us-east-1:pool"},
        ),
        A,
        {
            "resource_policy": policy(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:pool"}},
                }
            )
        },
    ),
    Case(
        "trust-principal-star",
        "Principal * matches any caller",
        request(),
        A,
        {"resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal="*"))},
    ),
    # cross-account
    Case(
        "cross-account-identity-only",
        "Cross-account: an identity allow alone is not enough",
        request(resource_account=OTHER_ACCOUNT),
        I,
        {"identity_policies": ident(allow("s3:*"))},
    ),
    Case(
        "cross-account-resource-only",
        "Cross-account: a resource policy allow alone is not enough",
        request(resource_account=OTHER_ACCOUNT),
        I,
        {"resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ALICE}))},
    ),
    Case(
        "cross-account-both",
        "Cross-account: identity and resource policy both allow",
        request(resource_account=OTHER_ACCOUNT),
        A,
        {
            "identity_policies": ident(allow("s3:*")),
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ACCOUNT})),
        },
    ),
    Case(
        "cross-account-boundary",
        "Cross-account: the boundary still limits the identity side",
        request(resource_account=OTHER_ACCOUNT),
        I,
        {
            "identity_policies": ident(allow("s3:*")),
            "permissions_boundary": policy(allow("ec2:*")),
            "resource_policy": policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ALICE})),
        },
    ),
    # versions
    Case(
        "version-2008-no-variables",
        "Version 2008-10-17: ${aws:username} is literal text",
        request(resource=f"{BUCKET}/alice/x"),
        I,
        {"identity_policies": [policy(allow("s3:*", f"{BUCKET}/${{aws:username}}/*"), version="2008-10-17")]},
    ),
    Case(
        "version-2008-literal-match",
        "Version 2008-10-17: the literal ${...} text matches itself",
        request(resource=f"{BUCKET}/${{aws:username}}/x"),
        A,
        {"identity_policies": [policy(allow("s3:*", f"{BUCKET}/${{aws:username}}/*"), version="2008-10-17")]},
    ),
    Case(
        "version-missing-is-2008",
        "A missing Version means 2008-10-17 (no variables)",
        request(resource=f"{BUCKET}/alice/x"),
        I,
        {"identity_policies": [policy(allow("s3:*", f"{BUCKET}/${{aws:username}}/*"), version=None)]},
    ),
    Case(
        "version-2012-variables",
        "Version 2012-10-17 substitutes ${aws:username}",
        request(resource=f"{BUCKET}/alice/x"),
        A,
        {"identity_policies": [policy(allow("s3:*", f"{BUCKET}/${{aws:username}}/*"))]},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_it_follows_the_documented_rule(case: Case) -> None:
    decision = evaluate(case.request, **case.policies)
    assert decision.outcome is case.expected, f"{case.rule}: {decision.reason}"


def test_it_names_the_denying_statement() -> None:
    decision = evaluate(
        request(),
        identity_policies=[
            policy(allow("s3:*", Sid="S3"), name="reader"),
            policy(deny("s3:Get*", Sid="NoGet"), name="guard"),
        ],
        permissions_boundary=policy(allow("*"), deny("s3:GetObject"), name="boundary"),
    )
    assert decision.outcome is E
    assert [(ref.policy_type.value, ref.policy, ref.sid, ref.index) for ref in decision.statements] == [
        ("identity", "guard", "NoGet", 0),
        ("permissions_boundary", "boundary", None, 1),
    ]
    assert "guard NoGet" in decision.reason


def test_it_names_the_allowing_statements_of_every_gate() -> None:
    decision = evaluate(
        request(),
        identity_policies=[policy(allow("ec2:*", Sid="Ec2"), allow("s3:Get*", Sid="Read"), name="reader")],
        permissions_boundary=policy(allow("s3:*", Sid="Ceiling"), name="boundary"),
        scps=[[FULL_ACCESS]],
    )
    assert decision.allowed
    assert [str(ref) for ref in decision.statements] == [
        "scp FullAWSAccess FullAWSAccess",
        "identity reader Read",
        "permissions_boundary boundary Ceiling",
    ]


def test_it_says_which_gate_refused() -> None:
    decision = evaluate(
        request(), identity_policies=ident(allow("s3:*")), scps=[[FULL_ACCESS], [policy(allow("ec2:*"), name="ou-ec2")]]
    )
    assert decision.outcome is I
    assert "level 1" in decision.reason and "ou-ec2" in decision.reason


def test_a_flat_scp_list_is_one_level_per_policy() -> None:
    decision = evaluate(request(), identity_policies=ident(allow("s3:*")), scps=[FULL_ACCESS, policy(allow("ec2:*"))])
    assert decision.outcome is I


def test_mutating_the_policy_list_is_noticed_by_the_cache() -> None:
    policies = ident(allow("s3:*"))
    assert evaluate(request(), identity_policies=policies).allowed
    policies.append(policy(deny("s3:*"), name="late-deny"))
    assert evaluate(request(), identity_policies=policies).outcome is E
    policies.pop()
    assert evaluate(request(), identity_policies=policies).allowed


def test_documents_are_accepted_unparsed() -> None:
    document = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}
    assert evaluate(request(), identity_policies=[document]).allowed  # type: ignore[list-item]


def test_principal_tags_and_account_are_in_the_context() -> None:
    identity = ident(
        allow("s3:*", Condition={"StringEquals": {"aws:PrincipalTag/Team": "data", "aws:PrincipalAccount": ACCOUNT}})
    )
    assert evaluate(request(principal_tags={"team": "data"}), identity_policies=identity).allowed
    assert not evaluate(request(principal_tags={"team": "web"}), identity_policies=identity).allowed


def test_a_role_session_gets_the_role_as_principal_arn() -> None:
    identity = ident(allow("s3:*", Condition={"ArnEquals": {"aws:PrincipalArn": ROLE}}))
    assert evaluate(request(principal=SESSION), identity_policies=identity).allowed
    assert not evaluate(request(principal=ALICE), identity_policies=identity).allowed


def test_a_policy_set_decides_like_evaluate() -> None:
    bundle = {"identity_policies": ident(allow("s3:Get*")), "scps": [[FULL_ACCESS]]}
    policy_set = PolicySet(**bundle)
    for action in ("s3:GetObject", "s3:PutObject"):
        assert policy_set.evaluate(request(action)) == evaluate(request(action), **bundle)
    assert policy_set.evaluate(prepare(request())).allowed


def test_the_reason_names_the_deciding_statement() -> None:
    decision = evaluate(request(), identity_policies=ident(allow("s3:*", Sid="S3"), name="reader"))
    assert decision.reason == "allowed by identity reader S3"
    assert bool(decision) is True
