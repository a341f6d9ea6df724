"""Statement-level policy diff."""

from __future__ import annotations

from governance.policy import diff_policies

from .helpers import allow, deny, policy


def test_identical_policies_have_an_empty_diff() -> None:
    old = policy(allow("s3:*", Sid="A"), deny("ec2:*"))
    new = policy(allow(["s3:*"], Sid="A"), deny(["ec2:*"]))
    diff = diff_policies(old, new)
    assert diff.is_empty
    assert diff.unchanged == 2


def test_it_pairs_statements_by_sid_and_names_changed_elements() -> None:
    diff = diff_policies(policy(allow("s3:Get*", Sid="Read")), policy(allow(["s3:Get*", "s3:List*"], Sid="Read")))
    assert [change.kind for change in diff.changed] == ["changed"]
    assert diff.changed[0].changed_elements == ("Action",)


def test_action_order_does_not_count_as_a_change() -> None:
    assert diff_policies(policy(allow(["a:B", "a:C"], Sid="X")), policy(allow(["a:C", "a:B"], Sid="X"))).is_empty


def test_unnamed_statements_are_added_and_removed() -> None:
    diff = diff_policies(policy(deny("ec2:*"), deny("iam:*")), policy(deny("iam:*"), deny("s3:*")))
    assert [change.before["Action"] for change in diff.removed if change.before] == [["ec2:*"]]
    assert [change.after["Action"] for change in diff.added if change.after] == [["s3:*"]]
    assert diff.unchanged == 1


def test_sid_added_and_removed() -> None:
    diff = diff_policies(policy(allow("s3:*", Sid="Old")), policy(allow("s3:*", Sid="New")))
    assert [change.sid for change in diff.removed] == ["Old"]
    assert [change.sid for change in diff.added] == ["New"]


def test_version_change_is_reported() -> None:
    assert diff_policies(policy(allow(), version="2008-10-17"), policy(allow())).version_changed
