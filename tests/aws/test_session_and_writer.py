"""The shared session against the emulator: retries, call counting, assume-role; the writer session."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from governance.aws import calls, session
from governance.aws.errors import translate
from governance.aws.writer import WriterError, request_id, writer_client, writer_credentials

MEMBER = "210987654321"


def test_clients_use_standard_retries(aws_emulator, settings):
    credentials = session.assume_role(account_id=MEMBER, role_name="AnyRole", session_name="retries")
    for client in (
        session.management_client("organizations"),
        session.client_for("iam", credentials),
        writer_client("iam", account_id=MEMBER, actor_user_name="paula.policy"),
    ):
        retries = client.meta.config.retries
        assert retries["mode"] == "standard"
        # AWS_MAX_ATTEMPTS counts the first try too.
        assert retries["total_max_attempts"] == settings.AWS_MAX_ATTEMPTS


def test_calls_are_counted_per_operation(aws):
    iam = session.management_client("iam")
    with calls.counting() as log:
        iam.create_user(UserName="counted")
        iam.get_user(UserName="counted")
        iam.get_user(UserName="counted")
        with pytest.raises(ClientError):
            iam.get_user(UserName="missing")
    assert log.count("iam", "GetUser") == 3
    assert log.count("iam") == 4 and log.total == 4
    assert log.attempts == 4


def test_calls_on_other_threads_are_not_counted_by_a_thread_only_log(aws):
    import threading

    sts = session.management_client("sts")
    with calls.counting(this_thread_only=True) as mine, calls.counting() as everyone:
        worker = threading.Thread(target=sts.get_caller_identity)
        worker.start()
        worker.join()
        sts.get_caller_identity()
    assert mine.total == 1 and everyone.total == 2


def test_the_writer_acts_in_the_account_as_the_writer_role_named_after_the_person(aws, settings):
    seen: dict = {}

    def capture(params, **kwargs):
        seen.update(params)

    events = session.management_client("sts").meta.events
    events.register("provide-client-params.sts.AssumeRole", capture, unique_id="test-writer-capture")
    try:
        sts = writer_client(
            "sts", account_id=MEMBER, actor_user_name="carla.campaign", tags={"portal-action": "review-revoke"}
        )
    finally:
        events.unregister("provide-client-params.sts.AssumeRole", unique_id="test-writer-capture")
    assert seen["RoleArn"] == f"arn:aws:iam::{MEMBER}:role/{settings.AWS_WRITER_ROLE_NAME}"
    assert seen["SourceIdentity"] == "carla.campaign"
    assert seen["Tags"] == [{"Key": "portal-action", "Value": "review-revoke"}]
    identity = sts.get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/{settings.AWS_WRITER_ROLE_NAME}/carla.campaign"


def test_the_writer_changes_the_member_account(aws):
    iam = writer_client("iam", account_id=MEMBER, actor_user_name="carla.campaign")
    iam.create_user(UserName="to-be-disabled")
    key_id = iam.create_access_key(UserName="to-be-disabled")["AccessKey"]["AccessKeyId"]
    response = iam.update_access_key(UserName="to-be-disabled", AccessKeyId=key_id, Status="Inactive")
    assert request_id(response)
    reader = session.client_for("iam", session.member_credentials(MEMBER))
    assert reader.list_access_keys(UserName="to-be-disabled")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert session.management_client("iam").list_users()["Users"] == []


def test_request_id_of_a_success_and_of_a_failure(aws):
    iam = session.management_client("iam")
    response = iam.list_users()
    assert request_id(response) == response["ResponseMetadata"]["RequestId"] != ""
    with pytest.raises(ClientError) as raised:
        iam.get_user(UserName="nobody")
    assert request_id(translate(raised.value)) == raised.value.response["ResponseMetadata"]["RequestId"] != ""
    assert request_id({}) == ""


@pytest.mark.parametrize(
    ("actor", "tags", "message"),
    [
        ("", {}, "source identity is 2 to 64"),
        ("x", {}, "source identity is 2 to 64"),
        ("paula policy", {}, "source identity is 2 to 64"),
        ("a" * 65, {}, "source identity is 2 to 64"),
        ("aws:paula", {}, "source identity is 2 to 64"),
        ("paula.policy", {"aws:source": "x"}, "not allowed"),
        ("paula.policy", {"why": "semi;colon"}, "does not accept"),
        ("paula.policy", {f"k{i}": "v" for i in range(51)}, "At most 50"),
    ],
)
def test_the_writer_refuses_what_aws_would_reject_before_calling_it(aws_emulator, actor, tags, message):
    with calls.counting() as log, pytest.raises(WriterError, match=message):
        writer_credentials(account_id=MEMBER, actor_user_name=actor, tags=tags)
    assert log.total == 0
