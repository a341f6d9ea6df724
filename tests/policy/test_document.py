"""Parsing and normalizing policy documents, and the errors for wrong shapes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from governance.policy import Effect, PolicyError, parse_policy


def statement(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def document(*statements: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements), **top}


def test_it_accepts_a_single_statement_object() -> None:
    parsed = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": statement(Sid="One")}))
    assert len(parsed.statements) == 1
    assert parsed.statements[0].sid == "One"
    assert parsed.statements[0].effect is Effect.ALLOW


def test_it_normalizes_strings_to_tuples() -> None:
    parsed = parse_policy(document(statement(Action="s3:GetObject", Resource="arn:aws:s3:::b/*")))
    only = parsed.statements[0]
    assert only.actions == ("s3:GetObject",)
    assert only.resources == ("arn:aws:s3:::b/*",)


def test_a_string_and_a_one_element_list_parse_the_same() -> None:
    one = parse_policy(document(statement(Action="s3:GetObject")))
    many = parse_policy(document(statement(Action=["s3:GetObject"])))
    assert one.statements == many.statements


def test_it_is_immutable() -> None:
    parsed = parse_policy(document(statement()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.statements[0].effect = Effect.DENY  # type: ignore[misc]
    assert isinstance(parsed.statements, tuple)


def test_it_accepts_bytes_and_reports_size() -> None:
    text = json.dumps(document(statement()))
    parsed = parse_policy(text.encode())
    assert parsed.size == len(text)


def test_missing_version_means_2008() -> None:
    assert parse_policy({"Statement": statement()}).version == "2008-10-17"


def test_it_parses_principals() -> None:
    parsed = parse_policy(
        document(
            statement(Principal={"AWS": ["111122223333", "arn:aws:iam::444455556666:role/R"]}),
            statement(Principal={"Service": "ec2.amazonaws.com", "Federated": "accounts.google.com"}),
            statement(Principal="*"),
            statement(NotPrincipal={"AWS": "arn:aws:iam::111122223333:user/alice"}, Effect="Deny"),
        )
    )
    first, second, third, fourth = parsed.statements
    assert first.principal is not None
    assert first.principal.aws == frozenset({"arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:role/R"})
    assert second.principal is not None and second.principal.service == frozenset({"ec2.amazonaws.com"})
    assert third.principal is not None and third.principal.everyone
    assert fourth.not_principal


def test_condition_keys_are_lower_cased_and_operators_canonical() -> None:
    parsed = parse_policy(document(statement(Condition={"stringequals": {"AWS:SourceVpc": "vpc-1"}})))
    clause = parsed.statements[0].conditions[0]
    assert (clause.operator, clause.key) == ("StringEquals", "aws:sourcevpc")


def test_to_json_round_trips() -> None:
    original = document(statement(Sid="A", Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}))
    parsed = parse_policy(original)
    assert parse_policy(parsed.to_json()).statements == parsed.statements


ERRORS = [
    ("malformed-json", '{"Version": "2012-10-17", "Statement": [', "malformed JSON at line 1"),
    ("not-an-object", "[]", "policy must be a JSON object"),
    ("no-statement", {"Version": "2012-10-17"}, "policy has no Statement"),
    ("empty-statement-list", {"Version": "2012-10-17", "Statement": []}, "Statement: must not be an empty list"),
    ("statement-not-object", {"Version": "2012-10-17", "Statement": ["x"]}, "Statement[0]: must be an object"),
    ("bad-version", {"Version": "2020-01-01", "Statement": statement()}, "Version: must be 2012-10-17 or 2008-10-17"),
    (
        "unknown-top-level",
        {"Version": "2012-10-17", "Statement": statement(), "Statements": []},
        "unknown top-level element 'Statements'",
    ),
    (
        "bad-effect",
        document(statement(), statement(), statement(Effect="allow")),
        "Statement[2].Effect: must be Allow or Deny, not 'allow'",
    ),
    ("missing-effect", document(statement(Effect=None)), "Statement[0].Effect: must be Allow or Deny"),
    (
        "action-and-notaction",
        document(statement(NotAction="s3:*")),
        "Statement[0]: cannot have both Action and NotAction",
    ),
    ("no-action", document(statement(Action=None)), "Statement[0]: must have Action or NotAction"),
    (
        "bad-action",
        document(statement(Action=["s3:GetObject", "GetObject"])),
        "Statement[0].Action[1]: 'GetObject' must be 'service:action' or '*'",
    ),
    ("action-with-space", document(statement(Action="s3:Get Object")), "must be 'service:action' or '*'"),
    ("empty-action-list", document(statement(Action=[])), "Statement[0].Action: must not be an empty list"),
    ("action-not-string", document(statement(Action=[1])), "Statement[0].Action[0]: must be a non-empty string"),
    (
        "resource-and-notresource",
        document(statement(NotResource="*")),
        "Statement[0]: cannot have both Resource and NotResource",
    ),
    (
        "resource-not-arn",
        document(statement(Resource="my-bucket")),
        "Statement[0].Resource: 'my-bucket' must be an ARN",
    ),
    ("unknown-element", document(statement(Actions="s3:*")), "Statement[0]: unknown element 'Actions'"),
    (
        "principal-and-notprincipal",
        document(statement(Principal="*", NotPrincipal="*")),
        "cannot have both Principal and NotPrincipal",
    ),
    ("principal-bare-arn", document(statement(Principal="arn:aws:iam::1:root")), 'Statement[0].Principal: must be "*"'),
    ("principal-unknown-type", document(statement(Principal={"User": "x"})), "unknown principal type 'User'"),
    ("condition-not-object", document(statement(Condition=["x"])), "Statement[0].Condition: must be an object"),
    (
        "unknown-operator",
        document(statement(Condition={"StringEqual": {"k": "v"}})),
        "Statement[0].Condition.StringEqual: unknown condition operator 'StringEqual'",
    ),
    (
        "unknown-set-operator",
        document(statement(Condition={"ForSomeValues:StringEquals": {"k": "v"}})),
        "unknown condition set operator 'ForSomeValues'",
    ),
    (
        "operator-keys-not-object",
        document(statement(Condition={"StringEquals": "v"})),
        "Statement[0].Condition.StringEquals: must be a non-empty object",
    ),
    (
        "numeric-not-number",
        document(statement(Condition={"NumericLessThan": {"s3:max-keys": "ten"}})),
        "Statement[0].Condition.NumericLessThan.s3:max-keys: 'ten' is not a number",
    ),
    (
        "date-invalid",
        document(statement(Condition={"DateLessThan": {"aws:CurrentTime": "soon"}})),
        "'soon' is not an ISO 8601 date",
    ),
    (
        "ip-invalid",
        document(statement(Condition={"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}})),
        "is not an IP address or CIDR range",
    ),
    ("binary-invalid", document(statement(Condition={"BinaryEquals": {"k": "@@@"}})), "'@@@' is not base64"),
    ("null-invalid", document(statement(Condition={"Null": {"k": "maybe"}})), "Null takes true or false"),
    (
        "null-if-exists",
        document(statement(Condition={"NullIfExists": {"k": "true"}})),
        "Null cannot be combined with IfExists",
    ),
    (
        "condition-value-object",
        document(statement(Condition={"StringEquals": {"k": {"a": 1}}})),
        "condition values must be strings, numbers or booleans",
    ),
    ("condition-empty-values", document(statement(Condition={"StringEquals": {"k": []}})), "needs at least one value"),
    ("duplicate-sid", document(statement(Sid="A"), statement(Sid="A")), "duplicate Sid 'A'"),
    ("sid-not-string", document(statement(Sid=3)), "Statement[0].Sid: must be a string"),
    (
        "unterminated-variable",
        document(statement(Resource="arn:aws:s3:::b/${aws:username")),
        "unterminated policy variable",
    ),
    (
        "default-unquoted",
        document(statement(Resource="arn:aws:s3:::b/${aws:username, x}")),
        "default value of policy variable",
    ),
    ("variable-with-space", document(statement(Resource="arn:aws:s3:::b/${aws user}")), "invalid policy variable"),
    ("not-json-type", 42, "policy must be JSON text or an object"),
]


@pytest.mark.parametrize(("raw", "message"), [pytest.param(raw, msg, id=i) for i, raw, msg in ERRORS])
def test_it_rejects_malformed_policies_saying_where(raw: Any, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(raw)
    assert message in str(caught.value)


def test_the_error_carries_its_path() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document(statement(), statement(Effect="Maybe")))
    assert caught.value.path == "Statement[1].Effect"
