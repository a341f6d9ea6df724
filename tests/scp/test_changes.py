"""Change requests end to end against the emulator: propose, four-eyes, apply through the writer gate,
confirm by sync, stale bases, AWS's attachment limits, versions, rollback and drift."""

from __future__ import annotations

import json

import pytest

from governance.aws import session
from governance.inventory.models import Policy, PolicyKind, ScpAttachment
from governance.inventory.sync import sync_organization
from governance.scp import services, tasks
from governance.scp.models import ChangeKind, ChangeRequest, ChangeStatus, PolicyRevision

pytestmark = pytest.mark.django_db

DENY_DELETE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
        {"Sid": "NoBucketDeletes", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
    ],
}
REASON = "Protect production buckets from deletion (ticket SEC-42)."


def _scp(name: str) -> Policy:
    return Policy.objects.present().get(kind=PolicyKind.SCP, name=name)


def _aws_document(policy_id: str) -> dict:
    org = session.management_client("organizations")
    return json.loads(org.describe_policy(PolicyId=policy_id)["Policy"]["Content"])


def _ready(change: ChangeRequest) -> ChangeRequest:
    tasks.run_impact(change.pk)
    change.refresh_from_db()
    return change


def _audit_actions(change: ChangeRequest) -> list[str]:
    from governance.audit.models import AuditEvent

    return list(
        AuditEvent.objects.filter(object_type="scp.changerequest", object_id=str(change.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_an_update_goes_from_proposal_to_applied_and_the_sync_confirms_it(fresh_demo_org, db):
    assert not sync_organization().errors
    from tests.fixtures.personas import make_persona_user

    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    policy = _scp("DenyLeaveOrganization")
    change = services.propose_change(
        actor=paula,
        kind=ChangeKind.UPDATE,
        policy=policy,
        reason=REASON,
        document_text=json.dumps(DENY_DELETE, indent=2),
    )
    assert change.status == ChangeStatus.PENDING and change.base_hash == policy.document_hash
    change = _ready(change)
    assert change.impact["accounts_affected"] >= 10
    assert "s3" in change.impact["lost_services"]

    with pytest.raises(services.FourEyesError):
        services.approve_change(change=change, actor=paula)
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING and change.approved_by is None

    change = services.approve_change(change=change, actor=peter)
    assert change.status == ChangeStatus.APPROVED
    change = services.apply_change(change=change, actor=peter)
    assert change.status == ChangeStatus.APPLIED, change.error
    assert change.aws_request_id
    assert _aws_document(policy.aws_policy_id) == DENY_DELETE
    revision = PolicyRevision.objects.get(change=change)
    assert revision.document == DENY_DELETE

    assert not sync_organization().errors
    policy.refresh_from_db()
    assert policy.document == DENY_DELETE and policy.document_hash == revision.document_hash
    assert _audit_actions(change) == [
        "scp.change.proposed",
        "scp.change.approved",
        "scp.change.apply_started",
        "scp.change.applied",
    ]
    from governance.audit.models import AuditEvent

    write = AuditEvent.objects.filter(action="aws.write").latest("id")
    assert write.after["source_identity"] == "peter.policy" and write.after["aws_request_id"] == change.aws_request_id

    # Rollback: a change request back to the version before (the sync's history keeps it).
    first = policy.versions.get(version=1)
    rollback = services.propose_rollback(actor=peter, version=first, policy=policy, reason="Back to the version before")
    assert rollback.kind == ChangeKind.UPDATE and rollback.document == first.document
    assert rollback.base_hash == revision.document_hash


def test_an_out_of_band_change_makes_the_request_stale_and_rebase_recovers_it(fresh_demo_org, db):
    assert not sync_organization().errors
    from tests.fixtures.personas import make_persona_user

    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    policy = _scp("DenyLeaveOrganization")
    change = _ready(
        services.propose_change(
            actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason=REASON, document_text=json.dumps(DENY_DELETE)
        )
    )
    change = services.approve_change(change=change, actor=peter)
    out_of_band = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]}
    session.management_client("organizations").update_policy(
        PolicyId=policy.aws_policy_id, Content=json.dumps(out_of_band)
    )

    change = services.apply_change(change=change, actor=peter)
    assert change.status == ChangeStatus.STALE and "rebase" in change.error
    assert _aws_document(policy.aws_policy_id) == out_of_band  # nothing written
    with pytest.raises(services.ChangeError):
        services.apply_change(change=change, actor=peter)

    change = services.rebase_change(change=change, actor=paula)
    assert change.status == ChangeStatus.PENDING and change.base_document == out_of_band
    change = services.approve_change(change=_ready(change), actor=peter)
    assert services.apply_change(change=change, actor=peter).status == ChangeStatus.APPLIED


def test_drift_is_a_finding_with_its_diff(fresh_demo_org, db):
    from governance.findings import services as findings
    from governance.findings.models import Finding

    assert not sync_organization().errors
    from tests.fixtures.personas import make_persona_user

    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    policy = _scp("DenyLeaveOrganization")
    change = _ready(
        services.propose_change(
            actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason=REASON, document_text=json.dumps(DENY_DELETE)
        )
    )
    services.apply_change(change=services.approve_change(change=change, actor=peter), actor=peter)
    assert not sync_organization().errors
    findings.evaluate(rule_ids=["scp.drift"])
    assert not Finding.objects.filter(rule_id="scp.drift", status="open").exists()

    out_of_band = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]}
    session.management_client("organizations").update_policy(
        PolicyId=policy.aws_policy_id, Content=json.dumps(out_of_band)
    )
    assert not sync_organization().errors
    findings.evaluate(rule_ids=["scp.drift"])
    drift = Finding.objects.get(rule_id="scp.drift", status="open")
    assert drift.policy_id == policy.pk
    assert drift.evidence["approved_change"] == change.pk
    assert {c["kind"] for c in drift.evidence["diff"]} >= {"removed", "added"}


def test_drift_is_reverted_or_adopted_through_change_requests(fresh_demo_org, db):
    """The policy page's two answers to drift, each an ordinary change request: revert to the approved
    version (AWS gets it back) or adopt AWS's version (nothing written, the portal records it)."""
    from governance.findings import services as findings
    from governance.findings.models import Finding
    from governance.scp.models import RevisionSource
    from governance.scp.selectors import approved_versions
    from tests.fixtures.personas import make_persona_user

    def drifted() -> bool:
        assert not sync_organization().errors
        findings.evaluate(rule_ids=["scp.drift"])
        return Finding.objects.filter(rule_id="scp.drift", status="open").exists()

    assert not sync_organization().errors
    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    policy = _scp("DenyLeaveOrganization")
    change = _ready(
        services.propose_change(
            actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason=REASON, document_text=json.dumps(DENY_DELETE)
        )
    )
    services.apply_change(change=services.approve_change(change=change, actor=peter), actor=peter)
    org = session.management_client("organizations")
    out_of_band = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]}
    org.update_policy(PolicyId=policy.aws_policy_id, Content=json.dumps(out_of_band))
    assert drifted()

    policy.refresh_from_db()
    revert = _ready(
        services.propose_rollback(
            actor=paula, policy=policy, version=approved_versions()[policy.aws_policy_id], reason="Revert the drift"
        )
    )
    assert revert.kind == ChangeKind.UPDATE and revert.document == DENY_DELETE and revert.base_document == out_of_band
    revert = services.apply_change(change=services.approve_change(change=revert, actor=peter), actor=peter)
    assert revert.status == ChangeStatus.APPLIED, revert.error
    assert _aws_document(policy.aws_policy_id) == DENY_DELETE
    assert not drifted()

    org.update_policy(PolicyId=policy.aws_policy_id, Content=json.dumps(out_of_band))
    assert drifted()
    policy.refresh_from_db()
    adopt = _ready(services.propose_change(actor=peter, kind=ChangeKind.ADOPT, policy=policy, reason="Keep AWS's"))
    with pytest.raises(services.FourEyesError):
        services.approve_change(change=adopt, actor=peter)
    adopt = services.apply_change(change=services.approve_change(change=adopt, actor=paula), actor=paula)
    assert adopt.status == ChangeStatus.APPLIED, adopt.error
    assert PolicyRevision.objects.get(change=adopt).source == RevisionSource.ADOPTED
    assert _aws_document(policy.aws_policy_id) == out_of_band  # adopting writes nothing to AWS
    assert not drifted()


def test_invalid_proposals_are_refused_and_write_nothing(synced_personas):
    from governance.audit.models import AuditEvent

    paula = synced_personas["policy_admin"]
    policy = _scp("DenyLeaveOrganization")
    in_aws = _aws_document(policy.aws_policy_id)
    before, events = ChangeRequest.objects.count(), AuditEvent.objects.count()
    unknown = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:DeleteBuckets", "Resource": "*"}],
    }
    bad = {
        "unknown action": (json.dumps(unknown), "'s3:DeleteBuckets' matches no action in the IAM catalog"),
        "unknown service": (json.dumps(unknown).replace("s3:DeleteBuckets", "nosuch:DeleteBucket"), "nosuch:Delete"),
        "malformed JSON": ('{"Version": "2012-10-17", "Statement": [', "error"),
        "oversized": (json.dumps(DENY_DELETE) + " " * 5200, "5,120"),
        "Principal in an SCP": (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}],
                }
            ),
            "Principal",
        ),
    }
    for _label, (text, message) in bad.items():
        with pytest.raises(services.ChangeError, match=message):
            services.propose_change(
                actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason=REASON, document_text=text
            )
    with pytest.raises(services.ChangeError, match="nothing would change"):
        services.propose_change(
            actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason=REASON, document_text=json.dumps(policy.document)
        )
    with pytest.raises(services.ChangeError, match="Say why"):
        services.propose_change(actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason="", document_text="{}")
    with pytest.raises(services.ChangeError, match="AWS's own policy"):
        services.propose_change(
            actor=paula, kind=ChangeKind.UPDATE, policy=_scp("FullAWSAccess"), reason=REASON, document_text="{}"
        )
    manager = synced_personas["manager"]
    with pytest.raises(services.ChangeError, match="Only policy admins"):
        services.propose_change(actor=manager, kind=ChangeKind.DELETE, policy=policy, reason=REASON)
    assert ChangeRequest.objects.count() == before and AuditEvent.objects.count() == events
    assert _aws_document(policy.aws_policy_id) == in_aws


def test_attachment_limits_are_checked_before_submission(synced_personas, demo_org):
    paula = synced_personas["policy_admin"]
    account = demo_org.accounts["sandbox-olga"]
    from tests.fixtures.personas import _synced

    # The account holds FullAWSAccess only: detaching it would leave none.
    with pytest.raises(services.ChangeError, match="at least one SCP"):
        services.propose_change(
            actor=paula, kind=ChangeKind.DETACH, policy=_scp("FullAWSAccess"), reason=REASON, target_id=account
        )
    # Four more SCPs attached there (in the inventory), then a sixth is refused.
    target = services.resolve_target(account)
    for index in range(4):
        arn = (
            f"arn:aws:organizations::{demo_org.management_account_id}:policy/o-x/service_control_policy/p-limit{index}"
        )
        extra = Policy.objects.create(
            kind=PolicyKind.SCP, arn=arn, name=f"limit-{index}", scope="org", aws_policy_id=f"p-limit{index}",
            document=DENY_DELETE, **_synced(arn),
        )  # fmt: skip
        ScpAttachment.objects.create(
            policy=extra, target_type="ACCOUNT", target_id=account, account_id=target.account_pk, scope="org",
            **_synced(f"{arn}:{account}"),
        )  # fmt: skip
    from governance.audit.models import AuditEvent

    before, events = ChangeRequest.objects.count(), AuditEvent.objects.count()
    with pytest.raises(services.ChangeError, match="at most 5"):
        services.propose_change(
            actor=paula, kind=ChangeKind.ATTACH, policy=_scp("DenyRootUser"), reason=REASON, target_id=account
        )
    with pytest.raises(services.ChangeError, match="not a root, OU or account"):
        services.propose_change(
            actor=paula, kind=ChangeKind.ATTACH, policy=_scp("DenyRootUser"), reason=REASON, target_id="ou-nope"
        )
    assert ChangeRequest.objects.count() == before and AuditEvent.objects.count() == events


def test_attach_and_detach_apply_in_aws(fresh_demo_org, db):
    assert not sync_organization().errors
    from tests.fixtures.personas import make_persona_user

    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    account = fresh_demo_org.accounts["sandbox-olga"]
    policy = _scp("DenyIamUserCreation")
    attach = _ready(
        services.propose_change(actor=paula, kind=ChangeKind.ATTACH, policy=policy, reason=REASON, target_id=account)
    )
    assert attach.impact["accounts_affected"] == 1
    attach = services.apply_change(change=services.approve_change(change=attach, actor=peter), actor=paula)
    assert attach.status == ChangeStatus.APPLIED, attach.error
    org = session.management_client("organizations")
    attached = {
        p["Id"] for p in org.list_policies_for_target(TargetId=account, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    }
    assert policy.aws_policy_id in attached
    assert not sync_organization().errors
    detach = _ready(
        services.propose_change(actor=peter, kind=ChangeKind.DETACH, policy=policy, reason=REASON, target_id=account)
    )
    detach = services.apply_change(change=services.approve_change(change=detach, actor=paula), actor=paula)
    assert detach.status == ChangeStatus.APPLIED, detach.error


def test_attachment_limits_are_checked_again_in_aws_before_applying(fresh_demo_org, db):
    """What AWS holds when the request is applied decides: attached meanwhile out of band, the attach fails
    (retryable, nothing written); an SCP that became the target's last one in AWS is not detached."""
    assert not sync_organization().errors
    from tests.fixtures.personas import make_persona_user

    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    org = session.management_client("organizations")
    account = fresh_demo_org.accounts["sandbox-olga"]
    policy = _scp("DenyIamUserCreation")
    attach = _ready(
        services.propose_change(actor=paula, kind=ChangeKind.ATTACH, policy=policy, reason=REASON, target_id=account)
    )
    attach = services.approve_change(change=attach, actor=peter)
    org.attach_policy(PolicyId=policy.aws_policy_id, TargetId=account)
    attach = services.apply_change(change=attach, actor=peter)
    assert attach.status == ChangeStatus.FAILED and "already attached there in AWS" in attach.error
    assert not attach.aws_request_id

    assert not sync_organization().errors
    detach = _ready(
        services.propose_change(actor=paula, kind=ChangeKind.DETACH, policy=policy, reason=REASON, target_id=account)
    )
    detach = services.approve_change(change=detach, actor=peter)
    full_access = _scp("FullAWSAccess")
    org.detach_policy(PolicyId=full_access.aws_policy_id, TargetId=account)
    detach = services.apply_change(change=detach, actor=peter)
    assert detach.status == ChangeStatus.FAILED and "last SCP on the target in AWS" in detach.error
    attached = {
        p["Id"] for p in org.list_policies_for_target(TargetId=account, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    }
    assert attached == {policy.aws_policy_id}


def test_a_failed_apply_leaves_the_request_retryable(fresh_demo_org, db):
    assert not sync_organization().errors
    from tests.fixtures.personas import make_persona_user

    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    policy = _scp("DenyIamUserCreation")
    change = _ready(
        services.propose_change(
            actor=paula, kind=ChangeKind.UPDATE, policy=policy, reason=REASON, document_text=json.dumps(DENY_DELETE)
        )
    )
    change = services.approve_change(change=change, actor=peter)
    org = session.management_client("organizations")
    org.detach_policy(PolicyId=policy.aws_policy_id, TargetId=fresh_demo_org.accounts["payments-prod"])
    org.delete_policy(PolicyId=policy.aws_policy_id)

    change = services.apply_change(change=change, actor=peter)
    assert change.status == ChangeStatus.FAILED and change.attempts == 1
    assert "PolicyNotFound" in change.error or "exist" in change.error
    change = services.apply_change(change=change, actor=peter)  # retryable: tried again, fails again
    assert change.status == ChangeStatus.FAILED and change.attempts == 2
    assert not PolicyRevision.objects.filter(change=change).exists()
    assert _audit_actions(change).count("scp.change.apply_failed") == 2


def test_a_new_policy_is_created_and_an_unattached_one_deleted_in_aws_as_the_writer_role_allows(fresh_demo_org, db):
    from governance.aws import calls
    from tests.deploy import roles
    from tests.fixtures.aws_calls import Recorder
    from tests.fixtures.personas import make_persona_user

    assert not sync_organization().errors
    paula, peter = make_persona_user("policy_admin"), make_persona_user("policy_admin_2")
    org = session.management_client("organizations")
    recorder = Recorder()
    stop = calls.observe(recorder)
    try:
        create = _ready(
            services.propose_change(
                actor=paula,
                kind=ChangeKind.CREATE,
                name="DenyBucketDeletes",
                reason=REASON,
                document_text=json.dumps(DENY_DELETE),
            )
        )
        create = services.apply_change(change=services.approve_change(change=create, actor=peter), actor=paula)
        assert create.status == ChangeStatus.APPLIED, create.error
        assert create.aws_policy_id and create.aws_request_id
        assert _aws_document(create.aws_policy_id) == DENY_DELETE
        assert PolicyRevision.objects.get(change=create).document == DENY_DELETE
        assert not sync_organization().errors
        assert _scp("DenyBucketDeletes").aws_policy_id == create.aws_policy_id  # the sync confirms it
        delete = _ready(
            services.propose_change(
                actor=peter, kind=ChangeKind.DELETE, policy=_scp("DenyBucketDeletes"), reason=REASON
            )
        )
        delete = services.apply_change(change=services.approve_change(change=delete, actor=paula), actor=peter)
        assert delete.status == ChangeStatus.APPLIED, delete.error
        assert PolicyRevision.objects.get(change=delete).deleted
    finally:
        stop()
    names = {p["Name"] for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]}
    assert "DenyBucketDeletes" not in names
    assert not sync_organization().errors
    assert not Policy.objects.present().filter(aws_policy_id=create.aws_policy_id).exists()
    assert _audit_actions(delete) == [
        "scp.change.proposed",
        "scp.change.approved",
        "scp.change.apply_started",
        "scp.change.applied",
    ]
    writes = {a for p, a, *_ in recorder.records if p == "writer"}
    assert {"organizations:CreatePolicy", "organizations:DeletePolicy"} <= writes
    assert roles.check(recorder.records, whole_suite=False) == []
