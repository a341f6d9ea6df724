"""The signal readers (Access Analyzer, CloudTrail, service last accessed, Config) against Stubber.

The emulator lacks these APIs, so each scenario here stubs AWS's documented response shapes;
Stubber validates every stubbed response against botocore's service model (an unknown or
mistyped field fails the test), and each call's parameters against what the reader must send.
A throttling error from Stubber is what the reader sees after botocore's retries gave up. Stubber
answers before botocore's call counter sees a call, so the stubbed queue pins the call count: an
extra call finds no stubbed answer and fails, a missing one leaves a response pending. The
last tests run each reader against the emulator, where it must say "not available from this endpoint".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber

from governance.aws import session
from governance.aws.errors import AwsDenied, AwsNotFound, AwsThrottled
from governance.aws.readers import access_analyzer, cloudtrail, last_accessed
from governance.aws.readers import config as config_reader
from governance.aws.readers.availability import NOT_AVAILABLE, AwsNotAvailable
from governance.aws.readers.types import MalformedData

ORG_ANALYZER = "arn:aws:access-analyzer:us-east-1:111111111111:analyzer/org"
UNUSED_ANALYZER = "arn:aws:access-analyzer:us-east-1:111111111111:analyzer/unused"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def _client(service: str):
    return session.shared_session().client(service, region_name="us-east-1")


def _summary(finding_id: str, finding_type: str, resource: str, resource_type: str, status: str = "ACTIVE") -> dict:
    return {
        "id": finding_id,
        "findingType": finding_type,
        "status": status,
        "resource": resource,
        "resourceType": resource_type,
        "resourceOwnerAccount": "222222222222",
        "createdAt": T0,
        "updatedAt": T1,
        "analyzedAt": T1,
    }


# IAM Access Analyzer --------------------------------------------------------------------------------


def test_it_lists_analyzers_across_pages():
    client = _client("accessanalyzer")
    with Stubber(client) as stub:
        stub.add_response(
            "list_analyzers",
            {
                "analyzers": [
                    {"arn": ORG_ANALYZER, "name": "org", "type": "ORGANIZATION", "createdAt": T0, "status": "ACTIVE"}
                ],
                "nextToken": "t1",
            },
            {},
        )
        stub.add_response(
            "list_analyzers",
            {
                "analyzers": [
                    {
                        "arn": UNUSED_ANALYZER,
                        "name": "unused",
                        "type": "ORGANIZATION_UNUSED_ACCESS",
                        "createdAt": T0,
                        "status": "ACTIVE",
                    }
                ]
            },
            {"nextToken": "t1"},
        )
        analyzers = access_analyzer.list_analyzers(client=client)
        stub.assert_no_pending_responses()
    assert [(a.name, a.unused_access) for a in analyzers] == [("org", False), ("unused", True)]


def test_it_reads_every_page_of_an_analyzers_active_findings():
    client = _client("accessanalyzer")
    role = "arn:aws:iam::222222222222:role/partner"
    bucket = "arn:aws:s3:::shared-bucket"
    wanted = {"analyzerArn": ORG_ANALYZER, "filter": {"status": {"eq": ["ACTIVE"]}}}
    with Stubber(client) as stub:
        stub.add_response(
            "list_findings_v2",
            {"findings": [_summary("f-1", "ExternalAccess", role, "AWS::IAM::Role")], "nextToken": "n"},
            wanted,
        )
        stub.add_response(
            "list_findings_v2",
            {"findings": [_summary("f-2", "ExternalAccess", bucket, "AWS::S3::Bucket")]},
            {**wanted, "nextToken": "n"},
        )
        found = access_analyzer.list_findings(ORG_ANALYZER, status="ACTIVE", client=client)
        stub.assert_no_pending_responses()  # exactly two calls: a third would find no stubbed answer
    assert [(f.finding_id, f.resource, f.resource_owner_account) for f in found] == [
        ("f-1", role, "222222222222"),
        ("f-2", bucket, "222222222222"),
    ]
    assert found[0].finding_type == "ExternalAccess" and found[0].analyzed_at == T1


def test_it_reads_a_findings_details_as_plain_values():
    client = _client("accessanalyzer")
    base = _summary("u-1", "UnusedPermission", "arn:aws:iam::222222222222:role/app", "AWS::IAM::Role")
    with Stubber(client) as stub:
        stub.add_response(
            "get_finding_v2",
            {
                **base,
                "findingDetails": [
                    {
                        "unusedPermissionDetails": {
                            "serviceNamespace": "ec2",
                            "actions": [{"action": "ec2:RunInstances", "lastAccessed": T0}],
                            "lastAccessed": T0,
                        }
                    }
                ],
                "nextToken": "p2",
            },
            {"analyzerArn": UNUSED_ANALYZER, "id": "u-1"},
        )
        stub.add_response(
            "get_finding_v2",
            {**base, "findingDetails": [{"unusedPermissionDetails": {"serviceNamespace": "s3"}}]},
            {"analyzerArn": UNUSED_ANALYZER, "id": "u-1", "nextToken": "p2"},
        )
        finding = access_analyzer.get_finding(UNUSED_ANALYZER, "u-1", client=client)
    assert finding.details[0]["unusedPermissionDetails"]["actions"][0]["lastAccessed"] == T0.isoformat()
    assert [d["unusedPermissionDetails"]["serviceNamespace"] for d in finding.details] == ["ec2", "s3"]
    json.dumps(finding.details)  # storable as it is


def test_it_validates_an_scp_and_points_at_the_line():
    client = _client("accessanalyzer")
    text = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Deny", "Action": "s3:GetObjekt"}]\n}'
    with Stubber(client) as stub:
        stub.add_response(
            "validate_policy",
            {
                "findings": [
                    {
                        "findingDetails": "The action s3:GetObjekt does not exist.",
                        "findingType": "ERROR",
                        "issueCode": "INVALID_ACTION",
                        "learnMoreLink": "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html",
                        "locations": [
                            {
                                "path": [{"value": "Statement"}, {"index": 0}, {"value": "Action"}],
                                "span": {
                                    "start": {"line": 3, "column": 51, "offset": 80},
                                    "end": {"line": 3, "column": 64, "offset": 93},
                                },
                            }
                        ],
                    }
                ]
            },
            {"policyDocument": text, "policyType": "SERVICE_CONTROL_POLICY"},
        )
        found = access_analyzer.validate_policy(text, access_analyzer.SERVICE_CONTROL_POLICY, client=client)
    assert [(f.finding_type, f.issue_code, f.line, f.column, f.path) for f in found] == [
        ("ERROR", "INVALID_ACTION", 3, 51, "Statement[0].Action")
    ]


def test_a_document_to_validate_is_sent_as_json_when_given_as_data():
    client = _client("accessanalyzer")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    with Stubber(client) as stub:
        stub.add_response("validate_policy", {"findings": []}, {"policyDocument": ANY, "policyType": "IDENTITY_POLICY"})
        assert access_analyzer.validate_policy(document, access_analyzer.IDENTITY_POLICY, client=client) == []


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ThrottlingException", 429, AwsThrottled),
        ("AccessDeniedException", 403, AwsDenied),
        ("ResourceNotFoundException", 404, AwsNotFound),
    ],
)
def test_analyzer_errors_are_the_gateways(code, status, error):
    client = _client("accessanalyzer")
    with Stubber(client) as stub:
        stub.add_client_error("list_findings_v2", service_error_code=code, http_status_code=status)
        with pytest.raises(error) as raised:
            access_analyzer.list_findings(ORG_ANALYZER, client=client)
    assert raised.value.code == code and raised.value.operation == "ListFindingsV2"


def test_an_endpoint_answering_without_an_aws_error_does_not_offer_the_api():
    client = _client("accessanalyzer")
    with Stubber(client) as stub:
        # What the emulator answers for an action it lacks: HTTP 500, no AWS error code in the body.
        stub.add_client_error("list_analyzers", service_error_code="500", http_status_code=500)
        with pytest.raises(AwsNotAvailable, match=NOT_AVAILABLE):
            access_analyzer.list_analyzers(client=client)


def test_a_real_server_error_is_not_mistaken_for_a_missing_api():
    client = _client("accessanalyzer")
    with Stubber(client) as stub:
        stub.add_client_error("list_analyzers", service_error_code="InternalServerException", http_status_code=500)
        with pytest.raises(Exception) as raised:
            access_analyzer.list_analyzers(client=client)
    assert not isinstance(raised.value, AwsNotAvailable) and raised.value.kind == "unreachable"


# CloudTrail -------------------------------------------------------------------------------------------


def _trail_event(event_id: str, name: str, when: datetime, identity: dict, **record) -> dict:
    body = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when.isoformat(),
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "recipientAccountId": "222222222222",
        "readOnly": False,
        **record,
    }
    return {
        "EventId": event_id,
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": when,
        "EventSource": "iam.amazonaws.com",
        "Username": identity.get("userName", ""),
        "Resources": [{"ResourceType": "AWS::IAM::Role", "ResourceName": "app"}],
        "CloudTrailEvent": json.dumps(body),
    }


WRITER_IDENTITY = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:portal",
    "arn": "arn:aws:sts::222222222222:assumed-role/GovernancePortalWriterRole/portal",
    "accountId": "111111111111",
    "accessKeyId": "ASIAEXAMPLE",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLE",
            "arn": "arn:aws:iam::222222222222:role/GovernancePortalWriterRole",
            "accountId": "222222222222",
            "userName": "GovernancePortalWriterRole",
        },
        "sourceIdentity": "alice@example.com",
        "attributes": {"creationDate": "2026-11-20T08:00:00Z", "mfaAuthenticated": "false"},
    },
}
USER_IDENTITY = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLE",
    "arn": "arn:aws:iam::222222222222:user/bob",
    "accountId": "222222222222",
    "accessKeyId": "AKIAEXAMPLE",
    "userName": "bob",
}


def test_it_reads_management_events_page_by_page_and_names_who_did_what_from_where():
    client = _client("cloudtrail")
    first = _trail_event(
        "e-1", "AttachRolePolicy", T1, WRITER_IDENTITY,
        requestParameters={"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
    )  # fmt: skip
    second = _trail_event("e-2", "CreateAccessKey", T0, USER_IDENTITY, requestParameters={"userName": "bob"})
    attribute = [{"AttributeKey": "EventSource", "AttributeValue": "iam.amazonaws.com"}]
    with Stubber(client) as stub:
        stub.add_response(
            "lookup_events",
            {"Events": [first], "NextToken": "next"},
            {"LookupAttributes": attribute, "StartTime": T0, "MaxResults": 50},
        )
        stub.add_response(
            "lookup_events",
            {"Events": [second]},
            {"LookupAttributes": attribute, "StartTime": T0, "MaxResults": 50, "NextToken": "next"},
        )
        events = cloudtrail.read_events(start=T0, sources=("iam.amazonaws.com",), client=client).events
        stub.assert_no_pending_responses()
    by_writer, by_bob = events
    assert by_writer.actor_arn == "arn:aws:iam::222222222222:role/GovernancePortalWriterRole"
    assert by_writer.source_identity == "alice@example.com" and by_writer.identity_type == "AssumedRole"
    assert by_writer.target == "arn:aws:iam::aws:policy/ReadOnlyAccess" and not by_writer.read_only
    assert by_bob.actor_arn == "arn:aws:iam::222222222222:user/bob" and by_bob.user_name == "bob"
    assert (by_bob.source_ip, by_bob.user_agent, by_bob.target) == ("203.0.113.7", "aws-cli/2.15.0", "bob")
    assert by_bob.recipient_account_id == "222222222222"


def test_it_asks_each_event_source_and_stops_a_busy_one_at_its_page_limit():
    client = _client("cloudtrail")
    sources = ("iam.amazonaws.com", "organizations.amazonaws.com")
    with Stubber(client) as stub:
        for n in range(2):
            stub.add_response(
                "lookup_events",
                {"Events": [_trail_event(f"i-{n}", "CreateRole", T1, USER_IDENTITY)], "NextToken": f"t{n}"},
            )
        stub.add_response(
            "lookup_events",
            {"Events": []},
            {
                "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": "organizations.amazonaws.com"}],
                "StartTime": T0,
                "EndTime": T1,
                "MaxResults": 50,
            },
        )
        read = cloudtrail.read_events(start=T0, end=T1, sources=sources, max_pages=2, client=client)
        stub.assert_no_pending_responses()
    assert [e.event_id for e in read.events] == ["i-0", "i-1"]
    assert read.truncated == ("iam.amazonaws.com",) and read.calls == 3


def test_an_event_whose_record_is_not_json_is_malformed():
    client = _client("cloudtrail")
    broken = {**_trail_event("e-9", "CreateRole", T1, USER_IDENTITY), "CloudTrailEvent": "{nope"}
    with Stubber(client) as stub:
        stub.add_response("lookup_events", {"Events": [broken]})
        with pytest.raises(MalformedData, match="e-9"):
            cloudtrail.read_events(start=T0, sources=("iam.amazonaws.com",), client=client)


@pytest.mark.parametrize(
    ("code", "status", "error"), [("ThrottlingException", 400, AwsThrottled), ("AccessDeniedException", 400, AwsDenied)]
)
def test_lookup_errors_are_the_gateways(code, status, error):
    client = _client("cloudtrail")
    with Stubber(client) as stub:
        stub.add_client_error("lookup_events", service_error_code=code, http_status_code=status)
        with pytest.raises(error):
            cloudtrail.read_events(start=T0, client=client)


# Service last accessed --------------------------------------------------------------------------------


ROLE = "arn:aws:iam::222222222222:role/app"
JOB = "2d5b2a3c-6f1e-4c8a-9b7d-0e1f2a3b4c5d"


def test_it_starts_a_job_at_action_level():
    client = _client("iam")
    with Stubber(client) as stub:
        stub.add_response(
            "generate_service_last_accessed_details",
            {"JobId": JOB},
            {"Arn": ROLE, "Granularity": "ACTION_LEVEL"},
        )
        assert last_accessed.start_job(ROLE, client=client) == JOB


def test_a_job_in_progress_is_read_again_later():
    client = _client("iam")
    with Stubber(client) as stub:
        stub.add_response(
            "get_service_last_accessed_details",
            {
                "JobStatus": "IN_PROGRESS",
                "JobCreationDate": T1,
                "JobCompletionDate": T1,  # required by the model even while the job runs
                "ServicesLastAccessed": [],
                "JobType": "ACTION_LEVEL",
            },
            {"JobId": JOB, "MaxItems": 1000},
        )
        report = last_accessed.read_job(JOB, client=client)
    assert (report.status, report.services, report.calls) == ("IN_PROGRESS", (), 1)


def test_a_completed_job_gives_every_service_and_tracked_action_across_pages():
    client = _client("iam")
    page = {"JobStatus": "COMPLETED", "JobCreationDate": T1, "JobCompletionDate": T1, "JobType": "ACTION_LEVEL"}
    with Stubber(client) as stub:
        stub.add_response(
            "get_service_last_accessed_details",
            {
                **page,
                "ServicesLastAccessed": [
                    {
                        "ServiceName": "AWS Identity and Access Management",
                        "ServiceNamespace": "iam",
                        "LastAuthenticated": T0,
                        "LastAuthenticatedEntity": ROLE,
                        "LastAuthenticatedRegion": "us-east-1",
                        "TotalAuthenticatedEntities": 1,
                        "TrackedActionsLastAccessed": [
                            {"ActionName": "CreateUser", "LastAccessedTime": T0, "LastAccessedRegion": "us-east-1"},
                            {"ActionName": "DeleteUser"},
                        ],
                    }
                ],
                "IsTruncated": True,
                "Marker": "m1",
            },
            {"JobId": JOB, "MaxItems": 1000},
        )
        stub.add_response(
            "get_service_last_accessed_details",
            {
                **page,
                "ServicesLastAccessed": [
                    {"ServiceName": "Amazon EC2", "ServiceNamespace": "ec2", "TotalAuthenticatedEntities": 0}
                ],
                "IsTruncated": False,
            },
            {"JobId": JOB, "MaxItems": 1000, "Marker": "m1"},
        )
        report = last_accessed.read_job(JOB, client=client)
    assert report.status == "COMPLETED" and report.calls == 2 and report.completed_at == T1
    iam, ec2 = report.services
    assert (iam.namespace, iam.last_authenticated, iam.total_entities) == ("iam", T0, 1)
    assert [(a.action, a.last_accessed) for a in iam.actions] == [("iam:CreateUser", T0), ("iam:DeleteUser", None)]
    assert (ec2.namespace, ec2.last_authenticated) == ("ec2", None)


def test_a_failed_job_says_why():
    client = _client("iam")
    with Stubber(client) as stub:
        stub.add_response(
            "get_service_last_accessed_details",
            {
                "JobStatus": "FAILED",
                "JobCreationDate": T1,
                "JobCompletionDate": T1,
                "ServicesLastAccessed": [],
                "Error": {"Code": "ServiceFailure", "Message": "try again"},
            },
        )
        report = last_accessed.read_job(JOB, client=client)
    assert report.status == "FAILED" and report.error == "ServiceFailure: try again"


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("NoSuchEntity", 404, AwsNotFound), ("AccessDenied", 403, AwsDenied), ("Throttling", 400, AwsThrottled)],
)
def test_last_accessed_errors_are_the_gateways(code, status, error):
    client = _client("iam")
    with Stubber(client) as stub:
        stub.add_client_error(
            "generate_service_last_accessed_details", service_error_code=code, http_status_code=status
        )
        with pytest.raises(error):
            last_accessed.start_job(ROLE, client=client)


# AWS Config -------------------------------------------------------------------------------------------


def _rule(name: str, identifier: str, owner: str = "AWS", types: list[str] | None = None) -> dict:
    rule = {
        "ConfigRuleName": name,
        "ConfigRuleArn": f"arn:aws:config:us-east-1:222222222222:config-rule/{name}",
        "Source": {"Owner": owner, "SourceIdentifier": identifier},
        "ConfigRuleState": "ACTIVE",
    }
    if types:
        rule["Scope"] = {"ComplianceResourceTypes": types}
    return rule


def test_it_reads_the_iam_rules_compliance_and_their_pack_across_pages():
    client = _client("config")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_compliance_by_config_rule",
            {
                "ComplianceByConfigRules": [
                    {
                        "ConfigRuleName": "iam-user-mfa-enabled-pack",
                        "Compliance": {
                            "ComplianceType": "NON_COMPLIANT",
                            "ComplianceContributorCount": {"CappedCount": 3, "CapExceeded": False},
                        },
                    }
                ],
                "NextToken": "c2",
            },
            {},
        )
        stub.add_response(
            "describe_compliance_by_config_rule",
            {
                "ComplianceByConfigRules": [
                    {"ConfigRuleName": "iam-password-policy", "Compliance": {"ComplianceType": "COMPLIANT"}},
                    {"ConfigRuleName": "s3-bucket-versioning", "Compliance": {"ComplianceType": "NON_COMPLIANT"}},
                ]
            },
            {"NextToken": "c2"},
        )
        stub.add_response(
            "describe_config_rules",
            {
                "ConfigRules": [
                    _rule("iam-user-mfa-enabled-pack", "IAM_USER_MFA_ENABLED"),
                    _rule("s3-bucket-versioning", "S3_BUCKET_VERSIONING_ENABLED", types=["AWS::S3::Bucket"]),
                ],
                "NextToken": "r2",
            },
            {},
        )
        stub.add_response(
            "describe_config_rules",
            {
                "ConfigRules": [
                    _rule("iam-password-policy", "IAM_PASSWORD_POLICY"),
                    _rule(
                        "custom-role-tags",
                        "arn:aws:lambda:us-east-1:222222222222:function:tags",
                        owner="CUSTOM_LAMBDA",
                        types=["AWS::IAM::Role"],
                    ),
                ]
            },
            {"NextToken": "r2"},
        )
        stub.add_response(
            "describe_conformance_packs",
            {
                "ConformancePackDetails": [
                    {
                        "ConformancePackName": "Operational-Best-Practices-for-IAM",
                        "ConformancePackArn": "arn:aws:config:us-east-1:222222222222:conformance-pack/iam",
                        "ConformancePackId": "conformance-pack-1",
                    }
                ]
            },
        )
        stub.add_response(
            "describe_conformance_pack_compliance",
            {
                "ConformancePackName": "Operational-Best-Practices-for-IAM",
                "ConformancePackRuleComplianceList": [
                    {"ConfigRuleName": "iam-user-mfa-enabled-pack", "ComplianceType": "NON_COMPLIANT"}
                ],
            },
            {"ConformancePackName": "Operational-Best-Practices-for-IAM"},
        )
        found = config_reader.read_iam_compliance(client=client)
        stub.assert_no_pending_responses()
    assert [(r.rule.name, r.compliance, r.non_compliant, r.conformance_pack) for r in found] == [
        ("custom-role-tags", "INSUFFICIENT_DATA", 0, ""),
        ("iam-password-policy", "COMPLIANT", 0, ""),
        ("iam-user-mfa-enabled-pack", "NON_COMPLIANT", 3, "Operational-Best-Practices-for-IAM"),
    ]


def test_an_account_without_iam_rules_costs_no_pack_reads():
    client = _client("config")
    with Stubber(client) as stub:
        stub.add_response("describe_compliance_by_config_rule", {"ComplianceByConfigRules": []})
        stub.add_response(
            "describe_config_rules", {"ConfigRules": [_rule("s3-versioning", "S3_BUCKET_VERSIONING_ENABLED")]}
        )
        assert config_reader.read_iam_compliance(client=client) == []
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("AccessDeniedException", 400, AwsDenied), ("ThrottlingException", 400, AwsThrottled)],
)
def test_config_errors_are_the_gateways(code, status, error):
    client = _client("config")
    with Stubber(client) as stub:
        stub.add_client_error("describe_compliance_by_config_rule", service_error_code=code, http_status_code=status)
        with pytest.raises(error):
            config_reader.read_iam_compliance(client=client)


# Against the emulator: every reader says the API is not there ----------------------------------------


@pytest.fixture
def emulated(aws, settings):
    session.reset()
    yield
    session.reset()


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda: access_analyzer.list_analyzers(), id="access-analyzer"),
        pytest.param(lambda: access_analyzer.validate_policy({}, "IDENTITY_POLICY"), id="validate-policy"),
        pytest.param(lambda: cloudtrail.read_events(start=T0), id="cloudtrail"),
        pytest.param(lambda: last_accessed.start_job(ROLE), id="last-accessed"),
        pytest.param(lambda: config_reader.read_iam_compliance(), id="config"),
    ],
)
def test_the_emulator_does_not_offer_these_apis(emulated, read):
    with pytest.raises(AwsNotAvailable) as raised:
        read()
    assert NOT_AVAILABLE in str(raised.value)
