"""The writer session: every change the portal makes in AWS runs as the writer role, named after a person.

`writer_client()` assumes `settings.AWS_WRITER_ROLE_NAME` in the target account with `SourceIdentity`
set to the acting person's AWS user name (their Identity Center user name), so CloudTrail records the
human behind every write, and with session tags that say why (change request, review, JIT grant).
Whether that person may make the change is decided before this is called (their own permission sets,
evaluated offline); this module is only the mechanics.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

from governance.aws import session
from governance.aws.errors import AwsError, aws_errors

# sts:AssumeRole limits: SourceIdentity and RoleSessionName share this alphabet; at most 50 session
# tags, keys up to 128 and values up to 256 characters.
_IDENTITY = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_TAG_KEY = re.compile(r"[\w.:/=+@-]{1,128}")
_TAG_VALUE = re.compile(r"[\w\s.:/=+@-]{0,256}")
_TAG_VALUE_UNSAFE = re.compile(r"[^\w\s.:/=+@-]")
MAX_SESSION_TAGS = 50


class WriterError(ValueError):
    """The write cannot be attempted as asked; the message says what to fix."""


def _check(actor_user_name: str, tags: dict[str, str]) -> None:
    if not _IDENTITY.fullmatch(actor_user_name or ""):
        raise WriterError(
            f"Cannot write to AWS as {actor_user_name!r}: an AWS source identity is 2 to 64 letters, digits "
            "or any of _+=,.@- (the acting person's Identity Center user name)."
        )
    if len(tags) > MAX_SESSION_TAGS:
        raise WriterError(f"At most {MAX_SESSION_TAGS} session tags are allowed; got {len(tags)}.")
    for key, value in tags.items():
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise WriterError(f"Session tag key {key!r} is not allowed by AWS.")
        if not _TAG_VALUE.fullmatch(value):
            raise WriterError(f"Session tag {key!r} has a value AWS does not accept: {value!r}.")


def tag_value(value: str) -> str:
    """`value` made acceptable as a session tag value: characters AWS refuses become `_`, cut to 256."""
    return _TAG_VALUE_UNSAFE.sub("_", value)[:256]


def writer_credentials(
    *, account_id: str, actor_user_name: str, tags: dict[str, str] | None = None
) -> session.AccountCredentials:
    """Assume the writer role in `account_id` as `actor_user_name`; AWS's refusal raises `AwsDenied`."""
    tags = dict(tags or {})
    _check(actor_user_name, tags)
    return session.assume_role(
        account_id=account_id,
        role_name=settings.AWS_WRITER_ROLE_NAME,
        session_name=actor_user_name,
        source_identity=actor_user_name,
        tags=tags,
    )


def writer_client(
    service: str, *, account_id: str, actor_user_name: str, tags: dict[str, str] | None = None, **config: Any
) -> Any:
    """A boto3 client for `service` acting as the writer role in `account_id` on behalf of a person.

    Each call assumes the role afresh, so a session never carries one person's identity into
    another's write.
    """
    return writer_clients(account_id=account_id, actor_user_name=actor_user_name, tags=tags)(service, **config)


def writer_clients(*, account_id: str, actor_user_name: str, tags: dict[str, str] | None = None) -> Any:
    """A client factory (`clients("iam")`) for one write: the writer role assumed once, naming the person."""
    credentials = writer_credentials(account_id=account_id, actor_user_name=actor_user_name, tags=tags)
    return lambda service, **config: session.client_for(service, credentials, **config)


def run_write(
    *, account_id: str, actor_user_name: str, tags: dict[str, str] | None, call: Callable[[Callable[..., Any]], Any]
) -> Any:
    """Open the writer session and run `call(clients)` in it: one write, AWS errors as `AwsError`s.

    This is where a write's botocore errors become the gateway's, so the code that builds the
    write (a lambda over `clients("organizations").update_policy(...)`) never handles botocore.
    """
    with aws_errors():
        return call(writer_clients(account_id=account_id, actor_user_name=actor_user_name, tags=tags))


def request_id(response: dict[str, Any] | AwsError) -> str:
    """The AWS request id of a response or a failed call, for the audit record ("" when absent)."""
    if isinstance(response, AwsError):
        return response.request_id
    metadata = response.get("ResponseMetadata") or {}
    if metadata.get("RequestId"):
        return str(metadata["RequestId"])
    headers = metadata.get("HTTPHeaders") or {}
    return str(headers.get("x-amzn-requestid") or headers.get("x-amz-request-id") or "")
