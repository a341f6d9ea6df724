"""deploy/'s roles: cfn-lint clean, trust as narrow as the README promises, and the call checker itself."""

from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint_file

from governance.aws import calls
from governance.aws.readers import organizations
from governance.policy import Outcome, PolicyType, Request, evaluate, is_known_action, parse_policy
from tests.deploy import roles
from tests.fixtures.aws_calls import Recorder

TEMPLATES = sorted(p.name for p in roles.DEPLOY.glob("*.yaml"))
MEMBER_ROLE = "arn:aws:iam::222222222222:role/GovernancePortalReadRole"
WRITER_ROLE = "arn:aws:iam::222222222222:role/GovernancePortalWriterRole"


def _assume(
    template: str, *, principal_arn: str = roles.PORTAL_ROLE_ARN, role_arn: str, action="sts:AssumeRole", **ctx
):
    session = principal_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/portal"
    request = Request(principal=session, principal_arn=principal_arn, action=action, resource=role_arn, context=ctx)
    identity = roles.role("management-role.yaml").policies
    return evaluate(request, resource_policy=roles.role(template).trust, identity_policies=identity).outcome


def test_it_lints_every_template_with_cfn_lint():
    assert TEMPLATES == ["management-role.yaml", "member-read-role.yaml", "writer-role.yaml"]
    for name in TEMPLATES:
        matches = lint_file(roles.DEPLOY / name, config=ManualArgs(regions=["us-east-1"]))
        assert [str(m) for m in matches] == [], name


@pytest.mark.parametrize("name", TEMPLATES)
def test_it_names_known_actions_and_no_patterns(name):
    granted = roles.role(name).allowed_actions()
    assert granted
    for action in granted:
        assert "*" not in action and "?" not in action, action
        assert is_known_action(action), action
    for document in roles.role(name).raw_policies:
        for statement in document["Statement"]:
            assert statement["Effect"] == "Deny" or "NotAction" not in statement


def test_it_lets_the_portal_assume_the_member_role_only_with_the_external_id():
    member = "member-read-role.yaml"
    assert _assume(member, role_arn=MEMBER_ROLE, **{"sts:ExternalId": roles.EXTERNAL_ID}) is Outcome.ALLOW
    assert _assume(member, role_arn=MEMBER_ROLE) is not Outcome.ALLOW
    assert _assume(member, role_arn=MEMBER_ROLE, **{"sts:ExternalId": "guessed-external-id"}) is not Outcome.ALLOW
    someone_else = "arn:aws:iam::111111111111:role/SomeoneElse"
    assert (
        _assume(member, principal_arn=someone_else, role_arn=MEMBER_ROLE, **{"sts:ExternalId": roles.EXTERNAL_ID})
        is not Outcome.ALLOW
    )


def test_it_refuses_a_member_role_without_a_long_external_id():
    parameters = roles.template("member-read-role.yaml")["Parameters"]
    assert "Default" not in parameters["ExternalId"] and parameters["ExternalId"]["MinLength"] >= 16


def test_it_lets_the_portal_assume_the_writer_role_only_naming_a_person():
    writer = "writer-role.yaml"
    named = {"sts:SourceIdentity": "maria.manager"}
    assert _assume(writer, role_arn=WRITER_ROLE, **named) is Outcome.ALLOW
    assert _assume(writer, role_arn=WRITER_ROLE, action="sts:SetSourceIdentity", **named) is Outcome.ALLOW
    assert _assume(writer, role_arn=WRITER_ROLE) is not Outcome.ALLOW
    tags = {"aws:TagKeys": ["portal-user", "portal-action"]}
    assert _assume(writer, role_arn=WRITER_ROLE, action="sts:TagSession", **tags) is Outcome.ALLOW
    assert (
        _assume(writer, role_arn=WRITER_ROLE, action="sts:TagSession", **{"aws:TagKeys": ["portal-user", "admin"]})
        is not Outcome.ALLOW
    )


def test_it_denies_every_write_of_a_writer_session_without_a_source_identity():
    writer = roles.role("writer-role.yaml").policies
    session = "arn:aws:sts::222222222222:assumed-role/GovernancePortalWriterRole/x"
    update = Request(principal=session, action="organizations:UpdatePolicy", resource="*")
    assert evaluate(update, identity_policies=writer).outcome is Outcome.EXPLICIT_DENY
    named = Request(principal=session, action="organizations:UpdatePolicy", context={"aws:SourceIdentity": "maria"})
    assert evaluate(named, identity_policies=writer).outcome is Outcome.ALLOW


def test_it_lets_the_portal_role_assume_only_the_portal_roles():
    portal = roles.role("management-role.yaml").policies
    # A trust policy open to the portal, so the portal role's own policy decides.
    trust = parse_policy(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": roles.PORTAL_ROLE_ARN}, "Action": "sts:AssumeRole"}]},
        kind=PolicyType.TRUST,
    )
    for role_arn, allowed in (
        (MEMBER_ROLE, True),
        (WRITER_ROLE, True),
        ("arn:aws:iam::222222222222:role/OrganizationAccountAccessRole", False),
    ):
        request = Request(
            principal=roles.PORTAL_SESSION_ARN,
            principal_arn=roles.PORTAL_ROLE_ARN,
            action="sts:AssumeRole",
            resource=role_arn,
        )
        outcome = evaluate(request, identity_policies=portal, resource_policy=trust).outcome
        assert (outcome is Outcome.ALLOW) is allowed, role_arn
    create = Request(principal=roles.PORTAL_SESSION_ARN, action="iam:CreateUser", resource="*")
    assert evaluate(create, identity_policies=portal).outcome is not Outcome.ALLOW


def test_it_reports_a_call_a_role_does_not_allow():
    problems = roles.check({("member", "iam:CreateUser", "*", ())}, whole_suite=False)
    assert problems == ["member-read-role.yaml does not allow iam:CreateUser on * (no identity-based policy allows it)"]
    assert roles.check({("member", "iam:GetCredentialReport", "*", ())}, whole_suite=False) == []


def test_it_reports_an_assume_role_without_the_external_id():
    bare = ("portal", "sts:AssumeRole", MEMBER_ROLE, ())
    with_id = ("portal", "sts:AssumeRole", MEMBER_ROLE, (("sts:externalid", roles.EXTERNAL_ID),))
    assert roles.check({with_id}, whole_suite=False) == []
    [problem] = roles.check({bare}, whole_suite=False)
    assert problem.startswith("the trust policy of member-read-role.yaml refuses sts:AssumeRole")


def test_it_reports_grants_nothing_called_only_for_a_whole_suite():
    used = {("member", "iam:GetCredentialReport", "*", ())}
    assert roles.check(used, whole_suite=False) == []
    problems = roles.check(used, whole_suite=True)
    assert (
        "member-read-role.yaml grants iam:GetAccountAuthorizationDetails, which the portal never called"
        in "\n".join(problems)
    )
    # Writes that no code makes yet wait for the features that will (reviews, SCP changes, JIT).
    waiting = roles.pending_actions()
    assert not any(
        p.endswith(f"grants {a}, which the portal never called in the whole suite")
        for p in problems
        for a in waiting.get("writer", ())
    )


def test_it_records_the_portals_calls_and_not_the_tests(aws):
    recorder = Recorder()
    stop = calls.observe(recorder)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the empty emulator holds no organization
            organizations.read_organization()
        from governance.aws.session import management_client

        management_client("iam").list_users()  # made here, in a test: setup, not the portal
    finally:
        stop()
    assert recorder.records == {("portal", "organizations:DescribeOrganization", "*", ())}


def test_it_lets_an_expected_write_wait_only_until_code_names_it(monkeypatch):
    monkeypatch.setitem(
        roles.EXPECTED_WRITES, "writer", {"organizations:DescribeOrganization", "iam:NoSuchOperationYet"}
    )
    assert roles.pending_actions() == {"writer": {"iam:NoSuchOperationYet"}}


def test_every_write_the_writer_role_grants_is_named_in_the_code_so_the_suite_must_make_it():
    """No write is excused any more: the remediation revokes name their client methods literally
    (governance/reviews/remediation.py), so a whole-suite run holds each grant to a call it made."""
    assert roles.pending_actions() == {}
    called = roles._portal_method_calls()
    for method in ("detach_user_policy", "detach_role_policy", "delete_user_policy", "delete_role_policy"):
        assert method in called, method
