"""The layers of a decision beyond one account's identity policies, one documented rule per case.

Resource-based policies (several, and VPC endpoint policies), NotPrincipal, permissions boundaries and
session policies against resource grants, KMS key policies, role trust policies, cross-account requests,
SCP and RCP scope and exemptions, anonymous, service and root callers, and the roles only their service
may change. Every case carries the URL of the AWS page that documents its rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from governance.policy import ANONYMOUS, Outcome, Request, evaluate

from .helpers import (
    ACCESS_POINTS,
    ACCOUNT,
    ALICE,
    BOB,
    BOUNDARIES,
    BUCKET,
    CROSS_ACCOUNT,
    DENY_ALLOW,
    GLOBAL_KEYS,
    KEY,
    KMS_AWS_MANAGED,
    KMS_KEY_POLICIES,
    KMS_RCPS,
    NOT_PRINCIPAL,
    NOW,
    OTHER_ACCOUNT,
    OTHER_KEY,
    OTHER_QUEUE,
    OTHER_SESSION,
    OTHER_USER,
    PRINCIPAL,
    QUEUE,
    RCP_EVALUATION,
    RCP_SYNTAX,
    RCPS,
    RESERVED_ROLES,
    ROLE,
    ROLE_TERMS,
    ROOT,
    SCP_EVALUATION,
    SCPS,
    SERVICE_LINKED,
    SESSION,
    SESSION_POLICIES,
    SINGLE_ACCOUNT,
    SLR_ROLE,
    SLR_SESSION,
    SSO_ROLE,
    SSO_SESSION,
    TARGET_ROLE,
    VPC_ENDPOINTS,
    allow,
    deny,
    grant,
    policy,
    refuse,
    request,
    rpolicy,
)

A, I, E = Outcome.ALLOW, Outcome.IMPLICIT_DENY, Outcome.EXPLICIT_DENY  # noqa: E741 - table shorthand
OBJECT = f"{BUCKET}/file.txt"
ACCESS_POINT = f"arn:aws:s3:eu-west-1:{ACCOUNT}:accesspoint/reports/object/file.txt"
OTHER_BUCKET_OBJECT = "arn:aws:s3:::partner-bucket/file.txt"


def ident(*statements: dict[str, Any], name: str = "identity") -> list[Any]:
    return [policy(*statements, name=name)]


FULL = policy(allow("*", Sid="FullAWSAccess"), name="FullAWSAccess")
RCP_FULL = rpolicy(grant("*", Sid="RCPFullAWSAccess"), name="RCPFullAWSAccess")


def rcp(*statements: dict[str, Any], name: str = "rcp") -> Any:
    return rpolicy(*statements, name=name)


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    source: str
    request: Request
    expected: Outcome
    policies: dict[str, Any] = field(default_factory=dict)


CASES: list[Case] = []


def case(case_id: str, rule: str, source: str, req: Request, expected: Outcome, **policies: Any) -> None:
    CASES.append(Case(case_id, rule, source, req, expected, policies))


# --- NotPrincipal ------------------------------------------------------------------------------------------
case(
    "notprincipal-allow-unlisted",
    "Allow with NotPrincipal grants every principal not listed",
    NOT_PRINCIPAL,
    request(principal=ALICE),
    A,
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject", not_principal=True)),
)
case(
    "notprincipal-allow-listed",
    "Allow with NotPrincipal does not grant the listed principal",
    NOT_PRINCIPAL,
    request(principal=BOB),
    I,
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject", not_principal=True)),
)
case(
    "notprincipal-allow-account-listed",
    "Allow with NotPrincipal naming the account excludes its users",
    NOT_PRINCIPAL,
    request(principal=ALICE),
    I,
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "s3:GetObject", not_principal=True)),
)
case(
    "notprincipal-allow-anonymous",
    "Allow with NotPrincipal grants anonymous callers too",
    NOT_PRINCIPAL,
    request(principal=ANONYMOUS),
    A,
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject", not_principal=True)),
)
case(
    "notprincipal-allow-service",
    "Allow with NotPrincipal grants service principals not listed",
    NOT_PRINCIPAL,
    request(principal="cloudtrail.amazonaws.com"),
    A,
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject", not_principal=True)),
)
case(
    "notprincipal-allow-limited-by-boundary",
    "A NotPrincipal grant names nobody exactly: the boundary limits it",
    BOUNDARIES,
    request(principal=ALICE),
    I,
    permissions_boundary=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject", not_principal=True)),
)
case(
    "notprincipal-deny-unlisted",
    "Deny with NotPrincipal denies every principal not listed",
    NOT_PRINCIPAL,
    request(principal=BOB),
    E,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(refuse({"AWS": [ALICE, ACCOUNT]}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-user-and-account",
    "Deny with NotPrincipal spares a user named with its account",
    NOT_PRINCIPAL,
    request(principal=ALICE),
    A,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(refuse({"AWS": [ALICE, ACCOUNT]}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-user-only",
    "Deny with NotPrincipal naming the user without its account may deny it",
    NOT_PRINCIPAL,
    request(principal=ALICE),
    E,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(refuse({"AWS": ALICE}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-session-all-named",
    "Deny with NotPrincipal spares a session named with its role and account",
    NOT_PRINCIPAL,
    request(principal=SESSION),
    A,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(refuse({"AWS": [SESSION, ROLE, ACCOUNT]}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-session-role-only",
    "Deny with NotPrincipal naming only the role and account may deny the "
    "session: AWS may validate the assumed-role user too",
    NOT_PRINCIPAL,
    request(principal=SESSION),
    E,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(refuse({"AWS": [ROLE, ACCOUNT]}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-account-only",
    "Deny with NotPrincipal naming only the account denies its users",
    NOT_PRINCIPAL,
    request(principal=ALICE),
    E,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(refuse({"AWS": ACCOUNT}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-boundary",
    "Deny with NotPrincipal always denies a principal that has a permissions boundary",
    BOUNDARIES,
    request(principal=ALICE),
    E,
    identity_policies=ident(allow("s3:*")),
    permissions_boundary=policy(allow("*")),
    resource_policy=rpolicy(refuse({"AWS": [ALICE, ACCOUNT]}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-boundary-session",
    "Deny with NotPrincipal always denies a role session with a boundary",
    NOT_PRINCIPAL,
    request(principal=SESSION),
    E,
    identity_policies=ident(allow("s3:*")),
    permissions_boundary=policy(allow("*")),
    resource_policy=rpolicy(refuse({"AWS": [SESSION, ROLE, ACCOUNT]}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-anonymous",
    "Deny with NotPrincipal denies anonymous callers, who are never listed",
    NOT_PRINCIPAL,
    request(principal=ANONYMOUS),
    E,
    resource_policy=rpolicy(grant("*", "s3:GetObject"), refuse({"AWS": ACCOUNT}, "s3:*", not_principal=True)),
)
case(
    "notprincipal-deny-service-listed",
    "Deny with NotPrincipal spares a service principal it names",
    NOT_PRINCIPAL,
    request(principal="cloudtrail.amazonaws.com"),
    A,
    resource_policy=rpolicy(
        grant({"Service": "cloudtrail.amazonaws.com"}, "s3:GetObject"),
        refuse({"Service": "cloudtrail.amazonaws.com"}, "s3:*", not_principal=True),
    ),
)

# --- Resource-based grants against boundaries and session policies ------------------------------------------
case(
    "grant-user-arn-no-identity",
    "Same account: a grant to the IAM user ARN needs no identity policy",
    SINGLE_ACCOUNT,
    request(),
    A,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
)
case(
    "grant-user-arn-beats-boundary",
    "Same account: a grant to the IAM user ARN is not limited by its boundary",
    BOUNDARIES,
    request(),
    A,
    permissions_boundary=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
)
case(
    "grant-user-arn-boundary-deny",
    "An explicit deny in the boundary still applies to a grant to the user ARN",
    BOUNDARIES,
    request(),
    E,
    permissions_boundary=policy(allow("*"), deny("s3:*")),
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
)
case(
    "grant-user-arn-identity-deny",
    "An explicit deny in an identity policy overrides a grant to the user ARN",
    DENY_ALLOW,
    request(),
    E,
    identity_policies=ident(deny("s3:GetObject")),
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
)
case(
    "grant-role-arn-no-identity",
    "Same account: a grant to the role ARN allows its sessions",
    SINGLE_ACCOUNT,
    request(principal=SESSION),
    A,
    resource_policy=rpolicy(grant({"AWS": ROLE}, "s3:GetObject")),
)
case(
    "grant-role-arn-boundary",
    "A grant to the role ARN is limited by the role's permissions boundary",
    BOUNDARIES,
    request(principal=SESSION),
    I,
    permissions_boundary=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant({"AWS": ROLE}, "s3:GetObject")),
)
case(
    "grant-role-arn-boundary-allows",
    "A grant to the role ARN passes a boundary that allows it",
    BOUNDARIES,
    request(principal=SESSION),
    A,
    permissions_boundary=policy(allow("s3:Get*")),
    resource_policy=rpolicy(grant({"AWS": ROLE}, "s3:GetObject")),
)
case(
    "grant-role-arn-session-policy",
    "A grant to the role ARN is limited by the session policy",
    SESSION_POLICIES,
    request(principal=SESSION),
    I,
    session_policy=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant({"AWS": ROLE}, "s3:GetObject")),
)
case(
    "grant-session-arn-session-policy",
    "A grant to the session ARN is not limited by the session policy",
    SESSION_POLICIES,
    request(principal=SESSION),
    A,
    session_policy=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant({"AWS": SESSION}, "s3:GetObject")),
)
case(
    "grant-session-arn-boundary",
    "A grant to the session ARN is not limited by the role's boundary",
    BOUNDARIES,
    request(principal=SESSION),
    A,
    permissions_boundary=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant({"AWS": SESSION}, "s3:GetObject")),
)
case(
    "grant-session-arn-session-deny",
    "An explicit deny in the session policy applies to a session-ARN grant",
    SESSION_POLICIES,
    request(principal=SESSION),
    E,
    session_policy=policy(allow("*"), deny("s3:*")),
    resource_policy=rpolicy(grant({"AWS": SESSION}, "s3:GetObject")),
)
case(
    "grant-star-boundary",
    "A grant to * names nobody exactly: the boundary limits it",
    BOUNDARIES,
    request(),
    I,
    permissions_boundary=policy(allow("ec2:*")),
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
)
case(
    "grant-star-no-identity",
    "Same account: a grant to * allows without identity policies",
    SINGLE_ACCOUNT,
    request(),
    A,
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
)
case(
    "grant-account-delegates",
    "Same account: a grant to the account root delegates to IAM and grants nothing alone",
    SINGLE_ACCOUNT,
    request(),
    I,
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "s3:GetObject")),
)
case(
    "grant-account-with-identity",
    "A grant to the account root plus an identity allow",
    SINGLE_ACCOUNT,
    request(),
    A,
    identity_policies=ident(allow("s3:GetObject")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "s3:GetObject")),
)
case(
    "grant-union-identity-only",
    "Same account: an identity allow suffices when the resource policy is silent",
    SINGLE_ACCOUNT,
    request(),
    A,
    identity_policies=ident(allow("s3:GetObject")),
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject")),
)
case(
    "grant-other-principal",
    "A grant to someone else allows nothing",
    SINGLE_ACCOUNT,
    request(),
    I,
    resource_policy=rpolicy(grant({"AWS": BOB}, "s3:GetObject")),
)
case(
    "grant-condition-false",
    "A resource grant whose condition is false allows nothing",
    SINGLE_ACCOUNT,
    request(context={"aws:SecureTransport": "false"}),
    I,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject", Condition={"Bool": {"aws:SecureTransport": "true"}})),
)
case(
    "grant-resource-mismatch",
    "A resource grant on another resource allows nothing",
    SINGLE_ACCOUNT,
    request(),
    I,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject", "arn:aws:s3:::other/*")),
)
case(
    "grant-scp-limits",
    "SCPs limit what a resource-based grant allows",
    SCP_EVALUATION,
    request(),
    I,
    scps=[[policy(allow("ec2:*"), name="ec2-only")]],
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
)

# --- Several resource-based policies: an S3 access point and its bucket -------------------------------------
AP_POLICY = rpolicy(grant({"AWS": ALICE}, "s3:GetObject", ACCESS_POINT), name="access-point")
BUCKET_DELEGATES = rpolicy(grant("*", "s3:*", "*", Condition={"StringEquals": {"s3:DataAccessPointAccount": ACCOUNT}}),
                           name="bucket")  # fmt: skip
case(
    "ap-both-grant",
    "Access point and bucket both permit: allowed",
    ACCESS_POINTS,
    request(resource=ACCESS_POINT, context={"s3:DataAccessPointAccount": ACCOUNT}),
    A,
    resource_policies=[AP_POLICY, BUCKET_DELEGATES],
)
case(
    "ap-bucket-silent-no-identity",
    "The access point grants but the bucket does not: not allowed",
    ACCESS_POINTS,
    request(resource=ACCESS_POINT),
    I,
    resource_policies=[AP_POLICY, rpolicy(grant({"AWS": BOB}, "s3:*"), name="bucket")],
)
case(
    "ap-bucket-silent-identity",
    "Both silent, an identity allow in the same account: allowed",
    ACCESS_POINTS,
    request(resource=ACCESS_POINT),
    A,
    identity_policies=ident(allow("s3:GetObject")),
    resource_policies=[
        rpolicy(grant({"AWS": BOB}, "s3:*"), name="ap"),
        rpolicy(grant({"AWS": BOB}, "s3:*"), name="bucket"),
    ],
)
case(
    "ap-bucket-denies",
    "A Deny in the bucket policy applies to access point requests",
    ACCESS_POINTS,
    request(resource=ACCESS_POINT),
    E,
    resource_policies=[AP_POLICY, rpolicy(refuse("*", "s3:GetObject"), name="bucket")],
)
case(
    "ap-access-point-denies",
    "A Deny in the access point policy applies",
    ACCESS_POINTS,
    request(resource=ACCESS_POINT, context={"s3:DataAccessPointAccount": ACCOUNT}),
    E,
    resource_policies=[rpolicy(refuse("*", "s3:GetObject"), name="ap"), BUCKET_DELEGATES],
)
case(
    "ap-delegation-condition-false",
    "The bucket delegates only to its own account's access points",
    ACCESS_POINTS,
    request(resource=ACCESS_POINT, context={"s3:DataAccessPointAccount": OTHER_ACCOUNT}),
    I,
    resource_policies=[AP_POLICY, BUCKET_DELEGATES],
)
case(
    "ap-cross-account-both",
    "Cross-account through an access point: identity and both resource policies",
    CROSS_ACCOUNT,
    request(principal=OTHER_USER, resource=ACCESS_POINT, context={"s3:DataAccessPointAccount": ACCOUNT}),
    A,
    identity_policies=ident(allow("s3:GetObject")),
    resource_policies=[rpolicy(grant({"AWS": OTHER_ACCOUNT}, "s3:GetObject"), name="ap"), BUCKET_DELEGATES],
)
case(
    "ap-cross-account-one-missing",
    "Cross-account: every resource policy consulted must allow",
    CROSS_ACCOUNT,
    request(principal=OTHER_USER, resource=ACCESS_POINT),
    I,
    identity_policies=ident(allow("s3:GetObject")),
    resource_policies=[
        rpolicy(grant({"AWS": OTHER_ACCOUNT}, "s3:GetObject"), name="ap"),
        rpolicy(grant({"AWS": BOB}, "s3:*"), name="bucket"),
    ],
)

# --- VPC endpoint policies ----------------------------------------------------------------------------------
case(
    "vpce-allows",
    "A VPC endpoint policy that allows the request lets the identity allow stand",
    VPC_ENDPOINTS,
    request(),
    A,
    identity_policies=ident(allow("s3:*")),
    vpc_endpoint_policy=rpolicy(grant("*", "s3:GetObject"), name="vpce"),
)
case(
    "vpce-does-not-allow",
    "A VPC endpoint policy that does not allow the request denies it",
    VPC_ENDPOINTS,
    request("s3:PutObject"),
    I,
    identity_policies=ident(allow("s3:*")),
    vpc_endpoint_policy=rpolicy(grant("*", "s3:GetObject"), name="vpce"),
)
case(
    "vpce-denies",
    "A Deny in the VPC endpoint policy applies",
    VPC_ENDPOINTS,
    request(),
    E,
    identity_policies=ident(allow("s3:*")),
    vpc_endpoint_policy=rpolicy(grant("*", "s3:*"), refuse("*", "s3:GetObject"), name="vpce"),
)
case(
    "vpce-grants-nothing",
    "A VPC endpoint policy grants nothing by itself",
    VPC_ENDPOINTS,
    request(),
    I,
    vpc_endpoint_policy=rpolicy(grant("*", "s3:*"), name="vpce"),
)
case(
    "vpce-principal-mismatch",
    "A VPC endpoint policy allowing another principal does not allow the caller",
    VPC_ENDPOINTS,
    request(),
    I,
    identity_policies=ident(allow("s3:*")),
    vpc_endpoint_policy=rpolicy(grant({"AWS": BOB}, "s3:*"), name="vpce"),
)
case(
    "vpce-resource-mismatch",
    "A VPC endpoint policy limited to another bucket does not allow",
    VPC_ENDPOINTS,
    request(),
    I,
    identity_policies=ident(allow("s3:*")),
    vpc_endpoint_policy=rpolicy(grant("*", "s3:*", "arn:aws:s3:::other/*"), name="vpce"),
)
case(
    "vpce-with-resource-grant",
    "The endpoint policy also limits resource-based grants",
    VPC_ENDPOINTS,
    request(),
    I,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
    vpc_endpoint_policy=rpolicy(grant({"AWS": BOB}, "s3:*"), name="vpce"),
)
case(
    "vpce-anonymous",
    "An anonymous request through an endpoint needs the endpoint and the bucket to allow",
    VPC_ENDPOINTS,
    request(principal=ANONYMOUS),
    A,
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
    vpc_endpoint_policy=rpolicy(grant("*", "s3:GetObject"), name="vpce"),
)

# --- Anonymous callers --------------------------------------------------------------------------------------
case(
    "anonymous-principal-star",
    "Principal * in a bucket policy allows anonymous access",
    PRINCIPAL,
    request(principal=ANONYMOUS),
    A,
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
)
case(
    "anonymous-aws-star",
    'Principal {"AWS": "*"} is equivalent to "*" and allows anonymous access',
    PRINCIPAL,
    request(principal=ANONYMOUS),
    A,
    resource_policy=rpolicy(grant({"AWS": "*"}, "s3:GetObject")),
)
case(
    "anonymous-account-grant",
    "A grant to an account does not allow anonymous callers",
    PRINCIPAL,
    request(principal=ANONYMOUS),
    I,
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "s3:GetObject")),
)
case(
    "anonymous-no-resource-policy",
    "Without a resource-based policy nothing allows an anonymous caller",
    DENY_ALLOW,
    request(principal=ANONYMOUS),
    I,
    identity_policies=ident(allow("*")),
)
case(
    "anonymous-deny",
    "A Deny for * applies to anonymous callers",
    PRINCIPAL,
    request(principal=ANONYMOUS),
    E,
    resource_policy=rpolicy(grant("*", "s3:GetObject"), refuse("*", "s3:GetObject")),
)
case(
    "anonymous-scp",
    "SCPs do not apply to anonymous callers (they belong to no account)",
    SCPS,
    request(principal=ANONYMOUS),
    A,
    scps=[[policy(deny("*"), name="deny-all")]],
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
)
case(
    "anonymous-rcp",
    "RCPs restrict access to the organization's resources by anonymous callers too",
    RCPS,
    request(principal=ANONYMOUS),
    E,
    rcps=[[RCP_FULL, rcp(refuse("*", "s3:*"))]],
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
)
case(
    "anonymous-principal-type",
    "aws:PrincipalType is Anonymous for an anonymous caller",
    GLOBAL_KEYS,
    request(principal=ANONYMOUS),
    E,
    resource_policy=rpolicy(
        grant("*", "s3:GetObject"), refuse("*", "s3:*", Condition={"StringEquals": {"aws:PrincipalType": "Anonymous"}})
    ),
)
case(
    "anonymous-userid",
    "aws:userid is anonymous for an anonymous caller",
    GLOBAL_KEYS,
    request(principal=ANONYMOUS),
    A,
    resource_policy=rpolicy(grant("*", "s3:GetObject", Condition={"StringEquals": {"aws:userid": "anonymous"}})),
)
case(
    "anonymous-cross-account-irrelevant",
    "An anonymous caller has no account: only the resource policy decides",
    CROSS_ACCOUNT,
    request(principal=ANONYMOUS, resource_account=OTHER_ACCOUNT),
    A,
    resource_policy=rpolicy(grant("*", "s3:GetObject")),
)

# --- The account root user ----------------------------------------------------------------------------------
case(
    "root-full-access",
    "The account root user has full access in its own account",
    DENY_ALLOW,
    request(principal=ROOT),
    A,
)
case(
    "root-scp-deny",
    "SCPs restrict the root user of a member account",
    SCPS,
    request(principal=ROOT),
    E,
    scps=[[FULL, policy(deny("s3:*"), name="no-s3")]],
)
case(
    "root-scp-no-allow",
    "SCPs restrict the root user: a level without an allow denies",
    SCPS,
    request(principal=ROOT),
    I,
    scps=[[policy(allow("ec2:*"), name="ec2-only")]],
)
case(
    "root-management-account",
    "SCPs do not restrict the management account's root user",
    SCPS,
    request(principal=ROOT),
    A,
    scps=[[policy(deny("*"), name="deny-all")]],
    management_account=True,
)
case(
    "root-resource-deny",
    "A resource policy Deny applies to the root user",
    DENY_ALLOW,
    request(principal=ROOT),
    E,
    resource_policy=rpolicy(refuse({"AWS": ACCOUNT}, "s3:*")),
)
case(
    "root-cross-account-without-grant",
    "Cross-account the root user needs the resource policy to allow",
    CROSS_ACCOUNT,
    request(principal=f"arn:aws:iam::{OTHER_ACCOUNT}:root", resource=QUEUE, action="sqs:SendMessage"),
    I,
)
case(
    "root-cross-account-with-grant",
    "Cross-account the root user is allowed when the resource policy grants its account",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", QUEUE, principal=f"arn:aws:iam::{OTHER_ACCOUNT}:root"),
    A,
    resource_policy=rpolicy(grant({"AWS": OTHER_ACCOUNT}, "sqs:SendMessage")),
)
case(
    "root-kms-without-key-policy",
    "Even the root user needs the key policy to allow use of a KMS key",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY, principal=ROOT),
    I,
)

# --- KMS key policies ---------------------------------------------------------------------------------------
DEFAULT_KEY_POLICY = rpolicy(grant({"AWS": ACCOUNT}, "kms:*", Sid="Enable IAM User Permissions"), name="key-policy")
case(
    "kms-no-key-policy",
    "Identity policies alone never allow use of a KMS key",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY),
    I,
    identity_policies=ident(allow("kms:*")),
)
case(
    "kms-key-policy-silent",
    "A key policy that allows someone else: identity policies do not suffice",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY),
    I,
    identity_policies=ident(allow("kms:*")),
    resource_policy=rpolicy(grant({"AWS": BOB}, "kms:*"), name="key-policy"),
)
case(
    "kms-delegation-identity",
    "A key policy delegating to the account lets identity policies allow",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY),
    A,
    identity_policies=ident(allow("kms:Decrypt")),
    resource_policy=DEFAULT_KEY_POLICY,
)
case(
    "kms-delegation-no-identity",
    "Delegation to the account grants nothing without an identity allow",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY),
    I,
    resource_policy=DEFAULT_KEY_POLICY,
)
case(
    "kms-delegation-partial",
    "The key policy delegates only the actions it names",
    KMS_KEY_POLICIES,
    request("kms:ScheduleKeyDeletion", KEY),
    I,
    identity_policies=ident(allow("kms:*")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "kms:Describe*"), name="key-policy"),
)
case(
    "kms-key-policy-names-user",
    "A key policy naming the user allows it without identity policies",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY),
    A,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "kms:Decrypt"), name="key-policy"),
)
case(
    "kms-key-policy-names-role",
    "A key policy naming the role allows its sessions",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY, principal=SESSION),
    A,
    resource_policy=rpolicy(grant({"AWS": ROLE}, "kms:Decrypt"), name="key-policy"),
)
case(
    "kms-key-policy-role-boundary",
    "A key policy grant to the role is limited by its boundary",
    BOUNDARIES,
    request("kms:Decrypt", KEY, principal=SESSION),
    I,
    permissions_boundary=policy(allow("s3:*")),
    resource_policy=rpolicy(grant({"AWS": ROLE}, "kms:Decrypt"), name="key-policy"),
)
case(
    "kms-key-policy-deny",
    "A Deny in the key policy applies",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", KEY),
    E,
    identity_policies=ident(allow("kms:*")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "kms:*"), refuse("*", "kms:Decrypt"), name="key-policy"),
)
case(
    "kms-cross-account-delegation",
    "Cross-account: the key policy names the other account and its identity policy allows",
    KMS_KEY_POLICIES,
    request("kms:Decrypt", OTHER_KEY),
    A,
    identity_policies=ident(allow("kms:Decrypt", OTHER_KEY)),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "kms:Decrypt"), name="key-policy"),
)
case(
    "kms-cross-account-no-identity",
    "Cross-account: a key policy naming the caller still needs its identity policy",
    CROSS_ACCOUNT,
    request("kms:Decrypt", OTHER_KEY),
    I,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "kms:Decrypt"), name="key-policy"),
)
case(
    "kms-cross-account-no-key-policy",
    "Cross-account: an identity allow without the key policy is not enough",
    CROSS_ACCOUNT,
    request("kms:Decrypt", OTHER_KEY),
    I,
    identity_policies=ident(allow("kms:*")),
)
case(
    "kms-not-key-scoped",
    "kms:CreateKey names no key: identity policies decide",
    KMS_KEY_POLICIES,
    request("kms:CreateKey", "*"),
    A,
    identity_policies=ident(allow("kms:CreateKey")),
)
case(
    "kms-aws-managed-put-policy",
    "AWS managed keys refuse changes to their key policy",
    KMS_AWS_MANAGED,
    Request(principal=ALICE, action="kms:PutKeyPolicy", resource=KEY, resource_managed_by_aws=True, now=NOW),
    I,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
)
case(
    "kms-aws-managed-schedule-deletion",
    "AWS managed keys cannot be scheduled for deletion",
    KMS_AWS_MANAGED,
    Request(principal=ALICE, action="kms:ScheduleKeyDeletion", resource=KEY, resource_managed_by_aws=True, now=NOW),
    I,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
)
case(
    "kms-aws-managed-use",
    "AWS managed keys may still be used as their key policy allows",
    KMS_AWS_MANAGED,
    Request(principal=ALICE, action="kms:Decrypt", resource=KEY, resource_managed_by_aws=True, now=NOW),
    A,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
)
case(
    "kms-customer-managed-put-policy",
    "A customer managed key's policy may be changed when allowed",
    KMS_KEY_POLICIES,
    request("kms:PutKeyPolicy", KEY),
    A,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
)
case(
    "kms-aws-alias-create",
    "The alias/aws/ prefix is reserved for AWS managed keys",
    KMS_AWS_MANAGED,
    request("kms:CreateAlias", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/aws/mine"),
    I,
    identity_policies=ident(allow("kms:*")),
)
case(
    "kms-aws-alias-update",
    "An AWS managed key's alias cannot be repointed",
    KMS_AWS_MANAGED,
    request("kms:UpdateAlias", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/aws/s3"),
    I,
    identity_policies=ident(allow("kms:*")),
)
case(
    "kms-customer-alias",
    "A customer alias may be created when allowed",
    KMS_KEY_POLICIES,
    request("kms:CreateAlias", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/app"),
    A,
    identity_policies=ident(allow("kms:*")),
)
case(
    "kms-rcp-customer-key",
    "RCPs restrict customer managed keys",
    KMS_RCPS,
    request("kms:Decrypt", KEY),
    E,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
    rcps=[[RCP_FULL, rcp(refuse("*", "kms:*"))]],
)
case(
    "kms-rcp-aws-managed-key",
    "RCPs do not apply to AWS managed keys",
    KMS_RCPS,
    Request(principal=ALICE, action="kms:Decrypt", resource=KEY, resource_managed_by_aws=True, now=NOW),
    A,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
    rcps=[[RCP_FULL, rcp(refuse("*", "kms:*"))]],
)
case(
    "kms-rcp-retire-grant",
    "RCPs do not affect kms:RetireGrant",
    RCPS,
    request("kms:RetireGrant", KEY),
    A,
    identity_policies=ident(allow("kms:*")),
    resource_policy=DEFAULT_KEY_POLICY,
    rcps=[[RCP_FULL, rcp(refuse("*", "kms:*"))]],
)

# --- Role trust policies ------------------------------------------------------------------------------------
TRUST_ACCOUNT = rpolicy(grant({"AWS": ACCOUNT}, "sts:AssumeRole"), name="Target-trust")
case(
    "trust-missing",
    "Without a trust policy that allows the caller, nothing lets it assume the role",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE),
    I,
    identity_policies=ident(allow("sts:AssumeRole")),
)
case(
    "trust-names-user",
    "A trust policy naming the user allows it in the same account",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE),
    A,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-account-identity",
    "A trust policy naming the account needs the caller's identity policy",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE),
    A,
    identity_policies=ident(allow("sts:AssumeRole", TARGET_ROLE)),
    resource_policy=TRUST_ACCOUNT,
)
case(
    "trust-account-no-identity",
    "A trust policy naming the account grants nothing by itself",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE),
    I,
    resource_policy=TRUST_ACCOUNT,
)
case(
    "trust-other-user",
    "A trust policy naming someone else does not let the caller assume the role",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE),
    I,
    identity_policies=ident(allow("sts:AssumeRole")),
    resource_policy=rpolicy(grant({"AWS": BOB}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-deny",
    "A Deny in the trust policy applies",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE),
    E,
    identity_policies=ident(allow("sts:AssumeRole")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "sts:AssumeRole"), refuse({"AWS": ALICE}, "sts:AssumeRole")),
)
case(
    "trust-cross-account-both",
    "Cross-account: the trust policy trusts the account and the identity policy allows",
    CROSS_ACCOUNT,
    request("sts:AssumeRole", TARGET_ROLE, principal=OTHER_USER),
    A,
    identity_policies=ident(allow("sts:AssumeRole", TARGET_ROLE)),
    resource_policy=rpolicy(grant({"AWS": OTHER_ACCOUNT}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-cross-account-no-identity",
    "Cross-account: a trust policy naming the caller still needs its identity policy",
    CROSS_ACCOUNT,
    request("sts:AssumeRole", TARGET_ROLE, principal=OTHER_USER),
    I,
    resource_policy=rpolicy(grant({"AWS": OTHER_USER}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-cross-account-no-trust",
    "Cross-account: an identity allow without the trust policy is not enough",
    CROSS_ACCOUNT,
    request("sts:AssumeRole", TARGET_ROLE, principal=OTHER_USER),
    I,
    identity_policies=ident(allow("sts:AssumeRole")),
)
case(
    "trust-service",
    "A trust policy naming a service lets the service assume the role",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE, principal="ec2.amazonaws.com"),
    A,
    resource_policy=rpolicy(grant({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-service-not-cross-account",
    "A service principal has no account: a trust naming it is not cross-account",
    CROSS_ACCOUNT,
    request("sts:AssumeRole", TARGET_ROLE, principal="ec2.amazonaws.com", resource_account=OTHER_ACCOUNT),
    A,
    resource_policy=rpolicy(grant({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-other-service",
    "A trust policy naming one service does not admit another",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE, principal="lambda.amazonaws.com"),
    I,
    resource_policy=rpolicy(grant({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-service-without-trust",
    "A service principal cannot assume a role whose trust policy says nothing of it",
    ROLE_TERMS,
    request("sts:AssumeRole", TARGET_ROLE, principal="ec2.amazonaws.com"),
    I,
)
case(
    "trust-tag-session",
    "Passing session tags needs sts:TagSession in the trust policy",
    ROLE_TERMS,
    request("sts:TagSession", TARGET_ROLE),
    I,
    identity_policies=ident(allow("sts:*")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-role-chaining-session-policy",
    "A session assuming another role through a role-ARN trust is limited by its session policy",
    SESSION_POLICIES,
    request("sts:AssumeRole", TARGET_ROLE, principal=SESSION),
    I,
    session_policy=policy(allow("s3:*")),
    resource_policy=rpolicy(grant({"AWS": ROLE}, "sts:AssumeRole"), name="Target-trust"),
)
case(
    "trust-rcp-deny",
    "RCPs restrict sts:AssumeRole on the organization's roles",
    RCPS,
    request("sts:AssumeRole", TARGET_ROLE, principal=OTHER_USER),
    E,
    identity_policies=ident(allow("sts:AssumeRole")),
    resource_policy=rpolicy(grant({"AWS": OTHER_ACCOUNT}, "sts:AssumeRole"), name="Target-trust"),
    rcps=[
        [RCP_FULL, rcp(refuse("*", "sts:AssumeRole", Condition={"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}))]
    ],
)
case(
    "trust-rcp-service-linked",
    "RCPs do not affect a service assuming its service-linked role",
    RCPS,
    request("sts:AssumeRole", SLR_ROLE, principal="autoscaling.amazonaws.com"),
    A,
    resource_policy=rpolicy(grant({"Service": "autoscaling.amazonaws.com"}, "sts:AssumeRole"), name="slr-trust"),
    rcps=[[RCP_FULL, rcp(refuse("*", "sts:*"))]],
)

# --- Cross-account requests in general ----------------------------------------------------------------------
case(
    "cross-identity-only",
    "Cross-account: the identity policy alone is not enough",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", OTHER_QUEUE),
    I,
    identity_policies=ident(allow("sqs:*")),
)
case(
    "cross-resource-only",
    "Cross-account: the resource policy alone is not enough",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", OTHER_QUEUE),
    I,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-both",
    "Cross-account: identity policy and resource policy both allow",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", OTHER_QUEUE),
    A,
    identity_policies=ident(allow("sqs:*")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-account-from-arn",
    "The resource's account is read from its ARN: no resource policy, no access",
    CROSS_ACCOUNT,
    request("ec2:StopInstances", f"arn:aws:ec2:eu-west-1:{OTHER_ACCOUNT}:instance/i-1"),
    I,
    identity_policies=ident(allow("ec2:*")),
)
case(
    "cross-account-same-arn",
    "A resource in the caller's own account needs only the identity policy",
    SINGLE_ACCOUNT,
    request("ec2:StopInstances", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1"),
    A,
    identity_policies=ident(allow("ec2:*")),
)
case(
    "cross-account-given",
    "An explicit resource account (an S3 ARN names none) makes the request cross-account",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, resource_account=OTHER_ACCOUNT),
    I,
    identity_policies=ident(allow("s3:*")),
)
case(
    "cross-boundary",
    "Cross-account: the caller's boundary still limits the identity side",
    BOUNDARIES,
    request("sqs:SendMessage", OTHER_QUEUE),
    I,
    identity_policies=ident(allow("sqs:*")),
    permissions_boundary=policy(allow("s3:*")),
    resource_policy=rpolicy(grant({"AWS": ALICE}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-session-policy",
    "Cross-account: the session policy still limits the identity side",
    SESSION_POLICIES,
    request("sqs:SendMessage", OTHER_QUEUE, principal=SESSION),
    I,
    identity_policies=ident(allow("sqs:*")),
    session_policy=policy(allow("s3:*")),
    resource_policy=rpolicy(grant({"AWS": SESSION}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-scp",
    "Cross-account: SCPs of the caller's organization still apply",
    SCP_EVALUATION,
    request("sqs:SendMessage", OTHER_QUEUE),
    E,
    identity_policies=ident(allow("sqs:*")),
    scps=[[FULL, policy(deny("sqs:*"), name="no-sqs")]],
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-resource-deny",
    "Cross-account: a Deny in the resource policy applies",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", OTHER_QUEUE),
    E,
    identity_policies=ident(allow("sqs:*")),
    resource_policy=rpolicy(grant({"AWS": ACCOUNT}, "sqs:*"), refuse({"AWS": ALICE}, "sqs:SendMessage")),
)
case(
    "cross-other-account-granted",
    "Cross-account: a grant to a third account does not allow",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", OTHER_QUEUE),
    I,
    identity_policies=ident(allow("sqs:*")),
    resource_policy=rpolicy(grant({"AWS": "999988887777"}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-service-principal",
    "A service principal is not cross-account: the resource policy decides",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", OTHER_QUEUE, principal="sns.amazonaws.com"),
    A,
    resource_policy=rpolicy(grant({"Service": "sns.amazonaws.com"}, "sqs:SendMessage"), name="queue"),
)
case(
    "cross-session-from-other-account",
    "A session from another account is cross-account too",
    CROSS_ACCOUNT,
    request("sqs:SendMessage", QUEUE, principal=OTHER_SESSION),
    A,
    identity_policies=ident(allow("sqs:*")),
    resource_policy=rpolicy(grant({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:role/Auditor"}, "sqs:SendMessage")),
)
# --- A bucket's account: S3 ARNs name none ------------------------------------------------------------------
# "Cross-account policy evaluation logic" (CROSS_ACCOUNT): a request on a resource of another account needs
# the caller's identity policy and the resource's policy; the owner is known from the request
# (resource_account, or aws:ResourceAccount, GLOBAL_KEYS) or, when neither says, decided both ways.
BUCKET_GRANT = rpolicy(grant({"AWS": ACCOUNT}, "s3:GetObject", "arn:aws:s3:::partner-bucket/*"), name="bucket")
BUCKET_NAMES_ALICE = rpolicy(grant({"AWS": ALICE}, "s3:GetObject", "arn:aws:s3:::partner-bucket/*"), name="bucket")
BUCKET_REFUSES = rpolicy(
    grant({"AWS": ACCOUNT}, "s3:GetObject", "arn:aws:s3:::partner-bucket/*"),
    refuse({"AWS": ALICE}, "s3:GetObject", "arn:aws:s3:::partner-bucket/*"),
    name="bucket",
)
UNKNOWN = {"resource_account": None}


def owned_by(account: str, *, in_context: bool) -> dict[str, Any]:
    """The request's word on the bucket's owner: the field, or aws:ResourceAccount in the context."""
    if in_context:
        return {"resource_account": None, "context": {"aws:ResourceAccount": account}}
    return {"resource_account": account}


for suffix, how, in_context in (("", "resource_account", False), ("-context", "aws:ResourceAccount", True)):
    case(
        f"s3-same-account-identity-allow{suffix}",
        f"A bucket of the caller's own account ({how}): the identity policy alone allows",
        SINGLE_ACCOUNT,
        request(resource=OTHER_BUCKET_OBJECT, **owned_by(ACCOUNT, in_context=in_context)),
        A,
        identity_policies=ident(allow("s3:*")),
    )
    case(
        f"s3-same-account-identity-deny{suffix}",
        f"A bucket of the caller's own account ({how}): an identity Deny denies",
        SINGLE_ACCOUNT,
        request(resource=OTHER_BUCKET_OBJECT, **owned_by(ACCOUNT, in_context=in_context)),
        E,
        identity_policies=ident(allow("s3:*"), deny("s3:GetObject")),
        resource_policy=BUCKET_GRANT,
    )
    case(
        f"s3-other-account-identity-only{suffix}",
        f"A bucket of another account ({how}): the identity policy alone is not enough",
        CROSS_ACCOUNT,
        request(resource=OTHER_BUCKET_OBJECT, **owned_by(OTHER_ACCOUNT, in_context=in_context)),
        I,
        identity_policies=ident(allow("s3:*")),
    )
    case(
        f"s3-other-account-bucket-only{suffix}",
        f"A bucket of another account ({how}): the bucket policy alone is not enough",
        CROSS_ACCOUNT,
        request(resource=OTHER_BUCKET_OBJECT, **owned_by(OTHER_ACCOUNT, in_context=in_context)),
        I,
        resource_policy=BUCKET_NAMES_ALICE,
    )
    case(
        f"s3-other-account-both{suffix}",
        f"A bucket of another account ({how}): identity and bucket policy both allow",
        CROSS_ACCOUNT,
        request(resource=OTHER_BUCKET_OBJECT, **owned_by(OTHER_ACCOUNT, in_context=in_context)),
        A,
        identity_policies=ident(allow("s3:*")),
        resource_policy=BUCKET_GRANT,
    )
    case(
        f"s3-other-account-bucket-deny{suffix}",
        f"A bucket of another account ({how}): a Deny in the bucket policy denies",
        CROSS_ACCOUNT,
        request(resource=OTHER_BUCKET_OBJECT, **owned_by(OTHER_ACCOUNT, in_context=in_context)),
        E,
        identity_policies=ident(allow("s3:*")),
        resource_policy=BUCKET_REFUSES,
    )
case(
    "s3-unknown-account-identity-only",
    "Owner unknown: allowed in the caller's account, not in another: not allowed",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, **UNKNOWN),
    I,
    identity_policies=ident(allow("s3:*")),
)
case(
    "s3-unknown-account-bucket-names-caller",
    "Owner unknown: a bucket grant naming the caller suffices in its own account, not in another",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, **UNKNOWN),
    I,
    resource_policy=BUCKET_NAMES_ALICE,
)
case(
    "s3-unknown-account-both",
    "Owner unknown: identity and bucket policy both allow, so either account allows",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, **UNKNOWN),
    A,
    identity_policies=ident(allow("s3:*")),
    resource_policy=BUCKET_GRANT,
)
case(
    "s3-unknown-account-nothing",
    "Owner unknown: nothing allows it in either account",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, **UNKNOWN),
    I,
    identity_policies=ident(allow("ec2:*")),
)
case(
    "s3-unknown-account-identity-deny",
    "Owner unknown: an identity Deny denies in either account",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, **UNKNOWN),
    E,
    identity_policies=ident(allow("s3:*"), deny("s3:GetObject")),
    resource_policy=BUCKET_GRANT,
)
case(
    "s3-unknown-account-bucket-deny",
    "Owner unknown: a Deny in the bucket policy denies in either account",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, **UNKNOWN),
    E,
    identity_policies=ident(allow("s3:*")),
    resource_policy=BUCKET_REFUSES,
)
case(
    "s3-unknown-account-several-values",
    "Owner unknown: several aws:ResourceAccount values name no one owner",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, context={"aws:ResourceAccount": [ACCOUNT, OTHER_ACCOUNT]}, **UNKNOWN),
    I,
    identity_policies=ident(allow("s3:*")),
)
case(
    "s3-unknown-account-service-principal",
    "Owner unknown: a service principal has no account, the bucket policy decides",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, principal="cloudtrail.amazonaws.com", **UNKNOWN),
    A,
    resource_policy=rpolicy(grant({"Service": "cloudtrail.amazonaws.com"}, "s3:GetObject"), name="bucket"),
)
case(
    "s3-unknown-account-root",
    "Owner unknown: the root user needs no identity policy at home, but a bucket grant elsewhere",
    CROSS_ACCOUNT,
    request(resource=OTHER_BUCKET_OBJECT, principal=ROOT, **UNKNOWN),
    I,
)
case(
    "route53-unknown-account",
    "Owner unknown for any ARN without an account (Route 53 hosted zones), not only S3",
    CROSS_ACCOUNT,
    request("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1", **UNKNOWN),
    I,
    identity_policies=ident(allow("route53:*")),
)
case(
    "same-account-service-principal",
    "Same account: a service principal also needs a resource-based grant",
    DENY_ALLOW,
    request("sqs:SendMessage", QUEUE, principal="sns.amazonaws.com"),
    I,
    identity_policies=ident(allow("*")),
)

# --- SCP scope -------------------------------------------------------------------------------------------
NO_S3 = policy(deny("s3:*"), name="no-s3")
case(
    "scp-service-linked-session",
    "SCPs do not restrict service-linked roles",
    SCPS,
    request(principal=SLR_SESSION),
    A,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL, NO_S3]],
)
case(
    "scp-service-linked-by-path",
    "A role under /aws-service-role/ is a service-linked role",
    SERVICE_LINKED,
    request(
        principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/CustomSLR/s",
        principal_arn=SLR_ROLE.replace("AWSServiceRoleForAutoScaling", "CustomSLR"),
    ),
    A,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL, NO_S3]],
)
case(
    "scp-service-linked-no-allow",
    "SCPs grant nothing to restrict a service-linked role with",
    SCPS,
    request(principal=SLR_SESSION),
    A,
    identity_policies=ident(allow("s3:*")),
    scps=[[policy(allow("ec2:*"), name="ec2-only")]],
)
case(
    "scp-reserved-role",
    "SCPs do restrict IAM Identity Center's reserved roles",
    SCPS,
    request(principal=SSO_SESSION),
    E,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL, NO_S3]],
)
case(
    "scp-service-principal",
    "SCPs do not restrict service principals",
    SCPS,
    request(principal="cloudtrail.amazonaws.com"),
    A,
    scps=[[FULL, NO_S3]],
    resource_policy=rpolicy(grant({"Service": "cloudtrail.amazonaws.com"}, "s3:GetObject")),
)
case(
    "scp-management-account-session",
    "SCPs do not restrict principals in the management account",
    SCPS,
    request(principal=SESSION),
    A,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL, NO_S3]],
    management_account=True,
)
case(
    "scp-every-level",
    "Each level must allow: root and OU allow, the account's level does not",
    SCP_EVALUATION,
    request(),
    I,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL], [FULL], []],
)
case(
    "scp-deny-any-level",
    "A Deny at any level applies",
    SCP_EVALUATION,
    request(),
    E,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL], [FULL, NO_S3], [FULL]],
)
case(
    "scp-allow-with-condition",
    "An SCP Allow whose condition is false does not allow",
    SCP_EVALUATION,
    request(context={"aws:RequestedRegion": "us-east-1"}),
    I,
    identity_policies=ident(allow("s3:*")),
    scps=[[policy(allow("*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}), name="eu-only")]],
)

# --- RCPs -------------------------------------------------------------------------------------------------
NO_EXTERNAL = rcp(refuse("*", "s3:*", Condition={"StringNotEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT},
                                                 "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}),
                  name="no-external")  # fmt: skip
case(
    "rcp-full-access",
    "RCPFullAWSAccess at every level lets the existing permissions work",
    RCP_EVALUATION,
    request(),
    A,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL], [RCP_FULL], [RCP_FULL]],
)
case(
    "rcp-level-without-allow",
    "A level whose RCPs allow nothing denies",
    RCP_EVALUATION,
    request(),
    I,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL], [rcp(refuse("*", "sqs:*"))], [RCP_FULL]],
)
case(
    "rcp-empty-level",
    "A level with nothing attached denies (AWS always attaches RCPFullAWSAccess)",
    RCP_EVALUATION,
    request(),
    I,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL], []],
)
case(
    "rcp-deny",
    "A Deny in any RCP from the root to the account denies",
    RCP_EVALUATION,
    request(),
    E,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL], [RCP_FULL, rcp(refuse("*", "s3:GetObject"))]],
)
case("rcp-grants-nothing", "An RCP grants nothing by itself", RCPS, request(), I, rcps=[[RCP_FULL]])
case(
    "rcp-unsupported-service",
    "RCPs apply only to the services that support them",
    RCPS,
    request("ec2:StopInstances", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1"),
    A,
    identity_policies=ident(allow("ec2:*")),
    rcps=[[rcp(refuse("*", "ec2:*"))]],
)
case(
    "rcp-unsupported-service-no-allow",
    "An RCP level without an allow does not restrict unsupported services",
    RCPS,
    request("ec2:StopInstances", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1"),
    A,
    identity_policies=ident(allow("ec2:*")),
    rcps=[[]],
)
case(
    "rcp-management-account-resource",
    "RCPs do not affect resources in the management account",
    RCPS,
    request(),
    A,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL, rcp(refuse("*", "s3:*"))]],
    resource_in_management_account=True,
)
case(
    "rcp-service-linked-caller",
    "RCPs do not restrict calls made by service-linked roles",
    RCPS,
    request(principal=SLR_SESSION),
    A,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL, rcp(refuse("*", "s3:*"))]],
)
case(
    "rcp-service-principal",
    "RCPs restrict service principals (the confused-deputy RCP)",
    RCPS,
    request(principal="cloudtrail.amazonaws.com", context={"aws:SourceAccount": OTHER_ACCOUNT}),
    E,
    resource_policy=rpolicy(grant({"Service": "cloudtrail.amazonaws.com"}, "s3:GetObject")),
    rcps=[
        [
            RCP_FULL,
            rcp(
                refuse(
                    "*",
                    "s3:*",
                    Condition={
                        "StringNotEqualsIfExists": {"aws:SourceAccount": ACCOUNT},
                        "Null": {"aws:SourceAccount": "false"},
                    },
                )
            ),
        ]
    ],
)
case(
    "rcp-perimeter-external",
    "A data-perimeter RCP denies principals from outside the organization",
    RCPS,
    request(principal=OTHER_USER, resource_account=ACCOUNT),
    E,
    identity_policies=ident(allow("s3:*")),
    resource_policy=rpolicy(grant({"AWS": OTHER_ACCOUNT}, "s3:GetObject")),
    rcps=[[RCP_FULL, NO_EXTERNAL]],
)
case(
    "rcp-perimeter-internal",
    "A data-perimeter RCP lets the organization's own principals through",
    RCPS,
    request(),
    A,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL, NO_EXTERNAL]],
)
case(
    "rcp-perimeter-service",
    "A data-perimeter RCP exempting AWS services lets them through",
    RCPS,
    request(principal="cloudtrail.amazonaws.com"),
    A,
    resource_policy=rpolicy(grant({"Service": "cloudtrail.amazonaws.com"}, "s3:GetObject")),
    rcps=[[RCP_FULL, NO_EXTERNAL]],
)
case(
    "rcp-deny-beats-exact-grant",
    "An RCP Deny overrides a resource policy naming the caller",
    RCP_EVALUATION,
    request(),
    E,
    resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:GetObject")),
    rcps=[[RCP_FULL, rcp(refuse("*", "s3:*"))]],
)
case(
    "rcp-and-scp",
    "RCPs and SCPs both apply: an SCP deny with RCPs allowing",
    SCP_EVALUATION,
    request(),
    E,
    identity_policies=ident(allow("s3:*")),
    scps=[[FULL, NO_S3]],
    rcps=[[RCP_FULL]],
)
case(
    "rcp-condition-on-resource-account",
    "aws:ResourceAccount is known from the resource's ARN",
    GLOBAL_KEYS,
    request("sqs:SendMessage", QUEUE),
    E,
    identity_policies=ident(allow("sqs:*")),
    rcps=[[RCP_FULL, rcp(refuse("*", "sqs:*", Condition={"StringEquals": {"aws:ResourceAccount": ACCOUNT}}))]],
)
case(
    "rcp-principal-star-deny-condition",
    'An RCP names "*" and restricts specific principals through conditions',
    RCP_SYNTAX,
    request(principal=BOB),
    E,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL, rcp(refuse("*", "s3:*", Condition={"ArnEquals": {"aws:PrincipalArn": BOB}}))]],
)
case(
    "rcp-principal-star-other",
    "The same RCP leaves other principals alone",
    RCP_SYNTAX,
    request(principal=ALICE),
    A,
    identity_policies=ident(allow("s3:*")),
    rcps=[[RCP_FULL, rcp(refuse("*", "s3:*", Condition={"ArnEquals": {"aws:PrincipalArn": BOB}}))]],
)

# --- Roles only their service may change ------------------------------------------------------------------
ADMIN = ident(allow("*"))
for action in ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"):
    name = action.split(":")[1]
    case(
        f"protected-slr-{name}",
        f"A service-linked role refuses {action} from anyone but its service",
        SERVICE_LINKED,
        request(action, SLR_ROLE),
        I,
        identity_policies=ADMIN,
    )
    case(
        f"protected-reserved-{name}",
        f"An Identity Center reserved role refuses {action} from IAM principals",
        RESERVED_ROLES,
        request(action, SSO_ROLE),
        I,
        identity_policies=ADMIN,
    )
    case(
        f"protected-ordinary-{name}",
        f"An ordinary role allows {action} when policies allow it",
        SINGLE_ACCOUNT,
        request(action, TARGET_ROLE),
        A,
        identity_policies=ADMIN,
    )
case(
    "protected-reserved-by-service-role",
    "Identity Center's service-linked role may change reserved roles",
    RESERVED_ROLES,
    request("iam:PutRolePolicy", SSO_ROLE, principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForSSO/sso"),
    A,
    identity_policies=ADMIN,
)
case(
    "protected-slr-read",
    "Reading a service-linked role is not a change",
    SERVICE_LINKED,
    request("iam:GetRole", SLR_ROLE),
    A,
    identity_policies=ADMIN,
)
case(
    "protected-slr-explicit-deny-first",
    "An explicit Deny is still reported as the deciding statement",
    DENY_ALLOW,
    request("iam:PutRolePolicy", SLR_ROLE),
    E,
    identity_policies=ident(allow("*"), deny("iam:*")),
)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_it_follows_the_documented_rule(case: Case) -> None:
    """Every case cites the AWS page of its rule (see ``case.source``)."""
    decision = evaluate(case.request, **case.policies)
    assert decision.outcome is case.expected, f"{case.rule} ({case.source}): {decision.reason}"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_an_unknown_owner_says_why_it_is_not_allowed() -> None:
    """The reason names what is missing (``aws:ResourceAccount``) and what another account would need; giving
    the owner decides it ("Cross-account policy evaluation logic", CROSS_ACCOUNT)."""
    identity = ident(allow("s3:*", Sid="S3"))
    unknown = evaluate(request(resource=OTHER_BUCKET_OBJECT, resource_account=None), identity_policies=identity)
    assert unknown.outcome is I
    assert unknown.reason.startswith("the resource's account is unknown; give aws:ResourceAccount")
    assert f"caller's own account {ACCOUNT}" in unknown.reason
    assert "in another account: cross-account request: no resource policy allows it" in unknown.reason
    assert unknown.statements == ()  # the gates another account's reading passed before it refused: none
    for account, allowed in ((ACCOUNT, True), (OTHER_ACCOUNT, False)):
        told = request(resource=OTHER_BUCKET_OBJECT, resource_account=None, context={"aws:ResourceAccount": account})
        decision = evaluate(told, identity_policies=identity)
        assert decision.allowed is allowed
        assert "unknown" not in decision.reason


def test_an_unknown_owner_with_a_bucket_policy_that_does_not_allow_names_it() -> None:
    decision = evaluate(
        request(resource=OTHER_BUCKET_OBJECT, resource_account=None),
        identity_policies=ident(allow("s3:*")),
        resource_policy=rpolicy(grant({"AWS": ALICE}, "s3:PutObject"), name="partner-bucket-policy"),
    )
    assert decision.outcome is I
    assert decision.reason.endswith(
        "in another account: the resource policy partner-bucket-policy (in another account) does not allow it)"
    )
