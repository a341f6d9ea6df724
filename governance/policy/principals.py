"""Who is calling: the kinds of principal AWS evaluates, and what the evaluator derives from one.

A request's ``principal`` is an ARN (an IAM user, a role session ``arn:aws:sts::<account>:assumed-role/
<role>/<session>``, a role, an STS federated user, the account root user), a service principal
(``ec2.amazonaws.com``), a federated identity provider (when evaluating a trust policy), or
:data:`ANONYMOUS` for an unauthenticated request.

The kind decides which policy types apply (IAM User Guide, "Policy evaluation logic"; Organizations
guide, "SCPs" and "RCPs"):

* IAM principals in an account (users, role sessions, federated users, the root user) have an identity
  side: identity policies, a permissions boundary, a session policy. The root user has full access in
  its own account without identity policies. SCPs restrict them, except in the management account and
  for service-linked roles.
* Service principals, identity providers and anonymous callers have no identity side and no account: only
  resource-based policies can grant them anything, and no request of theirs is "cross-account". SCPs do
  not apply to them.
* Service-linked roles (path ``/aws-service-role/``, names ``AWSServiceRoleFor...``) are restricted by
  neither SCPs nor RCPs. Reserved roles (path ``/aws-reserved/``, names ``AWSReservedSSO_...``) are ordinary
  roles for evaluation; only their owning service may change them (see :mod:`.service_rules`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from .document import account_root

ANONYMOUS = "anonymous"
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
_ACCOUNT = re.compile(r"^\d{12}$")
# Web identity providers whose names look like service principals.
_PROVIDERS = frozenset({"cognito-identity.amazonaws.com"})


class PrincipalKind(StrEnum):
    USER = "user"
    ROLE = "role"  # the role ARN itself, as a caller (role chaining evaluates the session instead)
    ROLE_SESSION = "role_session"
    FEDERATED_USER = "federated_user"
    ROOT = "root"
    SERVICE = "service"
    IDENTITY_PROVIDER = "identity_provider"
    ANONYMOUS = "anonymous"


# aws:PrincipalType as the IAM User Guide's "Principal key values" table gives it.
_PRINCIPAL_TYPES = {
    PrincipalKind.USER: "User",
    PrincipalKind.ROLE: "AssumedRole",
    PrincipalKind.ROLE_SESSION: "AssumedRole",
    PrincipalKind.FEDERATED_USER: "FederatedUser",
    PrincipalKind.ROOT: "Account",
    PrincipalKind.ANONYMOUS: "Anonymous",
}
IN_ACCOUNT = frozenset(
    {
        PrincipalKind.USER,
        PrincipalKind.ROLE,
        PrincipalKind.ROLE_SESSION,
        PrincipalKind.FEDERATED_USER,
        PrincipalKind.ROOT,
    }
)


@dataclass(frozen=True, slots=True)
class PrincipalFacts:
    """What the evaluator knows about a caller, derived once per caller (cached)."""

    kind: PrincipalKind
    account: str | None
    identifiers: frozenset[str]  # every name a Principal element may use for it
    principal_arn: str | None  # aws:PrincipalArn: the role ARN for a session
    service_linked: bool
    reserved: bool
    context: dict[str, tuple[str, ...]]  # aws:* keys the request implies (copy before changing it)
    has_identity_side: bool = False  # identity policies, boundary and session policy apply
    scp_exempt: bool = True  # SCPs restrict only IAM principals in accounts, never service-linked roles
    root: bool = False  # the account root user: full access in its own account
    plain: bool = False  # an identity side and not the root user: the evaluator's common case


def _role_flags(path_and_name: str) -> tuple[bool, bool]:
    """``(service-linked, reserved)`` from a role's ``path/name`` (or bare name, for a session ARN)."""
    name = path_and_name.rpartition("/")[2]
    service_linked = path_and_name.startswith("aws-service-role/") or name.startswith("AWSServiceRoleFor")
    reserved = path_and_name.startswith("aws-reserved/") or name.startswith("AWSReservedSSO_")
    return service_linked, reserved


@lru_cache(maxsize=4096)
def principal_facts(
    principal: str, principal_arn: str | None = None, username: str | None = None, userid: str | None = None
) -> PrincipalFacts:
    """Derive a caller's kind, account, identifiers and implied context keys (see the module docstring)."""
    kind, account = PrincipalKind.ANONYMOUS, None
    service_linked = reserved = False
    identifiers: set[str] = set()
    parts = principal.split(":", 5)
    if principal == ANONYMOUS:
        userid = userid or "anonymous"
    elif len(parts) == 6 and parts[0] == "arn":
        account = parts[4] if _ACCOUNT.match(parts[4]) else None
        resource_type, _, rest = parts[5].partition("/")
        identifiers.add(principal)
        if parts[2] == "sts" and resource_type == "assumed-role":
            kind = PrincipalKind.ROLE_SESSION
            role_name = rest.partition("/")[0]
            principal_arn = principal_arn or f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}"
            role_path = principal_arn.split(":", 5)[5].removeprefix("role/") if ":" in principal_arn else role_name
            service_linked, reserved = _role_flags(role_path)
        elif parts[2] == "sts" and resource_type == "federated-user":
            kind = PrincipalKind.FEDERATED_USER
        elif parts[2] == "iam" and resource_type == "user":
            kind = PrincipalKind.USER
            username = username or rest.rpartition("/")[2]
        elif parts[2] == "iam" and resource_type == "role":
            kind = PrincipalKind.ROLE
            service_linked, reserved = _role_flags(rest)
        elif parts[2] == "iam" and parts[5] == "root":
            kind = PrincipalKind.ROOT
            userid = userid or account
        elif parts[2] == "iam" and resource_type in ("saml-provider", "oidc-provider"):
            kind = PrincipalKind.IDENTITY_PROVIDER
            account = None
        else:
            kind = PrincipalKind.USER  # an ARN we do not recognise: an IAM principal, restricted like one
        principal_arn = principal_arn or principal
        if principal_arn:
            identifiers.add(principal_arn)
        if account:
            identifiers.add(account_root(account))
    elif _SERVICE.match(principal) and principal not in _PROVIDERS:
        kind = PrincipalKind.SERVICE
        identifiers.add(principal)
    else:
        kind = PrincipalKind.IDENTITY_PROVIDER  # accounts.google.com, cognito-identity.amazonaws.com, ...
        identifiers.add(principal)
    entries: dict[str, str | None] = {
        "aws:username": username,
        "aws:userid": userid,
        "aws:principalarn": principal_arn if kind in IN_ACCOUNT else None,
        "aws:principalaccount": account if kind in IN_ACCOUNT else None,
        "aws:principaltype": _PRINCIPAL_TYPES.get(kind),
        "aws:principalisawsservice": "true" if kind is PrincipalKind.SERVICE else "false",
        "aws:principalservicename": principal if kind is PrincipalKind.SERVICE else None,
    }
    return PrincipalFacts(
        kind=kind,
        account=account,
        identifiers=frozenset(identifiers),
        principal_arn=principal_arn if kind in IN_ACCOUNT else None,
        service_linked=service_linked,
        reserved=reserved,
        context={key: (value,) for key, value in entries.items() if value is not None},
        has_identity_side=kind in IN_ACCOUNT,
        scp_exempt=kind not in IN_ACCOUNT or service_linked,
        root=kind is PrincipalKind.ROOT,
        plain=kind in IN_ACCOUNT and kind is not PrincipalKind.ROOT,
    )
