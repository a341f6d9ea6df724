"""(a) Sync of the demo organization (100 accounts) against the emulator, in its own process.

Measures `sync_organization()` (read + ingest into a scratch database) and, in the same run, a
bare boto3 script making the same AWS calls with the same parallelism and nothing else (no
dataclasses, no database). Target: portal time <= 1.3 x the bare calls. Each is timed twice,
alternating, and the best of each is compared: the portal's first sync (empty inventory, emptied
again before the second round) and its second (nothing changed) are both reported.

BENCH_SYNC_ACCOUNTS changes the size (default 100).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings

from governance.aws import calls, emulator, session
from governance.aws.demo import build
from governance.inventory.models import SyncAccountRun
from governance.inventory.sync import sync_organization

TARGET_RATIO = 1.3


def run() -> dict:
    accounts = int(os.environ.get("BENCH_SYNC_ACCOUNTS", "100"))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    # The emulator runs in its own process, as AWS is not in the portal's: in-process, its request
    # handling would queue behind the portal's own Python for the interpreter lock.
    port = _free_port()
    process = emulator.start_subprocess(port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{emulator.DEFAULT_HOST}:{port}"
    override = override_settings(AWS_ENDPOINT_URL=url)
    override.enable()
    session.reset()
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = (
        f"{settings_dict['NAME']}_bench_sync" if connection.vendor == "postgresql" else None
    )
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        started = time.perf_counter()
        demo = build(accounts=accounts, seed=42)
        build_seconds = time.perf_counter() - started
        # Alternating, twice each; the inventory is emptied before each first sync.
        bare, first, again = [], [], []
        for _ in range(2):
            bare.append(_timed(lambda: _bare(url)))
            call_command("flush", interactive=False, verbosity=0)
            first.append(_timed_sync())
            again.append(_timed_sync())
        run_first, run_again = first[-1][1], again[-1][1]
        per_account = list(SyncAccountRun.objects.filter(run_id=run_first["run"]).values_list("api_calls", flat=True))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        override.disable()
        session.reset()
        process.terminate()
        process.wait(timeout=10)
    best_bare = min(b["seconds"] for b in bare)
    best_first = min(f["seconds"] for f, _ in first)
    best_again = min(a["seconds"] for a, _ in again)
    return {
        "accounts": len(demo.accounts),
        "workers": settings.AWS_SYNC_WORKERS,
        "database": connection.vendor,
        "demo_build_seconds": round(build_seconds, 2),
        "bare_boto3": {"seconds": [b["seconds"] for b in bare], "api_calls": bare[0]["api_calls"]},
        "portal_first_sync": {
            "seconds": [f["seconds"] for f, _ in first],
            "api_calls": first[-1][0]["api_calls"],
            "summary": run_first,
        },
        "portal_unchanged_sync": {
            "seconds": [a["seconds"] for a, _ in again],
            "api_calls": again[-1][0]["api_calls"],
            "summary": run_again,
        },
        "api_calls_per_account": {
            "max": max(per_account, default=0),
            "mean": round(sum(per_account) / max(1, len(per_account)), 2),
            "note": "tags + AssumeRole + IAM (authorization details, credential report x2, password policy, "
            "ListAccessKeys per user with keys on a first sync)",
        },
        "ratio_first_sync": round(best_first / best_bare, 2),
        "ratio_unchanged_sync": round(best_again / best_bare, 2),
        "target_ratio": TARGET_RATIO,
        "met": best_first / best_bare <= TARGET_RATIO,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((emulator.DEFAULT_HOST, 0))
        return sock.getsockname()[1]


def _timed(fn) -> dict:
    with calls.counting() as log:
        started = time.perf_counter()
        fn()
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "api_calls": log.total}


def _timed_sync() -> tuple[dict, dict]:
    with calls.counting() as log:
        started = time.perf_counter()
        run = sync_organization()
        seconds = time.perf_counter() - started
    summary = {
        "status": run.status,
        "changes": run.changes,
        "errors": len(run.errors),
        "principals": run.counts.get("principals"),
        "entitlements": run.counts.get("entitlements"),
    }
    summary["run"] = run.pk
    return {"seconds": round(seconds, 3), "api_calls": log.total}, summary


def _bare(url: str) -> None:
    """The same AWS calls as a sync, straight through boto3, with the same pool size."""
    bare = boto3.session.Session(region_name=settings.AWS_REGION)
    calls.instrument(bare)
    config = session.client_config()

    def client(service: str, **creds):
        return bare.client(service, endpoint_url=url, config=config, **creds)

    def pages(c, op, key, **kw):
        for page in c.get_paginator(op).paginate(**kw):
            yield from page.get(key, [])

    org = client("organizations")
    org.describe_organization()
    account_ids = []
    queue = [r["Id"] for r in pages(org, "list_roots", "Roots")]
    while queue:
        parent = queue.pop()
        queue += [
            ou["Id"]
            for ou in pages(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent)
        ]
        account_ids += [a["Id"] for a in pages(org, "list_accounts_for_parent", "Accounts", ParentId=parent)]
    for p in pages(org, "list_policies", "Policies", Filter="SERVICE_CONTROL_POLICY"):
        org.describe_policy(PolicyId=p["Id"])
        list(pages(org, "list_targets_for_policy", "Targets", PolicyId=p["Id"]))
    iam = client("iam")
    list(iam.get_paginator("get_account_authorization_details").paginate(Filter=["AWSManagedPolicy"]))
    sts = client("sts")

    def one(account_id: str) -> None:
        list(pages(org, "list_tags_for_resource", "Tags", ResourceId=account_id))
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{settings.AWS_MEMBER_ROLE_NAME}", RoleSessionName="bare"
        )["Credentials"]
        member = client(
            "iam",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        list(
            member.get_paginator("get_account_authorization_details").paginate(
                Filter=["User", "Role", "Group", "LocalManagedPolicy"], PaginationConfig={"PageSize": 1000}
            )
        )
        member.generate_credential_report()
        report = member.get_credential_report()["Content"].decode()
        # The key ids a first sync asks for: one ListAccessKeys per user holding a key.
        for row in csv.DictReader(io.StringIO(report)):
            rotated = (row["access_key_1_last_rotated"], row["access_key_2_last_rotated"])
            if row["user"] != "<root_account>" and any(r not in ("N/A", "") for r in rotated):
                list(pages(member, "list_access_keys", "AccessKeyMetadata", UserName=row["user"]))
        with contextlib.suppress(ClientError):
            member.get_account_password_policy()

    def identity_center() -> None:
        sso, store = client("sso-admin"), client("identitystore")
        once = bare.client(
            "sso-admin", endpoint_url=url, config=config.merge(Config(retries={"total_max_attempts": 1}))
        )
        probe_boundary = True
        for instance in pages(sso, "list_instances", "Instances"):
            store_id, arn = instance["IdentityStoreId"], instance["InstanceArn"]
            list(pages(store, "list_users", "Users", IdentityStoreId=store_id))
            for group in pages(store, "list_groups", "Groups", IdentityStoreId=store_id):
                list(pages(store, "list_group_memberships", "GroupMemberships", IdentityStoreId=store_id,
                           GroupId=group["GroupId"]))  # fmt: skip
            for ps in pages(sso, "list_permission_sets", "PermissionSets", InstanceArn=arn):
                sso.describe_permission_set(InstanceArn=arn, PermissionSetArn=ps)
                list(pages(sso, "list_managed_policies_in_permission_set", "AttachedManagedPolicies",
                           InstanceArn=arn, PermissionSetArn=ps))  # fmt: skip
                sso.get_inline_policy_for_permission_set(InstanceArn=arn, PermissionSetArn=ps)
                list(pages(sso, "list_customer_managed_policy_references_in_permission_set",
                           "CustomerManagedPolicyReferences", InstanceArn=arn, PermissionSetArn=ps))  # fmt: skip
                if probe_boundary:
                    # As the reader: one try, and no more asking once the endpoint cannot answer.
                    try:
                        once.get_permissions_boundary_for_permission_set(InstanceArn=arn, PermissionSetArn=ps)
                    except ClientError as exc:
                        probe_boundary = exc.response["Error"]["Code"] == "ResourceNotFoundException"
                for account_id in pages(sso, "list_accounts_for_provisioned_permission_set", "AccountIds",
                                        InstanceArn=arn, PermissionSetArn=ps):  # fmt: skip
                    list(pages(sso, "list_account_assignments", "AccountAssignments", InstanceArn=arn,
                               AccountId=account_id, PermissionSetArn=ps))  # fmt: skip

    with ThreadPoolExecutor(max_workers=settings.AWS_SYNC_WORKERS) as pool:
        futures = [pool.submit(identity_center)] + [pool.submit(one, a) for a in account_ids]
        for future in futures:
            future.result()
