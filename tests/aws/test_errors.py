"""The gateway keeps its errors: readers, sessions and writes raise `governance.aws.errors` types.

AWS's answers are produced the way AWS gives them: the emulator where it can (a missing role, a
missing password policy), a before-call handler answering with AWS's error shape where it cannot
(moto lets anyone assume any role and never throttles), and a closed port for an endpoint that
does not answer.
"""

from __future__ import annotations

import pickle

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from governance.aws import calls, session
from governance.aws.errors import (
    AwsDenied,
    AwsError,
    AwsNotFound,
    AwsThrottled,
    AwsUnreachable,
    aws_errors,
    error_code,
    translate,
)
from governance.aws.readers import iam as iam_reader
from governance.aws.readers import organizations

MEMBER = "210987654321"


def _client_error(code: str, status: int, message: str = "it failed", operation: str = "GetRole") -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("AccessDenied", 403, AwsDenied),
        ("AccessDeniedException", 400, AwsDenied),
        ("ExpiredToken", 400, AwsDenied),
        ("SomethingForbidden", 403, AwsDenied),
        ("Throttling", 400, AwsThrottled),
        ("TooManyRequestsException", 429, AwsThrottled),
        ("NoSuchEntity", 404, AwsNotFound),
        ("ResourceNotFoundException", 400, AwsNotFound),
        ("PolicyNotFoundException", 400, AwsNotFound),
        ("ServiceUnavailable", 503, AwsUnreachable),
        ("InternalFailure", 500, AwsUnreachable),
        ("MalformedPolicyDocument", 400, AwsError),
        ("ConcurrentModificationException", 409, AwsError),
    ],
)
def test_it_sorts_aws_answers_into_the_gateway_errors_keeping_code_message_and_request_id(code, status, kind):
    error = translate(_client_error(code, status))
    assert type(error) is kind
    assert (error.code, error.message, error.operation, error.request_id, error.status) == (
        code,
        "it failed",
        "GetRole",
        "req-1",
        status,
    )
    assert str(error) == f"GetRole: {code}: it failed"
    assert error_code(error) == code


def test_it_sorts_client_side_failures_too():
    assert type(translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))) is AwsUnreachable
    assert type(translate(ReadTimeoutError(endpoint_url="http://x"))) is AwsUnreachable
    denied = translate(NoCredentialsError())
    assert type(denied) is AwsDenied and denied.code == "NoCredentialsError"
    with pytest.raises(TypeError):
        translate(ValueError("not AWS"))


def test_an_error_survives_pickling_with_its_fields():
    error = translate(_client_error("Throttling", 400))
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is AwsThrottled
    assert (copy.code, copy.message, copy.request_id, str(copy)) == ("Throttling", "it failed", "req-1", str(error))


def test_the_context_manager_keeps_botocores_error_as_the_cause():
    original = _client_error("AccessDenied", 403)
    with pytest.raises(AwsDenied) as raised, aws_errors():
        raise original
    assert raised.value.__cause__ is original


def test_a_reader_raises_the_gateway_error_the_emulator_answers(aws):
    # An emulator with no organization answers as AWS does for an account outside one.
    with pytest.raises(AwsError) as raised:
        organizations.read_organization()
    assert raised.value.code == "AWSOrganizationsNotInUseException"
    assert raised.value.operation == "DescribeOrganization" and raised.value.request_id
    assert isinstance(raised.value.__cause__, ClientError)


def test_a_write_aws_rejects_raises_not_found_from_the_emulator(aws):
    from governance.aws.writer import run_write

    with pytest.raises(AwsNotFound) as raised:
        run_write(
            account_id=MEMBER,
            actor_user_name="paula.policy",
            tags={},
            call=lambda clients: clients("iam").get_role(RoleName="no-such-role"),
        )
    assert raised.value.code == "NoSuchEntity" and raised.value.status == 404


def test_member_credentials_refused_by_aws_raise_denied(aws):
    sts = session.management_client("sts")

    def deny(params, **kwargs):
        return AWSResponse("https://sts.amazonaws.com", 403, {}, None), {
            "Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}
        }

    sts.meta.events.register("before-call.sts.AssumeRole", deny, unique_id="test-errors-deny")
    try:
        with pytest.raises(AwsDenied) as raised:
            iam_reader.read_account(MEMBER)
    finally:
        sts.meta.events.unregister("before-call.sts.AssumeRole", unique_id="test-errors-deny")
    assert raised.value.code == "AccessDenied" and "sts:AssumeRole" in raised.value.message


def test_an_endpoint_that_does_not_answer_is_unreachable(aws_emulator):
    closed = boto3.session.Session(region_name="us-east-1").client(
        "organizations",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1),
    )
    with calls.counting(), pytest.raises(AwsUnreachable) as raised:
        organizations.read_organization(closed)
    assert "127.0.0.1:9" in str(raised.value)
