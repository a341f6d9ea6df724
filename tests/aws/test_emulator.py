"""The local AWS emulator: start, refuse a taken port, reset, seed, backdate, AWS managed policies."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from governance.aws import emulator, session
from governance.aws.demo import DemoOrgExists, build, layout


@pytest.fixture
def taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_it_refuses_a_port_another_process_holds(taken_port):
    with pytest.raises(emulator.EmulatorError, match=f"port {taken_port} .* already in use by another process"):
        emulator.start_threaded(taken_port)


def test_the_subprocess_refuses_a_taken_port_before_starting(taken_port):
    with pytest.raises(emulator.EmulatorError, match=f"port {taken_port} .* already in use"):
        emulator.start_subprocess(taken_port)


def test_the_command_line_server_exits_with_a_message_on_a_taken_port(taken_port):
    result = subprocess.run(
        [sys.executable, "-m", "governance.aws.emulator", "--port", str(taken_port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=emulator.PROJECT_ROOT,
    )
    assert result.returncode == 2
    assert f"port {taken_port}" in result.stderr and "already in use" in result.stderr


def test_the_subprocess_answers_as_aws_and_stops():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = emulator.start_subprocess(port, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        assert emulator.is_running(url)
        emulator.reset(url)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert not emulator.is_running(f"http://127.0.0.1:{port}")
    # Werkzeug's one line per request stays quiet.
    assert b"POST /moto-api/reset" not in stderr


def test_is_running_is_false_where_nothing_listens():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        assert not emulator.is_running(f"http://127.0.0.1:{unused.getsockname()[1]}")


def test_reset_forgets_everything(aws):
    iam = session.management_client("iam")
    iam.create_user(UserName="temporary")
    emulator.reset(aws.url)
    assert iam.list_users()["Users"] == []


def test_seed_makes_generated_ids_reproducible(aws):
    organizations = session.management_client("organizations")

    def first_account_id() -> str:
        emulator.reset(aws.url)
        emulator.seed(aws.url, 7)
        organizations.create_organization(FeatureSet="ALL")
        return organizations.create_account(AccountName="a", Email="a@example.com")["CreateAccountStatus"]["AccountId"]

    assert first_account_id() == first_account_id()


def test_backdate_moves_credential_dates_into_the_past(aws):
    iam = session.management_client("iam")
    iam.create_user(UserName="old-timer")
    iam.create_login_profile(UserName="old-timer", Password="Xx-1234567890-yY")
    key_id = iam.create_access_key(UserName="old-timer")["AccessKey"]["AccessKeyId"]
    changed = emulator.backdate(
        aws.url,
        [
            {
                "account_id": "123456789012",
                "user_name": "old-timer",
                "created_days_ago": 800,
                "password_last_used_days_ago": 100,
                "access_key_id": key_id,
                "key_created_days_ago": 700,
                "key_last_used_days_ago": 200,
                "key_last_used_service": "ec2",
            }
        ],
    )
    assert changed == 4
    now = datetime.now(UTC)
    user = iam.get_user(UserName="old-timer")["User"]
    assert now - user["CreateDate"] > timedelta(days=799)
    assert timedelta(days=99) < now - user["PasswordLastUsed"] < timedelta(days=101)
    key = iam.list_access_keys(UserName="old-timer")["AccessKeyMetadata"][0]
    assert now - key["CreateDate"] > timedelta(days=699)
    last_used = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    assert last_used["ServiceName"] == "ec2" and now - last_used["LastUsedDate"] > timedelta(days=199)


def test_backdate_names_what_it_cannot_find(aws):
    with pytest.raises(emulator.EmulatorError, match="cannot be found"):
        emulator.backdate(aws.url, [{"account_id": "123456789012", "user_name": "nobody", "created_days_ago": 1}])


def test_everyday_aws_managed_policies_exist_in_every_account(aws):
    credentials = session.assume_role(account_id="111122223333", role_name="Anything", session_name="test")
    iam = session.client_for("iam", credentials)
    for name in ("AdministratorAccess", "ReadOnlyAccess", "SecurityAudit", "PowerUserAccess"):
        policy = iam.get_policy(PolicyArn=f"arn:aws:iam::aws:policy/{name}")["Policy"]
        assert policy["PolicyName"] == name


def test_assigning_a_permission_set_provisions_it_to_that_account(aws):
    sso = session.management_client("sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    arn = sso.create_permission_set(InstanceArn=instance, Name="Reader")["PermissionSet"]["PermissionSetArn"]
    for account in ("111111111111", "222222222222"):
        sso.create_account_assignment(
            InstanceArn=instance,
            TargetId=account,
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn,
            PrincipalType="USER",
            PrincipalId="some-user-id",
        )
    accounts = sso.list_accounts_for_provisioned_permission_set(InstanceArn=instance, PermissionSetArn=arn)
    assert accounts["AccountIds"] == ["111111111111", "222222222222"]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5055", True),
        ("http://localhost:5055", True),
        ("http://[::1]:5055", True),
        ("http://127.8.0.1", True),
        ("https://iam.amazonaws.com", False),
        ("http://10.0.0.5:5055", False),
        ("http://127.0.0.1.example.com", False),
        ("", False),
    ],
)
def test_loopback_urls(url, loopback):
    assert emulator.is_loopback_url(url) is loopback


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return stderr


def test_a_stopped_emulator_starts_again_with_the_organization_it_held(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    state = tmp_path / "emulator-state.pickle"
    port = _free_port()
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    process = emulator.start_subprocess(
        port, state=state, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        session.reset()
        built = build(accounts=layout.MIN_ACCOUNTS, seed=7)
    finally:
        _stop(process)
    assert state.exists()

    process = emulator.start_subprocess(
        port, state=state, timeout=120, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        session.reset()
        with pytest.raises(DemoOrgExists) as exists:  # what `make run` relies on: nothing is seeded again
            build(accounts=layout.MIN_ACCOUNTS, seed=7)
        organization = session.management_client("organizations").describe_organization()["Organization"]
        users = session.client_for("iam", session.member_credentials(built.management_account_id)).list_users()
    finally:
        _stop(process)
        session.reset()
    assert exists.value.management_account_id == built.management_account_id
    assert organization["Id"] == built.organization_id
    assert users["Users"]


def test_an_unusable_state_file_is_ignored_and_the_emulator_starts_empty(tmp_path):
    state = tmp_path / "emulator-state.pickle"
    state.write_bytes(b"not a pickle")
    port = _free_port()
    process = emulator.start_subprocess(
        port, state=state, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = _stop(process)
    assert "Ignoring the saved emulator state" in stderr
    assert state.read_bytes() != b"not a pickle"  # replaced by what the emulator held when it stopped


@pytest.mark.parametrize(
    ("service", "call"),
    [
        ("cloudtrail", lambda c: c.lookup_events(MaxResults=1)),  # JSON protocol
        ("config", lambda c: c.describe_compliance_by_config_rule()),  # JSON protocol
    ],
)
def test_an_action_moto_lacks_is_answered_once_as_not_implemented(aws, service, call):
    """A clean 501 with AWS's error shape, so a client is told at once (no retries of an "outage",
    no traceback in the emulator's log), and the signal readers say "not available"."""
    from botocore.exceptions import ClientError

    client = session.management_client(service)
    sent = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
    with pytest.raises(ClientError) as raised:
        call(client)
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Error"]["Code"] == "NotImplemented"
    assert len(sent) == 1, "botocore retried the answer as if the endpoint were failing"


def test_a_query_protocol_action_moto_lacks_is_answered_as_not_implemented_xml(aws):
    """The same answer in the query protocol's XML (IAM, STS), parsed by botocore as an AWS error."""
    from botocore.exceptions import ClientError

    credentials = session.assume_role(account_id="111122223333", role_name="Anything", session_name="test")
    iam = session.client_for("iam", credentials)
    with pytest.raises(ClientError) as raised:
        iam.get_service_last_accessed_details(JobId="0" * 36)
    error = raised.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (501, "NotImplemented")
