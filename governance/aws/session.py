"""The one boto3 Session, clients per account, and assume-role into member accounts.

This package is the only code that imports boto3 or botocore; its errors leave it as
`governance.aws.errors` types. Clients honour `AWS_ENDPOINT_URL` (settings),
which is how the demo and the tests reach the local emulator; nothing else here knows about it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

from governance.aws import calls
from governance.aws.errors import translates

_lock = threading.Lock()
_session: boto3.session.Session | None = None
_client_cache: dict[tuple[str, str, str], Any] = {}


def shared_session() -> boto3.session.Session:
    """The process-wide Session; boto3 clients made from it are safe to share between threads."""
    global _session
    with _lock:
        if _session is None:
            _session = boto3.session.Session(region_name=settings.AWS_REGION)
            calls.instrument(_session)
        return _session


def reset() -> None:
    """Forget the Session and cached clients (tests switch emulators and settings)."""
    global _session
    with _lock:
        _session = None
        _client_cache.clear()


def client_config(**overrides: Any) -> Config:
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "total_max_attempts": settings.AWS_MAX_ATTEMPTS},
        "max_pool_connections": max(10, settings.AWS_SYNC_WORKERS * 2),
        "connect_timeout": 10,
        "read_timeout": 60,
    }
    options.update(overrides)
    return Config(**options)


def _endpoint() -> str | None:
    return settings.AWS_ENDPOINT_URL or None


def management_client(service: str) -> Any:
    """A client with the portal's own credentials (the management or delegated admin account)."""
    key = (service, "management", settings.AWS_ENDPOINT_URL)
    with _lock:
        cached = _client_cache.get(key)
    if cached is not None:
        return cached
    client = shared_session().client(service, endpoint_url=_endpoint(), config=client_config())
    with _lock:
        _client_cache[key] = client
    return client


@dataclass(frozen=True)
class AccountCredentials:
    account_id: str
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def fresh(self, margin: timedelta = timedelta(minutes=5)) -> bool:
        return self.expiration - margin > datetime.now(UTC)


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


@translates
def assume_role(
    *,
    account_id: str,
    role_name: str,
    session_name: str,
    external_id: str = "",
    source_identity: str = "",
    tags: dict[str, str] | None = None,
    duration_seconds: int = 3600,
) -> AccountCredentials:
    """sts:AssumeRole into `role_name` of `account_id`; a refusal raises the gateway's `AwsDenied`."""
    arn = role_arn(account_id, role_name)
    params: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": session_name[:64], "DurationSeconds": duration_seconds}
    if external_id:
        params["ExternalId"] = external_id
    if source_identity:
        params["SourceIdentity"] = source_identity
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    creds = management_client("sts").assume_role(**params)["Credentials"]
    return AccountCredentials(
        account_id=account_id,
        role_arn=arn,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
        expiration=creds["Expiration"],
    )


def client_for(service: str, credentials: AccountCredentials, **config: Any) -> Any:
    """A client acting with assumed-role credentials, built from the shared Session."""
    return shared_session().client(
        service,
        endpoint_url=_endpoint(),
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=client_config(**config),
    )


def member_credentials(account_id: str) -> AccountCredentials:
    """Read-only credentials in a member account through the configured member role."""
    return assume_role(
        account_id=account_id,
        role_name=settings.AWS_MEMBER_ROLE_NAME,
        external_id=settings.AWS_MEMBER_EXTERNAL_ID,
        session_name="governance-portal-sync",
    )


def paginate(client: Any, operation: str, result_key: str, **params: Any):
    """Yield every item under `result_key` across all pages of `operation`."""
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(result_key, [])
