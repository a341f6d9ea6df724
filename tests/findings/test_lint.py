"""policy.lint's parliament run on a tree built from the parsed document (no jsoncfg parse) finds what
parliament's own `analyze_policy_string` finds on the document's JSON text."""

from __future__ import annotations

import json

import pytest

from governance.findings.lint import _config_tree, _parliament, issues_of, lint_document


def _through_the_text(document: dict) -> list[dict[str, str]]:
    """What lint_document gave when it handed parliament the JSON text."""
    return issues_of(_parliament().analyze_policy_string(json.dumps(document, indent=2)))


def _aws_managed_sample() -> list[dict]:
    # moto's own copy of AWS's documents (the emulator setup narrows the one moto.iam.models holds).
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data = json.loads(aws_managed_policies_data)
    return [data[name]["Document"] for name in sorted(data)[::7]]


HAND_WRITTEN = [
    # One statement as an object, not a list; a string Action; numbers, booleans and null in conditions.
    {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bucket/*",
            "Condition": {"NumericLessThan": {"s3:max-keys": 10}, "Bool": {"aws:SecureTransport": False}},
        },
    },
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
    # An action that does not exist, a resource the action cannot take, a malformed ARN.
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObjekt", "ec2:RunInstances"], "Resource": "arn:aws:s3:::b"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam:role/x"},
        ],
    },
    # No Version, no Effect, an unknown element, NotAction with NotResource, a non-ASCII Sid.
    {"Statement": [{"Sid": "Ünïcode", "Action": "s3:*", "Resource": "*", "Principal": {"AWS": "*"}}]},
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:iam::*:role/x", "Extra": 1}],
    },
    {"Version": "2008-10-17", "Statement": []},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [], "Resource": None}]},
    {},
]


@pytest.mark.parametrize("document", HAND_WRITTEN, ids=range(len(HAND_WRITTEN)))
def test_hand_written_documents_lint_as_through_the_text(document):
    assert lint_document(document) == _through_the_text(document)


def test_aws_managed_documents_lint_as_through_the_text():
    documents = _aws_managed_sample()
    assert len(documents) > 100
    found = [lint_document(d) for d in documents]
    assert found == [_through_the_text(d) for d in documents]
    assert any(found), "the sample should hold documents parliament reports on"


def test_the_tree_holds_the_document():
    document = HAND_WRITTEN[0]
    assert _config_tree(document)() == json.loads(json.dumps(document))
