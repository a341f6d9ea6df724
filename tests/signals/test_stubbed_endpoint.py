"""Issue 17's "done when": against a stubbed endpoint that offers the APIs, what AWS says reaches the
portal's pages (findings, the activity feed, the decision hint, the SCP editor), read through the
services as the schedules read it; each response checked by Stubber against botocore's model."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from governance.findings import services as findings
from governance.inventory.models import Principal
from governance.signals.services import refresh_activity, refresh_analyzer, refresh_last_accessed
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID
from tests.signals.conftest import NOW, T0, T1, iam_principal

pytestmark = pytest.mark.django_db

ANALYZER = "arn:aws:access-analyzer:us-east-1:111111111111:analyzer/org"
BUCKET = "arn:aws:s3:::exports-shared-with-partner"
SCP = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Deny", "Action": "s3:GetObjekt", "Resource": "*"}]\n}'
SOURCES = ("iam.amazonaws.com", "organizations.amazonaws.com", "sts.amazonaws.com", "sso.amazonaws.com",
           "identitystore.amazonaws.com")  # fmt: skip
JOB = "00000000-0000-4000-8000-0000000000aa"
ANY_ACTIVE = {"status": {"eq": ["ACTIVE"]}}


@pytest.fixture
def app_role(persona_inventory):
    # Only the management account's clients are stubbed: the personas' member-account roles step aside.
    Principal.objects.filter(pk__in=[persona_inventory.manager_role.pk, persona_inventory.other_role.pk]).update(
        removed_at=NOW
    )
    return iam_principal("iam_role", "app-deployer")


def _analyzer(s):
    finding = {
        "id": "x-1", "findingType": "ExternalAccess", "status": "ACTIVE", "resource": BUCKET,
        "resourceType": "AWS::S3::Bucket", "resourceOwnerAccount": GOVERNANCE_ACCOUNT_ID, "createdAt": T0,
        "updatedAt": T1, "analyzedAt": T1,
    }  # fmt: skip
    s.add_response(
        "list_analyzers",
        {"analyzers": [{"arn": ANALYZER, "name": "org", "type": "ORGANIZATION", "createdAt": T0, "status": "ACTIVE"}]},
    )
    s.add_response("list_findings_v2", {"findings": [finding]}, {"analyzerArn": ANALYZER, "filter": ANY_ACTIVE})
    s.add_response(
        "get_finding_v2",
        {
            **finding,
            "findingDetails": [{"externalAccessDetails": {"condition": {}, "principal": {"AWS": "444455556666"}}}],
        },
        {"analyzerArn": ANALYZER, "id": "x-1"},
    )


def _trail(s, actor_arn):
    body = {
        "userIdentity": {
            "type": "IAMUser", "arn": actor_arn, "accountId": GOVERNANCE_ACCOUNT_ID, "userName": "mallory",
        },
        "eventSource": "iam.amazonaws.com", "eventName": "PutRolePolicy", "sourceIPAddress": "192.0.2.77",
        "userAgent": "aws-cli/2.15.0", "recipientAccountId": GOVERNANCE_ACCOUNT_ID,
        "requestParameters": {"roleName": "app-deployer", "policyName": "sneaky"},
    }  # fmt: skip
    event = {"EventId": "e-77", "EventName": "PutRolePolicy", "ReadOnly": "false", "EventTime": T1,
             "EventSource": "iam.amazonaws.com", "CloudTrailEvent": json.dumps(body)}  # fmt: skip
    for source in SOURCES:
        s.add_response("lookup_events", {"Events": [event] if source == "iam.amazonaws.com" else []})


def test_a_stubbed_endpoint_feeds_findings_the_activity_feed_the_hint_and_the_scp_editor(
    stub, persona_client, app_role
):
    with stub("accessanalyzer") as s:
        _analyzer(s)
        assert refresh_analyzer(now=NOW).state == "ok"
    findings.evaluate(rule_ids=["analyzer.external_access", "analyzer.unused_access"])
    listed = persona_client("auditor").get(reverse("findings:list"), {"rule": "analyzer.external_access"})
    assert BUCKET in listed.content.decode() and "444455556666" in listed.content.decode()

    with stub("cloudtrail") as s:
        _trail(s, f"arn:aws:iam::{GOVERNANCE_ACCOUNT_ID}:user/mallory")
        assert refresh_activity(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW).items == 1
    feed = persona_client("auditor").get(reverse("signals:activity")).content.decode()
    assert "iam:PutRolePolicy" in feed and "mallory" in feed and "192.0.2.77" in feed
    assert "outside the portal" in feed

    with stub("iam") as s:
        s.add_response(
            "generate_service_last_accessed_details",
            {"JobId": JOB},
            {"Arn": app_role.arn, "Granularity": "ACTION_LEVEL"},
        )
        refresh_last_accessed(budget=1, now=NOW)
    with stub("iam") as s:
        s.add_response(
            "get_service_last_accessed_details",
            {"JobStatus": "COMPLETED", "JobCreationDate": T0, "JobCompletionDate": NOW, "IsTruncated": False,
             "ServicesLastAccessed": [{"ServiceName": "Amazon EC2", "ServiceNamespace": "ec2",
                                       "TotalAuthenticatedEntities": 0}]},
            {"JobId": JOB, "MaxItems": 1000},
        )  # fmt: skip
        refresh_last_accessed(budget=1, now=NOW + timedelta(minutes=1))
    page = persona_client("auditor").get(reverse("inventory:principal", args=[app_role.pk])).content.decode()
    assert "Never used EC2 in 400 days." in page

    with stub("accessanalyzer") as s:  # the analyzer read succeeded: the editor asks ValidatePolicy too
        s.add_response(
            "validate_policy",
            {"findings": [{"findingDetails": "The action s3:GetObjekt does not exist.", "findingType": "ERROR",
                           "issueCode": "INVALID_ACTION", "learnMoreLink": "https://docs.aws.amazon.com/",
                           "locations": []}]},
            {"policyDocument": SCP, "policyType": "SERVICE_CONTROL_POLICY"},
        )  # fmt: skip
        editor = persona_client("policy_admin").post(reverse("scp:policy_validate"), {"document": SCP})
    body = editor.content.decode()
    assert "<code>INVALID_ACTION</code>" in body and "(access_analyzer)" in body
