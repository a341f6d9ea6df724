"""Access Analyzer findings: copied, resolved when gone, and turned into findings without repeats."""

from __future__ import annotations

import pytest
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from governance.aws import calls
from governance.findings import services as findings
from governance.findings.models import Finding, FindingStatus
from governance.policy import is_known_action
from governance.signals.models import AnalyzerFinding, AnalyzerFindingStatus, Source, SourceState, SourceStatus
from governance.signals.services import refresh_analyzer
from tests.deploy import roles
from tests.fixtures.aws_calls import Recorder
from tests.fixtures.personas import OTHER_ACCOUNT_ID
from tests.signals.conftest import NOW, T0, T1, iam_principal

pytestmark = pytest.mark.django_db

EXTERNAL = "arn:aws:access-analyzer:us-east-1:111111111111:analyzer/org"
UNUSED = "arn:aws:access-analyzer:us-east-1:111111111111:analyzer/org-unused"
BUCKET = "arn:aws:s3:::payments-exports"
PARTNER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}
    ],
}


def _finding(finding_id, finding_type, resource, resource_type, updated=T1):
    return {
        "id": finding_id,
        "findingType": finding_type,
        "status": "ACTIVE",
        "resource": resource,
        "resourceType": resource_type,
        "resourceOwnerAccount": OTHER_ACCOUNT_ID,
        "createdAt": T0,
        "updatedAt": updated,
        "analyzedAt": updated,
    }


def _analyzers(s):
    s.add_response(
        "list_analyzers",
        {
            "analyzers": [
                {"arn": EXTERNAL, "name": "org", "type": "ORGANIZATION", "createdAt": T0, "status": "ACTIVE"},
                {"arn": UNUSED, "name": "org-unused", "type": "ORGANIZATION_UNUSED_ACCESS", "createdAt": T0,
                 "status": "ACTIVE"},
            ]
        },
    )  # fmt: skip


def _details(s, analyzer, raw, details):
    s.add_response("get_finding_v2", {**raw, "findingDetails": details}, {"analyzerArn": analyzer, "id": raw["id"]})


@pytest.fixture
def partner_role(persona_inventory):
    return iam_principal(
        "iam_role", "partner-access", account=persona_inventory.accounts[OTHER_ACCOUNT_ID], trust_policy=PARTNER_TRUST
    )


def test_it_copies_the_analyzers_findings_and_queues_their_rules(
    stub, persona_inventory, partner_role, django_capture_on_commit_callbacks
):
    role_finding = _finding("x-1", "ExternalAccess", partner_role.arn, "AWS::IAM::Role")
    bucket_finding = _finding("x-2", "ExternalAccess", BUCKET, "AWS::S3::Bucket")
    unused = _finding("u-1", "UnusedPermission", persona_inventory.manager_role.arn, "AWS::IAM::Role")
    with stub("accessanalyzer") as s, django_capture_on_commit_callbacks(execute=True):
        _analyzers(s)
        s.add_response("list_findings_v2", {"findings": [role_finding, bucket_finding]})
        s.add_response("list_findings_v2", {"findings": [unused]})
        _details(
            s,
            EXTERNAL,
            role_finding,
            [{"externalAccessDetails": {"condition": {}, "principal": {"AWS": "999999999999"}}}],
        )
        _details(
            s,
            EXTERNAL,
            bucket_finding,
            [{"externalAccessDetails": {"condition": {}, "isPublic": False, "principal": {"AWS": "888888888888"}}}],
        )
        _details(s, UNUSED, unused, [{"unusedPermissionDetails": {"serviceNamespace": "ec2", "lastAccessed": T0}}])
        summary = refresh_analyzer(now=NOW)
    assert summary.as_dict() | {"errors": []} == {
        "source": "access_analyzer", "state": "ok", "accounts": 1, "items": 3, "api_calls": 6, "errors": [],
    }  # fmt: skip
    rows = {r.finding_id: r for r in AnalyzerFinding.objects.all()}
    assert rows["x-1"].principal == partner_role and rows["x-1"].account.account_id == OTHER_ACCOUNT_ID
    assert rows["u-1"].principal == persona_inventory.manager_role and rows["u-1"].kind == "unused"
    assert rows["x-2"].principal is None and rows["x-2"].details[0]["externalAccessDetails"]["principal"]
    (queued,) = OrmQ.objects.all()
    task = SignedPackage.loads(queued.payload)
    assert task["func"] == "governance.findings.tasks.evaluate_rules"
    assert task["kwargs"] == {"rule_ids": ["analyzer.external_access", "analyzer.unused_access"]}


def test_an_unchanged_finding_costs_no_detail_call_and_a_vanished_one_is_resolved(
    stub, persona_inventory, partner_role
):
    first = _finding("x-1", "ExternalAccess", partner_role.arn, "AWS::IAM::Role")
    second = _finding("x-2", "ExternalAccess", BUCKET, "AWS::S3::Bucket")
    with stub("accessanalyzer") as s:
        _analyzers(s)
        s.add_response("list_findings_v2", {"findings": [first, second]})
        s.add_response("list_findings_v2", {"findings": []})
        _details(s, EXTERNAL, first, [{"externalAccessDetails": {"condition": {}}}])
        _details(s, EXTERNAL, second, [{"externalAccessDetails": {"condition": {}}}])
        refresh_analyzer(now=NOW)
    with stub("accessanalyzer") as s:
        _analyzers(s)
        s.add_response("list_findings_v2", {"findings": [first]})  # x-2 is no longer active
        s.add_response("list_findings_v2", {"findings": []})
        summary = refresh_analyzer(now=NOW)  # no get_finding_v2 stubbed: none may be asked
    assert summary.api_calls == 3
    assert AnalyzerFinding.objects.get(finding_id="x-2").status == AnalyzerFindingStatus.RESOLVED
    assert AnalyzerFinding.objects.get(finding_id="x-1").status == AnalyzerFindingStatus.ACTIVE


def test_the_detail_budget_bounds_a_run(stub, settings, persona_inventory):
    settings.SIGNALS_ANALYZER_DETAIL_CALLS = 1
    found = [_finding(f"b-{n}", "ExternalAccess", f"{BUCKET}-{n}", "AWS::S3::Bucket") for n in range(3)]
    with stub("accessanalyzer") as s:
        _analyzers(s)
        s.add_response("list_findings_v2", {"findings": found})
        s.add_response("list_findings_v2", {"findings": []})
        _details(s, EXTERNAL, found[0], [{"externalAccessDetails": {"condition": {}}}])
        summary = refresh_analyzer(now=NOW)
    assert summary.items == 3 and summary.api_calls == 4
    assert AnalyzerFinding.objects.exclude(details=[]).count() == 1


@pytest.mark.parametrize(
    ("code", "state"),
    [("AccessDeniedException", SourceState.DENIED), ("ThrottlingException", SourceState.THROTTLED),
     ("500", SourceState.NOT_AVAILABLE)],
)  # fmt: skip
def test_a_failed_read_is_recorded_and_keeps_what_was_there(stub, persona_inventory, code, state):
    status = 500 if code == "500" else 400
    with stub("accessanalyzer") as s:
        s.add_client_error("list_analyzers", service_error_code=code, http_status_code=status)
        summary = refresh_analyzer(now=NOW)
    assert summary.state == state
    row = SourceStatus.objects.get(source=Source.ACCESS_ANALYZER, scope="")
    assert row.state == state and row.succeeded_at is None


def test_an_endpoint_without_the_api_is_not_asked_again_for_a_while(stub, persona_inventory):
    with stub("accessanalyzer") as s:
        s.add_client_error("list_analyzers", service_error_code="500", http_status_code=500)
        refresh_analyzer(now=NOW)
    with stub("accessanalyzer"):
        summary = refresh_analyzer(now=NOW)  # nothing stubbed: a call would fail
    assert summary.skipped == "not available from this endpoint"


def test_the_rules_leave_out_what_the_portal_already_says(stub, persona_inventory, partner_role):
    role_finding = _finding("x-1", "ExternalAccess", partner_role.arn, "AWS::IAM::Role")
    bucket_finding = _finding("x-2", "ExternalAccess", BUCKET, "AWS::S3::Bucket")
    unused = _finding("u-1", "UnusedPermission", persona_inventory.manager_role.arn, "AWS::IAM::Role")
    with stub("accessanalyzer") as s:
        _analyzers(s)
        s.add_response("list_findings_v2", {"findings": [role_finding, bucket_finding]})
        s.add_response("list_findings_v2", {"findings": [unused]})
        _details(s, EXTERNAL, role_finding, [])
        _details(
            s,
            EXTERNAL,
            bucket_finding,
            [{"externalAccessDetails": {"condition": {}, "principal": {"AWS": "888888888888"}}}],
        )
        _details(s, UNUSED, unused, [{"unusedPermissionDetails": {"serviceNamespace": "ec2"}}])
        refresh_analyzer(now=NOW)
    findings.evaluate(
        rule_ids=["analyzer.external_access", "analyzer.unused_access", "role.trust_external_without_external_id"]
    )
    open_ = {(f.rule_id, f.resource_arn) for f in Finding.objects.filter(status=FindingStatus.OPEN)}
    # The partner role's external trust is the portal's own finding; the analyzer's is not repeated.
    assert ("role.trust_external_without_external_id", partner_role.arn) in open_
    assert ("analyzer.external_access", partner_role.arn) not in open_
    assert ("analyzer.external_access", BUCKET) in open_
    assert ("analyzer.unused_access", persona_inventory.manager_role.arn) in open_
    bucket = Finding.objects.get(rule_id="analyzer.external_access")
    assert "888888888888" in bucket.message and bucket.evidence["analyzer_finding_id"] == "x-2"


def test_the_stubbed_calls_are_recorded_as_the_actions_iam_checks_and_the_management_role_allows_them(
    stub, persona_inventory
):
    """ListFindingsV2 and GetFindingV2 are authorized as access-analyzer:ListFindings and :GetFinding."""
    recorder = Recorder()
    stop = calls.observe(recorder)
    finding = _finding("x-1", "ExternalAccess", BUCKET, "AWS::S3::Bucket")
    try:
        with calls.counting() as log, stub("accessanalyzer") as s:
            _analyzers(s)
            s.add_response("list_findings_v2", {"findings": [finding]})
            s.add_response("list_findings_v2", {"findings": []})
            _details(s, EXTERNAL, finding, [])
            refresh_analyzer(now=NOW)
    finally:
        stop()
    assert (log.count("accessanalyzer", "ListFindingsV2"), log.count("accessanalyzer", "GetFindingV2")) == (2, 1)
    actions = {action for principal, action, _, _ in recorder.records if principal == "portal"}
    assert actions == {
        "access-analyzer:ListAnalyzers",
        "access-analyzer:ListFindings",
        "access-analyzer:GetFinding",
    }
    assert roles.check(recorder.records, whole_suite=False) == []
    for action in actions:
        assert is_known_action(action), action
    assert not is_known_action("access-analyzer:ListFindingsV2")  # not an IAM action: the catalog is right


def test_every_page_of_a_listing_counts_as_a_call(stub, persona_inventory):
    found = [_finding(f"p-{n}", "ExternalAccess", f"{BUCKET}-{n}", "AWS::S3::Bucket") for n in range(2)]
    with stub("accessanalyzer") as s:
        _analyzers(s)
        s.add_response("list_findings_v2", {"findings": found[:1], "nextToken": "page-2"})
        s.add_response("list_findings_v2", {"findings": found[1:]})
        s.add_response("list_findings_v2", {"findings": []})
        for finding in found:
            _details(s, EXTERNAL, finding, [{"externalAccessDetails": {"condition": {}}}])
        summary = refresh_analyzer(now=NOW)
    assert (summary.items, summary.api_calls) == (2, 6)  # 1 + 2 pages + 1, and a detail call each
