"""Single organization-policy reads (SCPs and RCPs) for the change-request machinery.

The sync reads every policy through `organizations.read_organization`; applying a change request
needs only the one policy it touches, fresh from AWS, to see whether someone changed it out of band
since the request was written (then the request must be rebased) and to confirm the write.
One DescribePolicy, plus one paginated ListTargetsForPolicy when the targets are wanted.
"""

from __future__ import annotations

from typing import Any

from governance.aws.errors import translates
from governance.aws.readers.organizations import RCP_FILTER, SCP_FILTER, parse_document
from governance.aws.readers.types import Scp, ScpTarget
from governance.aws.session import management_client, paginate

POLICY_TYPES = (SCP_FILTER, RCP_FILTER)


@translates
def read_policy(policy_id: str, *, targets: bool = False, client: Any | None = None) -> Scp:
    """One SCP or RCP as AWS holds it now; `AwsNotFound` when it no longer exists."""
    org_client = client or management_client("organizations")
    policy = org_client.describe_policy(PolicyId=policy_id)["Policy"]
    summary = policy["PolicySummary"]
    found: tuple[ScpTarget, ...] = ()
    if targets:
        found = tuple(
            ScpTarget(target_id=t["TargetId"], target_type=t["Type"], name=t.get("Name", ""))
            for t in paginate(org_client, "list_targets_for_policy", "Targets", PolicyId=policy_id)
        )
    return Scp(
        policy_id=summary["Id"],
        arn=summary["Arn"],
        name=summary.get("Name", ""),
        description=summary.get("Description", ""),
        aws_managed=bool(summary.get("AwsManaged")),
        document=parse_document(policy.get("Content", ""), what=f"policy {policy_id}"),
        targets=found,
    )


@translates
def policies_for_target(target_id: str, policy_type: str, *, client: Any | None = None) -> list[str]:
    """Ids of the policies of `policy_type` attached directly to a root, OU or account."""
    org_client = client or management_client("organizations")
    return [
        p["Id"]
        for p in paginate(org_client, "list_policies_for_target", "Policies", TargetId=target_id, Filter=policy_type)
    ]


@translates
def policy_named(name: str, policy_type: str, *, client: Any | None = None) -> str:
    """The id of the customer policy of `policy_type` called `name` ("" when there is none): AWS
    keeps policy names unique per type."""
    org_client = client or management_client("organizations")
    for summary in paginate(org_client, "list_policies", "Policies", Filter=policy_type):
        if summary.get("Name") == name and not summary.get("AwsManaged"):
            return summary["Id"]
    return ""
