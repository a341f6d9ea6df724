"""Questions over many resources and actions: all, some or none, with the statements deciding each part."""

from __future__ import annotations

import pytest

from governance.policy import (
    Coverage,
    Outcome,
    PolicySet,
    Request,
    ask,
    ask_many,
    compare,
    evaluate,
    evaluate_pattern,
    expand_actions,
)
from governance.policy.patterns import glob_tokens, regions

from .helpers import ACCOUNT, ALICE, BOB, BUCKET, NOW, SESSION, allow, deny, grant, policy, rpolicy

ROLES = f"arn:aws:iam::{ACCOUNT}:role/"


def question(action: str = "iam:PassRole", resource: str = "*", principal: str = ALICE, **extra) -> Request:
    return Request(principal=principal, action=action, resource=resource, now=NOW, **extra)


def test_it_answers_all_when_a_statement_covers_every_resource() -> None:
    policy_set = PolicySet(identity_policies=[policy(allow("iam:PassRole", "*", Sid="PassAny"), name="admin")])
    answer = ask(policy_set, question())
    assert answer.coverage is Coverage.ALL
    assert [str(ref) for ref in answer.statements] == ["identity admin PassAny"]
    assert all(part.allowed for part in answer.parts)


def test_it_answers_some_and_says_which_part_is_allowed_by_what() -> None:
    policy_set = PolicySet(identity_policies=[policy(allow("iam:PassRole", f"{ROLES}app-*", Sid="Apps"), name="ci")])
    answer = ask(policy_set, question())
    assert answer.coverage is Coverage.SOME
    (allowed,) = answer.allowed_parts
    assert allowed.matches == (f"{ROLES}app-*",)
    assert allowed.example.startswith(f"{ROLES}app-")
    assert [str(ref) for ref in allowed.decision.statements] == ["identity ci Apps"]
    (denied,) = answer.denied_parts
    assert denied.excludes == (f"{ROLES}app-*",)
    assert denied.decision.outcome is Outcome.IMPLICIT_DENY
    # Every example is decided by the ordinary evaluator exactly as its part says.
    for part in answer.parts:
        assert evaluate(question(resource=part.example), identity_policies=list(policy_set.identity)) == part.decision


def test_it_answers_none_when_nothing_allows_any_resource() -> None:
    policy_set = PolicySet(identity_policies=[policy(allow("iam:GetRole", "*"))])
    answer = ask(policy_set, question())
    assert answer.coverage is Coverage.NONE
    assert answer.statements == ()


def test_a_deny_on_part_of_the_resources_makes_it_some_and_names_the_deny() -> None:
    admin = policy(allow("*", Sid="All"), deny("iam:PassRole", f"{ROLES}admin-*", Sid="NoAdminPass"), name="admin")
    answer = ask(PolicySet(identity_policies=[admin]), question())
    assert answer.coverage is Coverage.SOME
    (denied,) = answer.denied_parts
    assert denied.decision.outcome is Outcome.EXPLICIT_DENY
    assert [str(ref) for ref in denied.decision.statements] == ["identity admin NoAdminPass"]
    assert denied.matches == (f"{ROLES}admin-*",)


def test_not_resource_splits_the_resources_too() -> None:
    statement = allow("iam:PassRole", NotResource=f"{ROLES}admin-*")
    answer = ask(PolicySet(identity_policies=[policy(statement)]), question())
    assert answer.coverage is Coverage.SOME
    assert [part.matches for part in answer.denied_parts] == [(f"{ROLES}admin-*",)]


def test_a_narrower_question_can_be_fully_allowed() -> None:
    policy_set = PolicySet(identity_policies=[policy(allow("iam:PassRole", f"{ROLES}app-*"))])
    assert ask(policy_set, question(resource=f"{ROLES}app-web-*")).coverage is Coverage.ALL
    assert ask(policy_set, question(resource=f"{ROLES}db-*")).coverage is Coverage.NONE
    assert ask(policy_set, question(resource=f"{ROLES}app-web")).coverage is Coverage.ALL


def test_an_action_pattern_groups_the_actions_statements_treat_alike() -> None:
    reader = policy(allow("ec2:Describe*", Sid="Read"), name="reader")
    answer = ask(PolicySet(identity_policies=[reader]), question("ec2:*"))
    assert answer.coverage is Coverage.SOME
    allowed = {action for part in answer.allowed_parts for action in part.actions}
    denied = {action for part in answer.denied_parts for action in part.actions}
    describe = {action for action in expand_actions("ec2:*") if action.startswith("ec2:Describe")}
    assert allowed == describe
    assert denied == expand_actions("ec2:*") - describe
    assert len(answer.parts) == 2  # two groups of actions, each over one region


def test_scps_split_the_question_by_their_own_resources() -> None:
    scp = policy(allow("*"), deny("ec2:TerminateInstances", "arn:aws:ec2:*:*:instance/*", Sid="Keep"), name="keep")
    policy_set = PolicySet(identity_policies=[policy(allow("ec2:*"))], scps=[[scp]])
    answer = ask(policy_set, question("ec2:TerminateInstances"))
    assert answer.coverage is Coverage.SOME
    (denied,) = answer.denied_parts
    assert [str(ref) for ref in denied.decision.statements] == ["scp keep Keep"]


def test_variables_in_resources_resolve_for_the_asking_principal() -> None:
    home = policy(allow("s3:*", f"{BUCKET}/home/${{aws:username}}/*"))
    answer = ask(PolicySet(identity_policies=[home]), question("s3:GetObject", f"{BUCKET}/*"))
    assert answer.coverage is Coverage.SOME
    assert answer.allowed_parts[0].matches == (f"{BUCKET}/home/alice/*",)
    # A role session has no user name: the statement matches no resource at all.
    session = ask(PolicySet(identity_policies=[home]), question("s3:GetObject", f"{BUCKET}/*", principal=SESSION))
    assert session.coverage is Coverage.NONE


def test_conditions_apply_to_every_part() -> None:
    statement = allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
    policy_set = PolicySet(identity_policies=[policy(statement)])
    assert ask(policy_set, question(context={"iam:PassedToService": "ec2.amazonaws.com"})).coverage is Coverage.ALL
    assert ask(policy_set, question(context={"iam:PassedToService": "lambda.amazonaws.com"})).coverage is Coverage.NONE


def test_kms_keys_are_a_part_of_their_own() -> None:
    """Identity policies alone allow kms:Decrypt on nothing that is a key (the key policy must allow it)."""
    answer = ask(PolicySet(identity_policies=[policy(allow("kms:*"))]), question("kms:Decrypt"))
    assert answer.coverage is Coverage.SOME
    keys = "arn:aws*:kms:*:*:key/*"
    assert answer.allowed_parts and all(keys not in part.matches for part in answer.allowed_parts)
    assert answer.denied_parts and all(keys in part.matches for part in answer.denied_parts)
    assert "needs its key policy" in answer.denied_parts[0].decision.reason


def test_the_question_is_about_one_account() -> None:
    """Resources of the caller's account unless the pattern or the request names another (cross-account)."""
    policy_set = PolicySet(identity_policies=[policy(allow("sqs:*"))])
    assert ask(policy_set, question("sqs:SendMessage", "*")).coverage is Coverage.ALL
    other = "arn:aws:sqs:*:444455556666:*"
    assert ask(policy_set, question("sqs:SendMessage", other)).coverage is Coverage.NONE
    elsewhere = question("sqs:SendMessage", "*", resource_account="444455556666")
    assert ask(policy_set, elsewhere).coverage is Coverage.NONE
    queue_policy = rpolicy(grant({"AWS": ACCOUNT}, "sqs:SendMessage"), name="queue")
    shared = PolicySet(identity_policies=[policy(allow("sqs:*"))], resource_policy=queue_policy)
    assert ask(shared, question("sqs:SendMessage", other)).coverage is Coverage.ALL


def test_resource_policies_and_principals_take_part() -> None:
    bucket = rpolicy(grant({"AWS": BOB}, "s3:GetObject", f"{BUCKET}/shared/*"), name="bucket")
    answer = ask(PolicySet(resource_policy=bucket), question("s3:GetObject", f"{BUCKET}/*", principal=BOB))
    assert answer.coverage is Coverage.SOME
    assert [str(ref) for ref in answer.statements] == ["resource bucket #0"]
    assert ask(PolicySet(resource_policy=bucket), question("s3:GetObject", f"{BUCKET}/*")).coverage is Coverage.NONE


def test_compare_finds_who_loses_something_somewhere() -> None:
    full = policy(allow("*"), name="FullAWSAccess")
    guarded = policy(allow("*"), deny("ec2:Terminate*", "arn:aws:ec2:*:*:instance/*", Sid="NoTerminate"), name="g")
    before = PolicySet(identity_policies=[policy(allow("ec2:*"))], scps=[[full]])
    after = PolicySet(identity_policies=[policy(allow("ec2:*"))], scps=[[guarded]])
    change = compare(before, after, question("ec2:*"))
    assert (change.before, change.after) == (Coverage.ALL, Coverage.SOME)
    assert change.gained == ()
    (lost,) = change.lost
    assert set(lost.actions) == {action for action in expand_actions("ec2:*") if action.startswith("ec2:Terminate")}
    assert lost.before.allowed and [str(ref) for ref in lost.after.statements] == ["scp g NoTerminate"]
    assert compare(after, before, question("ec2:*")).gained[0].actions == lost.actions
    assert compare(before, before, question("ec2:*")).lost == ()


def test_ask_many_answers_for_each_principal() -> None:
    admins = PolicySet(identity_policies=[policy(allow("*"))])
    ci = PolicySet(identity_policies=[policy(allow("iam:PassRole", f"{ROLES}app-*"))])
    readers = PolicySet(identity_policies=[policy(allow("iam:Get*"))])
    subjects = [(ALICE, admins), (BOB, ci), (SESSION, readers)]
    answers = dict(ask_many(action="iam:PassRole", resource="*", subjects=subjects, now=NOW))
    assert {arn: answer.coverage for arn, answer in answers.items()} == {
        ALICE: Coverage.ALL,
        BOB: Coverage.SOME,
        SESSION: Coverage.NONE,
    }


def test_evaluate_pattern_takes_the_arguments_of_evaluate() -> None:
    answer = evaluate_pattern(
        question(), identity_policies=[policy(allow("iam:PassRole"))], scps=[[policy(allow("*"))]]
    )
    assert answer.coverage is Coverage.ALL
    assert PolicySet(identity_policies=[policy(allow("iam:PassRole"))]).evaluate_pattern(question()) == ask(
        PolicySet(identity_policies=[policy(allow("iam:PassRole"))]), question()
    )


@pytest.mark.parametrize(
    ("question_pattern", "patterns", "expected"),
    [
        ("*", ["a*"], {(True,), (False,)}),
        ("a*", ["*"], {(True,)}),
        ("a*", ["b*"], {(False,)}),
        ("a*", ["*b"], {(True,), (False,)}),
        ("a?c", ["abc"], {(True,), (False,)}),
        ("abc", ["a*", "*c", "b*"], {(True, True, False)}),
        ("*", ["a*", "*a"], {(True, True), (True, False), (False, True), (False, False)}),
        (
            "arn:aws:s3:::*",
            ["arn:aws:s3:::b/*", "*admin*"],
            {(True, True), (True, False), (False, True), (False, False)},
        ),
        ("a*", ["*", "b*"], {(True, False)}),
    ],
)
def test_regions_split_a_pattern_by_what_other_patterns_match(question_pattern, patterns, expected) -> None:
    found = regions(glob_tokens(question_pattern), [((glob_tokens(pattern),),) for pattern in patterns])
    assert {vector for vector, _example in found} == expected
    from governance.policy.patterns import compile_glob

    for vector, example in found:
        assert example and compile_glob(question_pattern)(example)
        assert tuple(compile_glob(pattern)(example) for pattern in patterns) == vector


def test_a_group_of_patterns_is_one_union() -> None:
    a_or_b = ((glob_tokens("a*"),), (glob_tokens("b*"),))  # one group of two parts
    found = dict(regions(glob_tokens("*"), [a_or_b, ((glob_tokens("*z"),),)]))
    assert set(found) == {(True, True), (True, False), (False, True), (False, False)}
    assert found[(True, False)][0] in "ab" and found[(True, True)].endswith("z")


def test_a_deny_that_spares_the_caller_does_not_hide_its_parts() -> None:
    """SCPs do not restrict service-linked roles: an SCP denying everything leaves their own split."""
    from .helpers import SLR_SESSION

    scp = policy(allow("*"), deny("*"), name="deny-all")
    policy_set = PolicySet(identity_policies=[policy(allow("iam:PassRole", f"{ROLES}app-*"))], scps=[[scp]])
    assert ask(policy_set, question()).coverage is Coverage.NONE
    assert ask(policy_set, question(principal=SLR_SESSION)).coverage is Coverage.SOME
    rcp_deny = rpolicy(grant("*", "*"), {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"})
    keys = PolicySet(identity_policies=[policy(allow("kms:*"))], resource_policy=rpolicy(grant({"AWS": ALICE})),
                     rcps=[[rcp_deny]])  # fmt: skip
    managed = question("kms:Decrypt", "arn:aws:kms:*:111122223333:key/*", resource_managed_by_aws=True)
    assert ask(keys, managed).coverage is Coverage.ALL  # RCPs do not apply to AWS managed keys
    assert ask(keys, question("kms:Decrypt", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k-1")).coverage is Coverage.NONE
