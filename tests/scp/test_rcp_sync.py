"""RCPs come from the organization like SCPs: read when enabled, stored as their own kind, attached."""

from __future__ import annotations

import pytest

from governance.aws import session
from governance.aws.readers import organizations
from governance.aws.readers.org_policies import policies_for_target, read_policy

pytestmark = pytest.mark.django_db


def test_rcps_are_read_only_when_enabled_and_ingested_with_their_attachments(synced_demo):
    from governance.inventory.models import Policy, PolicyKind, ScpAttachment

    rcps = {p.name: p for p in Policy.objects.present().filter(kind=PolicyKind.RCP)}
    assert set(rcps) == {"RCPFullAWSAccess", "DataPerimeterProd"}
    assert rcps["DataPerimeterProd"].document["Statement"][0]["Sid"] == "EnforceOrgIdentities"
    prod = synced_demo.ous["Workloads/Prod"]
    assert ScpAttachment.objects.present().filter(policy=rcps["DataPerimeterProd"], target_id=prod).exists()
    # SCP readers are not fooled: the writer gate's SCP chain holds no RCP.
    from governance.authz.aws_writes import _scp_levels

    levels, _management = _scp_levels(synced_demo.accounts["payments-prod"])
    assert all(p.name not in rcps for level in levels for p in level)


def test_single_policy_reads(synced_demo):
    rcp_id = synced_demo.rcps["DataPerimeterProd"]
    policy = read_policy(rcp_id, targets=True)
    assert policy.name == "DataPerimeterProd" and {t.target_id for t in policy.targets} == {
        synced_demo.ous["Workloads/Prod"]
    }
    assert rcp_id in policies_for_target(synced_demo.ous["Workloads/Prod"], organizations.RCP_FILTER)


def test_an_organization_without_rcps_enabled_costs_no_rcp_calls(aws):
    org = session.management_client("organizations")
    org.create_organization(FeatureSet="ALL")
    snapshot = organizations.read_organization(org)
    assert snapshot.rcps == ()
