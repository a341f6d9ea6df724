"""Questions over many resources, over 1,000 principals' policies.

"Who can pass any role?" (``iam:PassRole`` on ``*``), the findings rule, asked of the 1,000 principals of
an organization of ten accounts under a three-level SCP chain. Policies come from pools of 40 managed
policies (admin, power user, read-only, CI, and team policies with resource-scoped PassRole grants, a
Deny on ``*admin*`` roles and conditions): one pool without account ids (what permission sets use) and
one per account. The principals, as an organization has them:

* 600 IAM Identity Center sessions of 20 permission sets (two to four policies of the shared pool, a
  third with a permissions boundary), spread over the accounts;
* 300 roles made from ten templates per account (policies of the account's pool);
* 100 roles of their own: two account-pool policies and an inline policy naming their own roles.

Timed from parsed policies: compiling each principal's PolicySet and answering, caches cold (every pool
is parsed again and the questions' caches are cleared before each timed run). Target: <= 1 s. Also
reported, without targets: ``distinct_seconds``, the same question when all 1,000 principals have a
combination of policies of their own (nothing shared but the pools: the worst case); ``warm_seconds``
(compiled sets kept); and the impact-analysis question "who loses ec2:* somewhere?" (``compare`` before
and after adding an SCP statement) over the organization.

Figures are medians of three runs, wall clock with the CPU time of the process beside it (the machine is
shared: ``load_average_1m``).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

from governance.policy import Coverage, PolicySet, ask_many, compare, parse_policy
from governance.policy.questions import clear_caches
from governance.policy.request import Request

TARGET_SECONDS = 1.0
PRINCIPALS = 1000
ACCOUNTS = [f"2000000000{n:02d}" for n in range(10)]
V = "2012-10-17"


def _pool(account: str) -> list[dict[str, Any]]:
    """40 managed-policy documents of the kinds an organization accumulates (``account`` "*": shared)."""
    roles = f"arn:aws:iam::{account}:role"
    pool: list[dict[str, Any]] = [
        {"Version": V, "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        {
            "Version": V,
            "Statement": [
                {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
                {"Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole", "iam:ListRoles"], "Resource": "*"},
            ],
        },
        {
            "Version": V,
            "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*", "s3:Get*"], "Resource": "*"}],
        },
        {
            "Version": V,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": f"{roles}/service-role/*",
                    "Condition": {
                        "StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}
                    },
                }
            ],
        },
        {
            "Version": V,
            "Statement": [
                {"Effect": "Allow", "Action": ["ec2:*", "elasticloadbalancing:*"], "Resource": "*"},
                {"Effect": "Deny", "Action": "ec2:*ReservedInstances*", "Resource": "*"},
            ],
        },
    ]
    for team in range(35):
        pool.append(
            {
                "Version": V,
                "Statement": [
                    {
                        "Sid": f"Team{team}Pass",
                        "Effect": "Allow",
                        "Action": ["iam:PassRole", "iam:GetRole"],
                        "Resource": [f"{roles}/team{team}-*", f"{roles}/shared-{team % 5}-*"],
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": f"arn:aws:s3:::team{team}-data/${{aws:PrincipalTag/project}}/*",
                    },
                    {"Effect": "Allow", "Action": ["lambda:*", "logs:*"], "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "iam:PassRole",
                        "Resource": f"{roles}/*admin*",
                        "Condition": {"StringNotEquals": {"aws:PrincipalTag/role": "lead"}},
                    },
                ],
            }
        )
    return pool


SCPS = [
    {"Version": V, "Statement": [{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}]},
    {
        "Version": V,
        "Statement": [
            {
                "Sid": "RegionLock",
                "Effect": "Deny",
                "NotAction": ["iam:*", "sts:*", "organizations:*"],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}},
            },
            {
                "Sid": "ProtectBreakGlass",
                "Effect": "Deny",
                "Action": "iam:*",
                "Resource": "arn:aws:iam::*:role/BreakGlass",
            },
        ],
    },
]
BOUNDARIES = [
    [{"Effect": "Allow", "Action": ["iam:PassRole", "s3:*", "ec2:*", "lambda:*"], "Resource": "*"}],
    [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/prod-*"},
    ],
]
NEW_SCP = {
    "Version": V,
    "Statement": [
        {"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoTerminate", "Effect": "Deny", "Action": "ec2:Terminate*", "Resource": "arn:aws:ec2:*:*:instance/*"},
    ],
}


def _principals(mix: str, seed: int = 7) -> list[dict[str, Any]]:
    """Each principal: ARN, account, its pool policies as ``(pool, index)``, inline number, boundary."""
    rng = random.Random(seed)
    found: list[dict[str, Any]] = []

    def add(arn: str, account: str, policies: list[tuple[str, int]], inline: bool, boundary: int | None) -> None:
        found.append(
            {"arn": arn, "account": account, "policies": policies, "inline": len(found) if inline else None,
             "boundary": boundary}
        )  # fmt: skip

    if mix == "distinct":
        for n in range(PRINCIPALS):
            account = ACCOUNTS[n % len(ACCOUNTS)]
            policies = [(account, i) for i in rng.sample(range(40), rng.randint(2, 4))]
            boundary = rng.randrange(3) if rng.random() < 0.33 else None
            add(f"arn:aws:sts::{account}:assumed-role/role-{n}/s", account, policies, rng.random() < 0.33, boundary)
        return found
    permission_sets = []
    for _set in range(20):
        policies = [("*", i) for i in rng.sample(range(40), rng.randint(2, 4))]
        permission_sets.append((policies, rng.randrange(3) if rng.random() < 0.33 else None))
    for n in range(600):
        number = n % 20
        policies, boundary = permission_sets[number]
        account = ACCOUNTS[rng.randrange(len(ACCOUNTS))]
        arn = f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Set{number}_0123456789abcdef/user{n}@example.com"
        add(arn, account, policies, False, boundary)
    templates = {a: [[(a, i) for i in rng.sample(range(40), rng.randint(2, 3))] for _ in range(10)] for a in ACCOUNTS}
    for n in range(300):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        add(f"arn:aws:sts::{account}:assumed-role/app-{n}/s", account, templates[account][n % 10], False, None)
    for n in range(100):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        policies = [(account, i) for i in rng.sample(range(40), 2)]
        add(f"arn:aws:sts::{account}:assumed-role/own-{n}/s", account, policies, True, None)
    return found


def _parsed() -> dict[str, Any]:
    """Every document parsed, per account (fresh objects: no warm caches)."""
    parsed: dict[str, Any] = {
        "pool": {
            account: [parse_policy(doc, name=f"{account}-managed-{i}") for i, doc in enumerate(_pool(account))]
            for account in ("*", *ACCOUNTS)
        },
        "full": parse_policy(SCPS[0], name="FullAWSAccess"),
        "new_scp": parse_policy(NEW_SCP, name="guardrails-v2"),
        "boundaries": [
            parse_policy({"Version": V, "Statement": body}, name=f"boundary-{i}") for i, body in enumerate(BOUNDARIES)
        ],
    }
    full = parsed["full"]
    parsed["scps"] = [[full], [full, parse_policy(SCPS[1], name="guardrails")], [full]]  # root, OU, account
    return parsed


def _inline(account: str, n: int) -> Any:
    return parse_policy(
        {
            "Version": V,
            "Statement": [
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{account}:role/own-{n}-*"}
            ],
        },
        name=f"inline-{n}",
    )


def _sets(principals: list[dict[str, Any]], parsed: dict[str, Any], inline: dict[int, Any], scps: Any) -> list:
    subjects = []
    for principal in principals:
        identity = [parsed["pool"][pool][i] for pool, i in principal["policies"]]
        if principal["inline"] is not None:
            identity.append(inline[principal["inline"]])
        boundary = parsed["boundaries"][principal["boundary"]] if principal["boundary"] is not None else None
        policy_set = PolicySet(identity_policies=identity, permissions_boundary=boundary, scps=scps)
        subjects.append((principal["arn"], policy_set))
    return subjects


def _timed(principals: list[dict[str, Any]]) -> tuple[float, float, list, dict[str, Any], dict[int, Any]]:
    """Cold: forget the questions' caches, parse everything, then time compiling each set and asking."""
    clear_caches()
    parsed = _parsed()
    inline = {p["inline"]: _inline(p["account"], p["inline"]) for p in principals if p["inline"] is not None}
    started, cpu = time.perf_counter(), time.process_time()
    subjects = _sets(principals, parsed, inline, parsed["scps"])
    coverage = dict.fromkeys(Coverage, 0)
    for _principal, answer in ask_many(action="iam:PassRole", resource="*", subjects=subjects, context=CONTEXT):
        coverage[answer.coverage] += 1
    parsed["coverage"] = coverage
    return time.perf_counter() - started, time.process_time() - cpu, subjects, parsed, inline


CONTEXT = {"aws:RequestedRegion": "eu-west-1", "aws:PrincipalTag/role": "dev"}


def _one_run() -> dict[str, Any]:
    principals = _principals("organization")
    cold, cold_cpu, subjects, parsed, inline = _timed(principals)
    distinct, distinct_cpu, *_rest = _timed(_principals("distinct"))

    started = time.perf_counter()
    for _principal, _answer in ask_many(action="iam:PassRole", resource="*", subjects=subjects, context=CONTEXT):
        pass
    warm = time.perf_counter() - started

    after_scps = [*parsed["scps"][:2], [parsed["new_scp"]]]
    started = time.perf_counter()
    after = _sets(principals, parsed, inline, after_scps)
    losing = 0
    for (arn, before_set), (_same, after_set) in zip(subjects, after, strict=True):
        change = compare(before_set, after_set, Request(principal=arn, action="ec2:*", resource="*", context=CONTEXT))
        losing += bool(change.lost)
    impact = time.perf_counter() - started
    return {
        "cold": cold,
        "cold_cpu": cold_cpu,
        "distinct": distinct,
        "distinct_cpu": distinct_cpu,
        "warm": warm,
        "impact": impact,
        "coverage": parsed["coverage"],
        "losing": losing,
    }


def run(runs: int = 3) -> dict:
    results = [_one_run() for _ in range(runs)]

    def median(key: str) -> float:
        return round(statistics.median(result[key] for result in results), 3)

    return {
        "principals": PRINCIPALS,
        "question": "iam:PassRole on *",
        "seconds": median("cold"),
        "seconds_runs": [round(result["cold"], 3) for result in results],
        "cpu_seconds": median("cold_cpu"),
        "target_seconds": TARGET_SECONDS,
        "target_met": median("cold") <= TARGET_SECONDS,
        "target_met_cpu": median("cold_cpu") <= TARGET_SECONDS,
        "coverage": {coverage.value: n for coverage, n in results[0]["coverage"].items()},
        "distinct_seconds": median("distinct"),
        "distinct_cpu_seconds": median("distinct_cpu"),
        "warm_seconds": median("warm"),
        "impact_question": "who loses ec2:* somewhere (compare before/after an SCP change)",
        "impact_seconds": median("impact"),
        "impact_principals_losing": results[0]["losing"],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    print(run())
