"""Reads one member account's IAM in at most five IAM calls (for accounts under 1,000 entities).

1. GetAccountAuthorizationDetails, 1,000 items a page (users, groups, roles, customer managed
   policies with their documents; AWS managed documents come once per sync from
   `read_aws_managed_policies`, not once per account).
2. GenerateCredentialReport: COMPLETE when a report under 4 hours old exists, which is reused.
3. GetCredentialReport; while it is still being generated, a short bounded wait and one more try.
4. GetAccountPasswordPolicy (NoSuchEntity: the account has none).

The credential report also carries MFA, console password use and both access keys' status,
rotation and last use, so no per-user ListMFADevices calls are needed. It has no key ids, which
CloudTrail names keys by: ListAccessKeys is called once for each user holding a key the portal has
not seen before (the caller passes the ids it knows, by user and creation time), so a first sync
pays one call per user with keys and later syncs only for keys created since.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, replace
from datetime import datetime
from hashlib import blake2b
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from governance.aws.errors import translates
from governance.aws.readers.organizations import parse_document
from governance.aws.readers.types import (
    AccountIam,
    AttachedPolicy,
    CredentialReportEntry,
    IamGroup,
    IamRole,
    IamUser,
    InlinePolicy,
    KnownKeyIds,
    MalformedData,
    ManagedPolicy,
    PasswordPolicyInfo,
    key_created,
)
from governance.aws.session import client_for, member_credentials, paginate

PAGE_SIZE = 1000
ACCOUNT_FILTER = ["User", "Role", "Group", "LocalManagedPolicy"]
REPORT_WAITS = (2.0,)
SNAPSHOT_VERSION = 2  # bump when ingest starts reading something new from the same responses (2: key ids)
NOT_A_DATE = {"", "N/A", "not_supported", "no_information"}


@dataclass(frozen=True)
class UnchangedIam:
    """A member account read whose snapshot digest equals the stored one: counted, never parsed.

    Its inventory is already stored exactly as this read would store it, so the sync records the
    account with these counts (the figures `services.iam` gives for the parsed account) and skips
    building and ingesting the dataclasses.
    """

    account_id: str
    digest: str
    counts: dict[str, int]
    credential_report_generated_at: datetime | None


@translates
def read_account(account_id: str, *, client: Any | None = None, sleep=time.sleep) -> AccountIam:
    """Assume the member role in `account_id` and read its IAM state."""
    read = read_account_unless_unchanged(account_id, stored_digest="", client=client, sleep=sleep)
    assert isinstance(read, AccountIam)
    return read


@translates
def read_account_unless_unchanged(
    account_id: str,
    *,
    stored_digest: str,
    known_key_ids: KnownKeyIds | None = None,
    client: Any | None = None,
    sleep=time.sleep,
) -> AccountIam | UnchangedIam:
    """Read `account_id`'s IAM; when its digest equals `stored_digest`, do not parse it.

    The caller looks `stored_digest` and `known_key_ids` up (the account's `iam_digest` and the
    ids of its stored keys; "" parses always): this runs on sync worker threads, which never touch
    the database.
    """
    iam = client or client_for("iam", member_credentials(account_id))
    details = authorization_details(iam, ACCOUNT_FILTER)
    report_content, generated_at = credential_report_content(iam, sleep=sleep)
    policy = password_policy(iam)
    digest = snapshot_digest(details, report_content, policy.raw)
    if stored_digest and digest == stored_digest:
        return UnchangedIam(
            account_id=account_id,
            digest=digest,
            counts=raw_iam_counts(details, report_content),
            credential_report_generated_at=_when(generated_at),
        )
    report = parse_credential_report(report_content)
    read = account_iam_from(
        account_id,
        details=details,
        credential_report=report,
        generated_at=generated_at,
        password_policy=policy,
        digest=digest,
    )
    return replace(read, access_key_ids=access_key_ids(iam, report, known=known_key_ids or {}))


def access_key_ids(
    client: Any, report: tuple[CredentialReportEntry, ...], *, known: KnownKeyIds
) -> dict[tuple[str, int], str]:
    """(user ARN, slot) -> key id for every key in the report; ListAccessKeys only for unseen ones.

    A key is matched by its creation time (the report's `last_rotated` is when the key was
    created), to the second; a user whose listing does not match by time (clock rounding) falls
    back to creation order, which is also the order of the report's two slots.
    """
    ids: dict[tuple[str, int], str] = {}
    unseen: dict[str, list[tuple[int, datetime]]] = {}
    for entry in report:
        if entry.is_root:
            continue
        for slot, created in ((1, entry.access_key_1_last_rotated), (2, entry.access_key_2_last_rotated)):
            if created is None:
                continue
            found = known.get((entry.arn, key_created(created)))
            if found is not None and found not in ids.values():  # two keys of one second: ask
                ids[(entry.arn, slot)] = found
            else:
                unseen.setdefault(entry.arn, []).append((slot, created))
    names = {entry.arn: entry.user for entry in report}
    for arn, slots in unseen.items():
        named = set(ids.values())
        unused = sorted(
            (key_created(k["CreateDate"]), k["AccessKeyId"])
            for k in paginate(client, "list_access_keys", "AccessKeyMetadata", UserName=names[arn])
            if k["AccessKeyId"] not in named
        )
        for slot, created in sorted(slots, key=lambda s: (s[1], s[0])):
            when = key_created(created)
            match = next((item for item in unused if item[0] == when), unused[0] if unused else None)
            if match is not None:
                ids[(arn, slot)] = match[1]
                unused.remove(match)
    return ids


def snapshot_digest(details: dict[str, list], report_content: bytes | str, password_raw: dict) -> str:
    """A digest of everything read for an account, so an identical read can skip ingest.

    Computed on the worker thread from the responses as parsed by botocore (repr is C-speed).
    The portal's own read role is left out: assuming it updates its RoleLastUsed every sync.
    """
    own = settings.AWS_MEMBER_ROLE_NAME
    roles = [
        {k: v for k, v in role.items() if k != "RoleLastUsed"} if role.get("RoleName") == own else role
        for role in details.get("RoleDetailList", ())
    ]
    parts = (
        SNAPSHOT_VERSION,
        details.get("UserDetailList"),
        details.get("GroupDetailList"),
        roles,
        details.get("Policies"),
        report_content,
        password_raw,
    )
    return blake2b(repr(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def raw_iam_counts(details: dict[str, list], report_content: bytes | str) -> dict[str, int]:
    """What `services.iam` counts for an account, from the raw read, without building dataclasses.

    An account whose snapshot digest matches the stored one is not parsed at all; its counts come
    from here (the same figures the ingest reports for a parsed account).
    """
    users = details.get("UserDetailList") or ()
    groups = details.get("GroupDetailList") or ()
    roles = details.get("RoleDetailList") or ()

    def held(raw: dict, inline_key: str) -> int:
        return len(raw.get("AttachedManagedPolicies") or ()) + len(raw.get(inline_key) or ())

    group_policies = {g.get("GroupName"): held(g, "GroupPolicyList") for g in groups}
    text = report_content.decode("utf-8") if isinstance(report_content, bytes) else report_content
    keys = 0
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    columns = [header.index(c) for c in ("access_key_1_last_rotated", "access_key_2_last_rotated") if c in header]
    user_at = header.index("user") if "user" in header else None
    for row in reader:
        if user_at is not None and row[user_at] == "<root_account>":
            continue
        keys += sum(1 for i in columns if i < len(row) and row[i] not in NOT_A_DATE)
    return {
        "principals": len(users) + len(groups) + len(roles),
        "users": len(users),
        "groups": len(groups),
        "roles": len(roles),
        "policies": sum(1 for p in details.get("Policies") or () if ":iam::aws:policy/" not in p.get("Arn", ""))
        + sum(len(u.get("UserPolicyList") or ()) for u in users)
        + sum(len(g.get("GroupPolicyList") or ()) for g in groups)
        + sum(len(r.get("RolePolicyList") or ()) for r in roles),
        "entitlements": sum(held(u, "UserPolicyList") for u in users)
        + sum(group_policies.values())
        + sum(held(r, "RolePolicyList") for r in roles)
        + sum(group_policies.get(name, 0) for u in users for name in u.get("GroupList") or ()),
        "access_keys": keys,
    }


def account_iam_from(
    account_id: str,
    *,
    details: dict[str, list],
    credential_report: tuple[CredentialReportEntry, ...],
    generated_at: datetime | None,
    password_policy: PasswordPolicyInfo,
    digest: str = "",
) -> AccountIam:
    """Build the account's dataclasses from merged authorization-details pages (or a recording)."""
    return AccountIam(
        account_id=account_id,
        users=tuple(_user(u) for u in details.get("UserDetailList", ())),
        groups=tuple(_group(g) for g in details.get("GroupDetailList", ())),
        roles=tuple(_role(r) for r in details.get("RoleDetailList", ())),
        policies=tuple(_managed(p) for p in details.get("Policies", ())),
        credential_report=credential_report,
        credential_report_generated_at=_when(generated_at),
        password_policy=password_policy,
        digest=digest,
    )


@translates
def read_aws_managed_policies(client: Any) -> tuple[ManagedPolicy, ...]:
    """Every AWS managed policy with its default document (AWS's, the same in every account)."""
    details = authorization_details(client, ["AWSManagedPolicy"])
    return tuple(_managed(p) for p in details["Policies"])


def authorization_details(client: Any, filters: list[str]) -> dict[str, list]:
    merged: dict[str, list] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    pages = client.get_paginator("get_account_authorization_details").paginate(
        Filter=filters, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        for key, items in merged.items():
            items.extend(page.get(key, []))
    return merged


def credential_report(client: Any, *, sleep=time.sleep) -> tuple[tuple[CredentialReportEntry, ...], datetime | None]:
    content, generated_at = credential_report_content(client, sleep=sleep)
    return parse_credential_report(content), generated_at


def credential_report_content(client: Any, *, sleep=time.sleep) -> tuple[bytes, datetime | None]:
    """Generate (or reuse, when under 4 hours old) and fetch the report: its CSV and its time."""
    client.generate_credential_report()
    for wait in (*REPORT_WAITS, None):
        try:
            response = client.get_credential_report()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"ReportInProgress", "ReportNotPresent", "ReportInProgressException"} and wait is not None:
                sleep(wait)
                continue
            raise
        return response["Content"], response.get("GeneratedTime")
    raise AssertionError("unreachable")


def parse_credential_report(content: bytes | str) -> tuple[CredentialReportEntry, ...]:
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    reader = csv.DictReader(io.StringIO(text))
    required = {"user", "arn", "mfa_active"}
    if not reader.fieldnames or not required <= set(reader.fieldnames):
        raise MalformedData("The credential report has no user/arn/mfa_active columns.")
    entries = []
    for row in reader:
        entries.append(
            CredentialReportEntry(
                user=row["user"],
                arn=row["arn"],
                user_creation_time=_date(row.get("user_creation_time")),
                password_enabled=_bool_or_none(row.get("password_enabled")),
                password_last_used=_date(row.get("password_last_used")),
                password_last_changed=_date(row.get("password_last_changed")),
                password_next_rotation=_date(row.get("password_next_rotation")),
                mfa_active=_bool(row.get("mfa_active")),
                access_key_1_active=_bool(row.get("access_key_1_active")),
                access_key_1_last_rotated=_date(row.get("access_key_1_last_rotated")),
                access_key_1_last_used_date=_date(row.get("access_key_1_last_used_date")),
                access_key_1_last_used_region=_text(row.get("access_key_1_last_used_region")),
                access_key_1_last_used_service=_text(row.get("access_key_1_last_used_service")),
                access_key_2_active=_bool(row.get("access_key_2_active")),
                access_key_2_last_rotated=_date(row.get("access_key_2_last_rotated")),
                access_key_2_last_used_date=_date(row.get("access_key_2_last_used_date")),
                access_key_2_last_used_region=_text(row.get("access_key_2_last_used_region")),
                access_key_2_last_used_service=_text(row.get("access_key_2_last_used_service")),
                cert_1_active=_bool(row.get("cert_1_active")),
                cert_2_active=_bool(row.get("cert_2_active")),
            )
        )
    return tuple(entries)


def password_policy(client: Any) -> PasswordPolicyInfo:
    try:
        raw = client.get_account_password_policy()["PasswordPolicy"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return PasswordPolicyInfo(configured=False)
        raise
    return PasswordPolicyInfo(configured=True, raw=dict(raw))


def _attached(items: list[dict]) -> tuple[AttachedPolicy, ...]:
    return tuple(AttachedPolicy(arn=p["PolicyArn"], name=p.get("PolicyName", "")) for p in items or ())


def _inline(items: list[dict], owner: str) -> tuple[InlinePolicy, ...]:
    return tuple(
        InlinePolicy(name=p["PolicyName"], document=parse_document(p.get("PolicyDocument"), what=f"{owner} inline"))
        for p in items or ()
    )


def _tags(items: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or ()}


def _boundary(raw: dict) -> str:
    return (raw.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", "")


def _user(raw: dict) -> IamUser:
    try:
        return IamUser(
            arn=raw["Arn"],
            name=raw["UserName"],
            path=raw.get("Path", "/"),
            user_id=raw.get("UserId", ""),
            created=_when(raw.get("CreateDate")),
            groups=tuple(raw.get("GroupList") or ()),
            attached=_attached(raw.get("AttachedManagedPolicies")),
            inline=_inline(raw.get("UserPolicyList"), raw["Arn"]),
            boundary_arn=_boundary(raw),
            tags=_tags(raw.get("Tags")),
        )
    except KeyError as exc:
        raise MalformedData(f"A user in the authorization details lacks {exc}") from None


def _group(raw: dict) -> IamGroup:
    try:
        return IamGroup(
            arn=raw["Arn"],
            name=raw["GroupName"],
            path=raw.get("Path", "/"),
            group_id=raw.get("GroupId", ""),
            created=_when(raw.get("CreateDate")),
            attached=_attached(raw.get("AttachedManagedPolicies")),
            inline=_inline(raw.get("GroupPolicyList"), raw["Arn"]),
        )
    except KeyError as exc:
        raise MalformedData(f"A group in the authorization details lacks {exc}") from None


def _role(raw: dict) -> IamRole:
    try:
        last_used = raw.get("RoleLastUsed") or {}
        return IamRole(
            arn=raw["Arn"],
            name=raw["RoleName"],
            path=raw.get("Path", "/"),
            role_id=raw.get("RoleId", ""),
            created=_when(raw.get("CreateDate")),
            trust_policy=parse_document(raw.get("AssumeRolePolicyDocument"), what=f"{raw['Arn']} trust policy"),
            attached=_attached(raw.get("AttachedManagedPolicies")),
            inline=_inline(raw.get("RolePolicyList"), raw["Arn"]),
            boundary_arn=_boundary(raw),
            tags=_tags(raw.get("Tags")),
            last_used=_when(last_used.get("LastUsedDate")),
            last_used_region=last_used.get("Region", ""),
        )
    except KeyError as exc:
        raise MalformedData(f"A role in the authorization details lacks {exc}") from None


def _managed(raw: dict) -> ManagedPolicy:
    try:
        default = raw.get("DefaultVersionId", "")
        document = None
        for version in raw.get("PolicyVersionList") or ():
            if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                document = parse_document(version.get("Document"), what=raw["Arn"])
                break
        return ManagedPolicy(
            arn=raw["Arn"],
            name=raw.get("PolicyName") or raw["Arn"].rsplit("/", 1)[-1],
            path=raw.get("Path", "/"),
            policy_id=raw.get("PolicyId", ""),
            default_version_id=default,
            document=document,
            attachment_count=raw.get("AttachmentCount"),
            description=raw.get("Description", ""),
            created=_when(raw.get("CreateDate")),
            updated=_when(raw.get("UpdateDate")),
        )
    except KeyError as exc:
        raise MalformedData(f"A managed policy in the authorization details lacks {exc}") from None


def _when(value: datetime | str | None) -> datetime | None:
    """boto3 gives datetimes; recorded JSON gives ISO 8601 strings."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise MalformedData(f"Not an ISO 8601 date: {value!r}") from None


def _text(value: str | None) -> str:
    return "" if value is None or value in NOT_A_DATE else value


def _bool(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _bool_or_none(value: str | None) -> bool | None:
    if value in (None, "", "not_supported"):
        return None
    return value.lower() == "true"


def _date(value: str | None) -> datetime | None:
    if value is None or value in NOT_A_DATE:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedData(f"The credential report has a date that is not ISO 8601: {value!r}") from None
