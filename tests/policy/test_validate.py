"""SCP rules, size quotas, unknown actions and the parliament lint."""

from __future__ import annotations

import json
from collections.abc import Iterable

from governance.policy import Finding, Severity, check_size, lint, validate_policy, validate_scp

FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def codes(findings: Iterable[Finding]) -> list[str]:
    return [finding.code for finding in findings]


def test_full_aws_access_is_a_clean_scp() -> None:
    assert validate_scp(FULL_ACCESS) == []


def test_scps_cannot_name_principals() -> None:
    scp = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}
    findings = validate_scp(scp)
    assert codes(findings) == ["SCP_PRINCIPAL"]
    assert findings[0].severity is Severity.ERROR and findings[0].path == "Statement[0]"


def test_scp_allow_restrictions_are_warnings() -> None:
    scp = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "NotAction": "iam:*",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
        ],
    }
    findings = validate_scp(scp)
    assert sorted(codes(findings)) == ["SCP_ALLOW_CONDITION", "SCP_ALLOW_NOTACTION", "SCP_ALLOW_RESOURCE"]
    assert {finding.severity for finding in findings} == {Severity.WARNING}


def test_scp_size_counts_every_character() -> None:
    statements = [
        {"Sid": f"Deny{n}", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"} for n in range(80)
    ]
    assert "SIZE_LIMIT" in codes(validate_scp({"Version": "2012-10-17", "Statement": statements}))


def test_managed_policy_size_ignores_whitespace_but_scp_size_does_not() -> None:
    padded = json.dumps(FULL_ACCESS) + " " * 7000
    assert check_size(padded, "managed") == []
    assert codes(check_size(padded, "scp")) == ["SIZE_LIMIT"]


def test_malformed_documents_become_one_finding() -> None:
    findings = validate_scp('{"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]}')
    assert codes(findings) == ["MALFORMED"]
    assert findings[0].path == "Statement[0].Effect"


def test_unknown_actions_are_flagged() -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjectz", "Resource": "*"}]}
    assert codes(validate_policy(policy)) == ["UNKNOWN_ACTION"]


def test_identity_policies_need_resources_and_no_principal() -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}
    assert sorted(codes(validate_policy(policy))) == ["MISSING_RESOURCE", "PRINCIPAL_NOT_ALLOWED"]
    assert validate_policy(policy, kind="trust") == []


def test_parliament_lint_reports_unknown_actions() -> None:
    findings = lint({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Gett", "Resource": "*"}})
    assert "PARLIAMENT_UNKNOWN_ACTION" in codes(findings)
