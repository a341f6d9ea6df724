"""Reads the organization: root, OU tree, accounts with their parent, SCPs (and RCPs) and their targets.

Call economy (budget: accounts/20 + 2 x OUs + 3 x SCPs + 10):

- DescribeOrganization and ListRoots: 2 calls.
- Walking the tree, per parent (the root and every OU): ListOrganizationalUnitsForParent and
  ListAccountsForParent. Listing accounts per parent both lists every account (it returns the same
  Account structure as ListAccounts) and places it, so neither ListAccounts nor a ListParents per
  account is needed: about 2 x (OUs + 1) + accounts/20 calls (20 accounts a page).
- SCPs: ListPolicies (20 a page), then DescribePolicy and ListTargetsForPolicy per SCP: about
  2 x SCPs + SCPs/20.
- RCPs, only when the root has the policy type enabled (ListRoots says so, no extra call): the same
  three calls as SCPs (governance/aws/readers/org_policies.py).

Account tags cost one ListTagsForResource per account: Organizations has no bulk tag read, so no
way of reading tags fits the budget's accounts/20 term. They are read by `account_tags()` in the
account's own sync worker (in parallel, attributed to that account), outside the structural
budget above; the tests pin both.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from governance.aws.errors import translates
from governance.aws.readers.types import MalformedData, OrgAccount, OrgInfo, OrgSnapshot, OrgUnit, Scp, ScpTarget
from governance.aws.session import management_client, paginate

SCP_FILTER = "SERVICE_CONTROL_POLICY"
RCP_FILTER = "RESOURCE_CONTROL_POLICY"


def policy_type_enabled(roots: list[dict[str, Any]], policy_type: str) -> bool:
    """Whether ListRoots says the policy type is enabled (AWS lists it as ENABLED on the root)."""
    return any(
        kind.get("Type") == policy_type and kind.get("Status") == "ENABLED"
        for root in roots
        for kind in root.get("PolicyTypes", ())
    )


@translates
def read_organization(client: Any | None = None) -> OrgSnapshot:
    org_client = client or management_client("organizations")
    org = org_client.describe_organization()["Organization"]
    info = OrgInfo(
        org_id=org["Id"],
        arn=org["Arn"],
        feature_set=org.get("FeatureSet", ""),
        management_account_id=org.get("MasterAccountId", ""),
        management_account_email=org.get("MasterAccountEmail", ""),
    )
    units: list[OrgUnit] = []
    accounts: list[OrgAccount] = []
    queue: deque[str] = deque()
    roots = list(paginate(org_client, "list_roots", "Roots"))
    for root in roots:
        units.append(
            OrgUnit(ou_id=root["Id"], arn=root["Arn"], name=root.get("Name", "Root"), parent_id=None, is_root=True)
        )
        queue.append(root["Id"])
    while queue:
        parent_id = queue.popleft()
        for ou in paginate(
            org_client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id
        ):
            units.append(OrgUnit(ou_id=ou["Id"], arn=ou["Arn"], name=ou.get("Name", ""), parent_id=parent_id))
            queue.append(ou["Id"])
        for acct in paginate(org_client, "list_accounts_for_parent", "Accounts", ParentId=parent_id):
            accounts.append(_account(acct, parent_id))
    rcps = tuple(read_policies(org_client, RCP_FILTER)) if policy_type_enabled(roots, RCP_FILTER) else ()
    return OrgSnapshot(
        org=info, units=tuple(units), accounts=tuple(accounts), scps=tuple(read_scps(org_client)), rcps=rcps
    )


def _account(raw: dict[str, Any], parent_id: str) -> OrgAccount:
    account_id = raw.get("Id", "")
    if len(account_id) != 12 or not account_id.isdigit():
        raise MalformedData(f"Organizations returned an account id that is not 12 digits: {account_id!r}")
    return OrgAccount(
        account_id=account_id,
        arn=raw.get("Arn", ""),
        name=raw.get("Name", ""),
        email=raw.get("Email", ""),
        status=raw.get("State") or raw.get("Status", "ACTIVE"),
        joined_method=raw.get("JoinedMethod", ""),
        joined_at=raw.get("JoinedTimestamp"),
        parent_id=parent_id,
    )


@translates
def read_scps(org_client: Any) -> list[Scp]:
    return read_policies(org_client, SCP_FILTER)


_LABELS = {SCP_FILTER: "SCP", RCP_FILTER: "RCP"}


def read_policies(org_client: Any, policy_type: str) -> list[Scp]:
    """Every organization policy of one type (SCPs, RCPs) with its document and targets."""
    scps = []
    for summary in paginate(org_client, "list_policies", "Policies", Filter=policy_type):
        policy = org_client.describe_policy(PolicyId=summary["Id"])["Policy"]
        targets = tuple(
            ScpTarget(target_id=t["TargetId"], target_type=t["Type"], name=t.get("Name", ""))
            for t in paginate(org_client, "list_targets_for_policy", "Targets", PolicyId=summary["Id"])
        )
        scps.append(
            Scp(
                policy_id=summary["Id"],
                arn=summary["Arn"],
                name=summary.get("Name", ""),
                description=summary.get("Description", ""),
                aws_managed=bool(summary.get("AwsManaged")),
                document=parse_document(
                    policy.get("Content", ""), what=f"{_LABELS.get(policy_type, policy_type)} {summary['Id']}"
                ),
                targets=targets,
            )
        )
    return scps


@translates
def account_tags(account_id: str, client: Any | None = None) -> dict[str, str]:
    """The account's tags (one ListTagsForResource, rarely more than one page)."""
    org_client = client or management_client("organizations")
    return {t["Key"]: t["Value"] for t in paginate(org_client, "list_tags_for_resource", "Tags", ResourceId=account_id)}


def parse_document(content: Any, *, what: str) -> Any:
    """A policy document as a dict; botocore decodes IAM's, Organizations and SSO give strings."""
    if content is None or content == "":
        return None
    if isinstance(content, dict | list):
        return content
    try:
        return json.loads(content)
    except (TypeError, ValueError) as exc:
        raise MalformedData(f"{what}: the policy document is not valid JSON ({exc})") from None
