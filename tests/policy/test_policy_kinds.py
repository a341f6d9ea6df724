"""Each kind of policy has its own rules; a policy that breaks them is refused with the element's path.

Sources:
PRINCIPAL https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
  (resource-based statements need a principal, identity-based ones cannot have one, no partial wildcards)
NOT_PRINCIPAL https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
  (not in identity-based policies nor in role trust policies)
SCP_SYNTAX https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html
RCP_SYNTAX https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_syntax.html
  (Version 2012-10-17, Principal "*" only, no NotPrincipal or NotAction, Deny except RCPFullAWSAccess)
"""

from __future__ import annotations

from typing import Any

import pytest

from governance.policy import PolicyError, PolicySet, PolicyType, Request, evaluate, parse_policy, validate_rcp

from .helpers import ALICE, NOW, allow, grant, policy, request

V = "2012-10-17"


def doc(*statements: dict[str, Any], version: str = V) -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


REFUSALS = [
    # (id, kind, document, path, message) - every case from PRINCIPAL or RCP_SYNTAX (see the module docstring)
    ("resource-no-principal", PolicyType.RESOURCE, doc(allow("s3:*")), "Statement[0]",
     "needs Principal or NotPrincipal"),
    ("resource-second-statement", PolicyType.RESOURCE, doc(grant("*", "s3:*"), allow("s3:*")), "Statement[1]",
     "never read as everyone"),
    ("trust-no-principal", PolicyType.TRUST, doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "Statement[0]",
     "a role trust policy statement needs Principal"),
    ("trust-notprincipal", PolicyType.TRUST,
     doc({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}), "Statement[0].NotPrincipal",
     "cannot use NotPrincipal"),
    ("vpce-no-principal", PolicyType.VPC_ENDPOINT, doc(allow("s3:*")), "Statement[0]", "a VPC endpoint policy"),
    ("rcp-no-principal", PolicyType.RCP, doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), "Statement[0]",
     "an RCP statement needs Principal"),
    ("rcp-principal-account", PolicyType.RCP, doc({**grant({"AWS": "111122223333"}, "s3:*"), "Effect": "Deny"}),
     "Statement[0].Principal", 'can name only "*"'),
    ("rcp-notprincipal", PolicyType.RCP, doc({**grant({"AWS": ALICE}, "s3:*", not_principal=True), "Effect": "Deny"}),
     "Statement[0].NotPrincipal", "an RCP cannot use NotPrincipal"),
    ("rcp-notaction", PolicyType.RCP, doc({"Effect": "Deny", "Principal": "*", "NotAction": "s3:*", "Resource": "*"}),
     "Statement[0].NotAction", "cannot use NotAction"),
    ("rcp-allow", PolicyType.RCP, doc(grant("*", "s3:*")), "Statement[0].Effect", "write a Deny"),
    ("rcp-allow-condition", PolicyType.RCP,
     doc(grant("*", "*", Condition={"Bool": {"aws:SecureTransport": "true"}})), "Statement[0].Effect",
     "RCPFullAWSAccess"),
    ("rcp-version", PolicyType.RCP, doc({**grant("*", "s3:*"), "Effect": "Deny"}, version="2008-10-17"), "Version",
     "must use Version 2012-10-17"),
    ("rcp-no-resource", PolicyType.RCP, doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*"}), "Statement[0]",
     "needs Resource or NotResource"),
    ("identity-principal", PolicyType.IDENTITY, doc(grant("*", "s3:*")), "Statement[0].Principal",
     "an identity-based policy cannot have Principal"),
    ("identity-notprincipal", PolicyType.IDENTITY, doc(grant({"AWS": ALICE}, "s3:*", not_principal=True)),
     "Statement[0].NotPrincipal", "cannot have NotPrincipal"),
    ("identity-no-resource", PolicyType.IDENTITY, doc({"Effect": "Allow", "Action": "s3:*"}), "Statement[0]",
     "needs Resource or NotResource"),
    ("boundary-principal", PolicyType.BOUNDARY, doc(grant("*", "s3:*")), "Statement[0].Principal",
     "a permissions boundary cannot have Principal"),
    ("session-principal", PolicyType.SESSION, doc(grant("*", "s3:*")), "Statement[0].Principal",
     "a session policy cannot have Principal"),
    ("scp-principal", PolicyType.SCP, doc(grant("*", "s3:*")), "Statement[0].Principal",
     "an SCP cannot have Principal"),
]  # fmt: skip

PRINCIPAL_VALUES = [
    # (id, Principal element, path, message): AWS refuses principals it cannot resolve (PRINCIPAL)
    ("not-an-arn", {"AWS": "alice"}, "Statement[0].Principal.AWS", "'alice' must be '*', a 12-digit account id"),
    ("short-account", {"AWS": "1234"}, "Statement[0].Principal.AWS", "must be '*', a 12-digit account id"),
    ("list-position", {"AWS": [ALICE, "bob"]}, "Statement[0].Principal.AWS[1]", "'bob' must be"),
    ("arn-wildcard", {"AWS": "arn:aws:iam::111122223333:role/*"}, "Statement[0].Principal.AWS", "cannot use wildcards"),
    ("account-wildcard", {"AWS": "arn:aws:iam::*:root"}, "Statement[0].Principal.AWS", "must be '*'"),
    ("service-wildcard", {"Service": "*.amazonaws.com"}, "Statement[0].Principal.Service", "cannot use wildcards"),
    ("federated-wildcard", {"Federated": "arn:aws:iam::111122223333:saml-provider/*"},
     "Statement[0].Principal.Federated", "cannot use wildcards"),
    ("s3-arn", {"AWS": "arn:aws:s3:::bucket"}, "Statement[0].Principal.AWS", "IAM or STS principal ARN"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "document", "path", "message"),
    [pytest.param(kind, document, path, message, id=case_id) for case_id, kind, document, path, message in REFUSALS],
)
def test_it_refuses_a_policy_that_breaks_its_kinds_rules(kind, document, path, message) -> None:
    """Sources: PRINCIPAL, NOT_PRINCIPAL, SCP_SYNTAX and RCP_SYNTAX (URLs in the module docstring)."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, kind=kind)
    assert caught.value.path == path
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("principal", "path", "message"),
    [pytest.param(principal, path, message, id=case_id) for case_id, principal, path, message in PRINCIPAL_VALUES],
)
def test_it_refuses_principals_aws_cannot_resolve(principal, path, message) -> None:
    """PRINCIPAL: "You cannot use a wildcard to match part of a principal name or ARN"."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(doc(grant(principal, "s3:*")))
    assert caught.value.path == path
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"AWS": "111122223333"},
        {"AWS": ALICE},
        {"AWS": "arn:aws:sts::111122223333:assumed-role/Deployer/ci"},
        {"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E15MNIMTCFKK4C"},
        {"Service": "ec2.amazonaws.com"},
        {"Federated": "cognito-identity.amazonaws.com"},
        {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
    ],
)
def test_it_accepts_the_principals_aws_documents(principal) -> None:
    """PRINCIPAL: account ids, IAM and STS ARNs, services, identity providers, canonical users, "*"."""
    assert parse_policy(doc(grant(principal, "s3:*")), kind=PolicyType.RESOURCE).statements[0].principal is not None


def test_the_rcp_full_access_policy_is_a_valid_rcp() -> None:
    """RCP_SYNTAX: "The effect of Allow is only supported for the RCPFullAWSAccess policy"."""
    parsed = parse_policy(doc(grant("*", "*", "*")), kind=PolicyType.RCP, name="RCPFullAWSAccess")
    assert parsed.statements[0].effect.value == "Allow"


@pytest.mark.parametrize(
    ("role", "bad", "path"),
    [
        ("resource_policy", policy(allow("s3:*"), name="bucket-policy"), "Statement[0]"),
        ("resource_policies", [policy(allow("s3:*"), name="access-point")], "Statement[0]"),
        ("vpc_endpoint_policy", policy(allow("s3:*"), name="vpce"), "Statement[0]"),
        ("identity_policies", [policy(grant("*", "s3:*"), name="inline")], "Statement[0].Principal"),
        ("permissions_boundary", policy(grant("*", "s3:*"), name="boundary"), "Statement[0].Principal"),
        ("session_policy", policy(grant("*", "s3:*"), name="session"), "Statement[0].Principal"),
        ("scps", [[policy(grant("*", "s3:*"), name="scp")]], "Statement[0].Principal"),
        ("rcps", [[policy({**grant({"AWS": ALICE}, "s3:*"), "Effect": "Deny"}, name="rcp")]], "Statement[0].Principal"),
    ],
)
def test_the_policy_set_checks_each_policy_against_its_role(role: str, bad: Any, path: str) -> None:
    """A policy parsed without a kind is checked when it takes a role; a resource-based statement without a
    principal is never read as "everyone" (PRINCIPAL)."""
    with pytest.raises(PolicyError) as caught:
        PolicySet(**{role: bad})
    assert caught.value.path == path
    name = bad.name if not isinstance(bad, list) else (bad[0] if not isinstance(bad[0], list) else bad[0][0]).name
    assert repr(name) in str(caught.value)
    with pytest.raises(PolicyError):
        evaluate(request(), **{role: bad})


def test_a_checked_policy_is_remembered_per_kind() -> None:
    bucket = policy(grant({"AWS": ALICE}, "s3:GetObject"), name="bucket")
    assert evaluate(request(), resource_policy=bucket).allowed
    assert PolicyType.RESOURCE in bucket._kinds
    with pytest.raises(PolicyError):
        PolicySet(identity_policies=[bucket])  # the same policy cannot be an identity policy


def test_rcp_validation_reports_every_rule_it_breaks() -> None:
    """RCP_SYNTAX; the editor shows all findings at once, each with its path."""
    document = doc(
        {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": ["*", "ec2:RunInstances"], "Resource": "*"},
    )
    findings = {(finding.code, finding.path) for finding in validate_rcp(document)}
    assert ("RCP_PRINCIPAL", "Statement[0].Principal") in findings
    assert ("RCP_ALLOW", "Statement[0].Effect") in findings
    assert ("RCP_NOTACTION", "Statement[1].NotAction") in findings
    assert ("RCP_ACTION_STAR", "Statement[2]") in findings
    assert ("RCP_UNSUPPORTED_SERVICE", "Statement[2]") in findings
    severities = {finding.code: finding.severity.value for finding in validate_rcp(document)}
    assert severities["RCP_UNSUPPORTED_SERVICE"] == "warning" and severities["RCP_PRINCIPAL"] == "error"


def test_a_good_rcp_validates_clean_and_an_oversized_one_does_not() -> None:
    good = doc(
        {
            "Sid": "EnforceTLS",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:*", "sqs:*"],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}},
        }
    )
    assert validate_rcp(good) == []
    big = doc(*({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b{i}/*",
                 "Sid": f"S{i}"} for i in range(80)))  # fmt: skip
    assert [finding.code for finding in validate_rcp(big)] == ["SIZE_LIMIT"]
    assert [finding.code for finding in validate_rcp("{")] == ["MALFORMED"]


def test_an_unresolvable_policy_in_a_question_is_refused_too() -> None:
    """Questions refuse what evaluation refuses; an action pattern naming nothing is a clear error."""
    from governance.policy import ask

    with pytest.raises(PolicyError, match="matches no action"):
        ask(PolicySet(identity_policies=[policy(allow("s3:*"))]), Request(principal=ALICE, action="nosuch:*", now=NOW))
