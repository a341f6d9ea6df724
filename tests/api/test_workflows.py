"""The API's workflow writes go through the pages' services: the same refusals, audited, retry-safe."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from governance.api.models import IdempotentWrite
from governance.audit.models import AuditEvent
from governance.jit.models import AccessRequest, Approval, Grant
from governance.reviews.models import ReviewItem
from tests.jit.conftest import jit, second_approver  # noqa: F401 - fixtures
from tests.reviews.conftest import campaign, review_inventory, template  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

MARIA = "maria.manager@example.com"


def post(client: Client, path: str, body: dict, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def _item(campaign, **filters):  # noqa: F811
    return ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA, **filters).order_by("id").first()


def test_a_reviewer_reads_their_campaign_and_decides_an_item_as_the_page_would(api, campaign):  # noqa: F811
    client = api("manager")
    listed = client.get("/api/v1/campaigns/").json()["results"]
    assert [c["id"] for c in listed] == [campaign.pk]
    items = client.get(f"/api/v1/campaigns/{campaign.pk}/items/").json()["results"]
    assert items and {i["reviewer_email"] for i in items} == {MARIA}
    item = _item(campaign)
    path = f"/api/v1/review-items/{item.pk}/decision/"

    refused = post(client, path, {"decision": "revoke", "justification": ""})
    assert refused.status_code == 400 and "justification" in refused.json()["detail"]
    done = post(client, path, {"decision": "revoke", "justification": "unused since 2025", "version": 0})
    assert done.status_code == 200 and (done.json()["decision"], done.json()["version"]) == ("revoke", 1)
    event = AuditEvent.objects.get(action="reviews.item_decided", object_id=str(item.pk))
    assert event.actor_name and event.after["decision"] == "revoke"

    again = post(client, path, {"decision": "revoke", "justification": "unused since 2025", "version": 0})
    assert again.status_code == 200  # the same person's double submit: already recorded
    conflict = post(client, path, {"decision": "keep", "justification": "needed", "version": 0})
    assert conflict.status_code == 409 and conflict.json()["item"]["decision"] == "revoke"
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == 1


def test_an_item_routed_to_someone_else_is_a_404_and_outsiders_see_no_campaign(api, campaign):  # noqa: F811
    other = ReviewItem.objects.filter(campaign=campaign).exclude(reviewer_email=MARIA).first()
    response = post(api("manager"), f"/api/v1/review-items/{other.pk}/decision/", {"decision": "keep"})
    assert response.status_code == 404
    outsider = api("outsider")
    assert outsider.get("/api/v1/campaigns/").json()["results"] == []
    assert outsider.get(f"/api/v1/campaigns/{campaign.pk}/items/").status_code == 404
    assert api("auditor").get(f"/api/v1/campaigns/{campaign.pk}/items/").json()["results"]  # overseers see all
    assert not ReviewItem.objects.exclude(decision="").exists()


def test_an_idempotency_key_acts_once_and_replays_the_first_answer(api, campaign):  # noqa: F811
    client = api("manager")
    item = _item(campaign)
    path = f"/api/v1/review-items/{item.pk}/decision/"
    body = {"decision": "revoke", "justification": "unused"}
    first = post(client, path, body, **{"Idempotency-Key": "k-1"})
    second = post(client, path, body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == 1
    reused = post(client, path, {"decision": "keep", "justification": "x"}, **{"Idempotency-Key": "k-1"})
    assert reused.status_code == 422
    # A refused write keeps no key: the client fixes its input and retries with the same key.
    other = _item(campaign, pk__gt=item.pk)
    bad = post(
        client, f"/api/v1/review-items/{other.pk}/decision/", {"decision": "revoke"}, **{"Idempotency-Key": "k-2"}
    )
    assert bad.status_code == 400 and not IdempotentWrite.objects.filter(key="k-2").exists()
    fixed = {"decision": "revoke", "justification": "unused"}
    ok = post(client, f"/api/v1/review-items/{other.pk}/decision/", fixed, **{"Idempotency-Key": "k-2"})
    assert ok.status_code == 200
    assert post(client, path, body, **{"Idempotency-Key": "not a key!"}).status_code == 400


def _holding_the_key(lock: int):
    """Hold a key's advisory lock from another connection, as a request still running would."""
    import threading

    from django.db import connections

    held, done = threading.Event(), threading.Event()

    def hold():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [lock])
                held.set()
                done.wait(10)
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    return done, thread


@pytest.mark.django_db(transaction=True)  # a transaction-level lock lasts as long as the test's own transaction
def test_a_retry_waits_for_a_request_still_running_and_takes_over_one_that_died(api, campaign, monkeypatch):  # noqa: F811
    from django.db import connection

    from governance.api import idempotency

    if connection.vendor != "postgresql":
        pytest.skip("the key's turn is a PostgreSQL advisory lock")
    monkeypatch.setattr(idempotency, "LOCK_WAIT_SECONDS", 0.3)
    client = api("manager")
    item = _item(campaign)
    path = f"/api/v1/review-items/{item.pk}/decision/"
    body = {"decision": "revoke", "justification": "unused", "version": 0}
    first = post(client, path, body, **{"Idempotency-Key": "k-run"})
    assert first.status_code == 200
    # As the row stands while the first request is between claiming its key and storing its answer.
    row = IdempotentWrite.objects.get(key="k-run")
    IdempotentWrite.objects.filter(pk=row.pk).update(status_code=0, response={})
    done, thread = _holding_the_key(idempotency.lock_id(row.token_id, "k-run"))
    try:
        retry = post(client, path, body, **{"Idempotency-Key": "k-run"})
    finally:
        done.set()
        thread.join()
    assert retry.status_code == 409 and "still running" in retry.json()["detail"]
    # The claim's request is gone (its lock with it): the retry runs the write afresh, where the item's
    # version absorbs what had been written, and stores its answer.
    taken_over = post(client, path, body, **{"Idempotency-Key": "k-run"})
    assert taken_over.status_code == 200 and "Idempotent-Replayed" not in taken_over.headers
    assert (taken_over.json()["decision"], taken_over.json()["version"]) == ("revoke", 1)
    assert IdempotentWrite.objects.get(pk=row.pk).status_code == 200
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == 1


def test_a_retry_after_the_database_failed_mid_write_runs_afresh_and_acts_once(api, campaign, monkeypatch):  # noqa: F811
    from django.db import OperationalError

    from governance.reviews import services as review_services

    client = api("manager")
    item = _item(campaign)
    path = f"/api/v1/review-items/{item.pk}/decision/"
    body = {"decision": "revoke", "justification": "unused", "version": 0}
    real = review_services.decide_item

    def written_then_the_database_goes(**kwargs):
        real(**kwargs)  # the decision and its audit event are written ...
        raise OperationalError("server closed the connection unexpectedly")  # ... and never committed

    monkeypatch.setattr(review_services, "decide_item", written_then_the_database_goes)
    with pytest.raises(OperationalError):
        post(client, path, body, **{"Idempotency-Key": "k-cut"})
    item.refresh_from_db()
    assert (item.decision, item.version) == ("", 0)  # the decision rolled back with the key's row
    assert not IdempotentWrite.objects.filter(key="k-cut").exists()
    assert not AuditEvent.objects.filter(action="reviews.item_decided").exists()

    monkeypatch.setattr(review_services, "decide_item", real)
    retry = post(client, path, body, **{"Idempotency-Key": "k-cut"})
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    assert (retry.json()["decision"], retry.json()["version"]) == ("revoke", 1)
    again = post(client, path, body, **{"Idempotency-Key": "k-cut"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == retry.json()
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == 1


def test_a_token_created_without_mfa_reads_but_cannot_write(personas, campaign):  # noqa: F811
    from governance.api import services

    user = personas["manager"]
    _, plaintext = services.create_token(user=user, name="no mfa", days=1, with_mfa=False, actor=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get("/api/v1/campaigns/").status_code == 200
    item = _item(campaign)
    response = post(client, f"/api/v1/review-items/{item.pk}/decision/", {"decision": "keep", "justification": "x"})
    assert response.status_code == 403 and "MFA" in response.json()["detail"]
    item.refresh_from_db()
    assert item.decision == ""


def _jit_body(jit, **overrides):  # noqa: F811
    return {
        "policy_id": jit.policy.pk,
        "account_id": jit.dev.account_id,
        "permission_set_arn": jit.read_only.arn,
        "duration_minutes": 60,
        "justification": "investigate INC-7",
        **overrides,
    }


def test_a_jit_request_and_its_approval_go_through_eligibility_and_count_once(api, jit, personas):  # noqa: F811
    requester = api("requester")
    created = post(requester, "/api/v1/jit/requests/", _jit_body(jit))
    assert created.status_code == 201, created.json()
    request_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    duplicate = post(requester, "/api/v1/jit/requests/", _jit_body(jit))
    assert duplicate.status_code == 400 and "pending request" in duplicate.json()["detail"]
    too_long = post(
        requester, "/api/v1/jit/requests/", _jit_body(jit, permission_set_arn=jit.admin.arn, duration_minutes=999)
    )
    assert too_long.status_code == 400
    assert post(api("outsider"), "/api/v1/jit/requests/", _jit_body(jit)).status_code == 403
    assert [r["id"] for r in requester.get("/api/v1/jit/requests/").json()["results"]] == [request_id]

    path = f"/api/v1/jit/requests/{request_id}/decision/"
    assert post(api("manager"), path, {"decision": "approve"}).status_code in (403, 404)
    approver = api("approver")
    denied_without_reason = post(approver, path, {"decision": "deny"})
    assert denied_without_reason.status_code == 400
    first = post(approver, path, {"decision": "approve", "comment": "ok"})
    again = post(approver, path, {"decision": "approve", "comment": "ok"})
    assert first.status_code == again.status_code == 200
    assert (first.json()["counted"], first.json()["status"]) == (True, "approved")
    assert again.json()["counted"] is False
    assert Approval.objects.filter(request_id=request_id).count() == 1
    assert Grant.objects.filter(request_id=request_id).count() == 1
    assert AccessRequest.objects.get(pk=request_id).status == "approved"


def test_nobody_approves_their_own_jit_request_through_the_api(api, jit, personas):  # noqa: F811
    from governance.authz.capabilities import forget
    from governance.inventory.models import GroupMembership
    from tests.fixtures.personas import _synced

    GroupMembership.objects.create(
        group=jit.inv.sso_groups["jit-approvers"],
        member=jit.inv.sso_users["requester"],
        account=jit.inv.governance_account,
        **_synced("rick-approves"),
    )
    forget(personas["requester"])
    client = api("requester")
    request_id = post(client, "/api/v1/jit/requests/", _jit_body(jit)).json()["id"]
    response = post(client, f"/api/v1/jit/requests/{request_id}/decision/", {"decision": "approve"})
    assert response.status_code in (400, 404)
    assert not Approval.objects.exists()


DENY_LEAVE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
        {"Sid": "NoBucketDeletes", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
    ],
}


def test_an_scp_change_is_proposed_and_approved_four_eyes_through_the_api(fresh_demo_org, api):
    from governance.inventory.models import Policy, PolicyKind
    from governance.inventory.sync import sync_organization
    from governance.scp import tasks

    assert not sync_organization().errors
    policy = Policy.objects.present().get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")
    author, other = api("policy_admin"), api("policy_admin_2")
    body = {
        "kind": "update",
        "policy_id": policy.aws_policy_id,
        "reason": "Protect production buckets (SEC-42).",
        "document": json.dumps(DENY_LEAVE),
    }
    assert post(author, "/api/v1/scp/changes/", {**body, "reason": "short"}).status_code == 400
    assert post(api("auditor"), "/api/v1/scp/changes/", body).status_code == 403
    created = post(author, "/api/v1/scp/changes/", body, **{"Idempotency-Key": "scp-1"})
    replay = post(author, "/api/v1/scp/changes/", body, **{"Idempotency-Key": "scp-1"})
    assert created.status_code == replay.status_code == 201 and replay.json()["id"] == created.json()["id"]
    change_id = created.json()["id"]
    assert AuditEvent.objects.filter(action="scp.change.proposed").count() == 1

    approve = f"/api/v1/scp/changes/{change_id}/approve/"
    tasks.run_impact(change_id)
    mine = post(author, approve, {"note": "lgtm"})
    assert mine.status_code == 403 and "four-eyes" in mine.json()["detail"]
    assert post(api("auditor"), approve, {}).status_code == 403
    approved = post(other, approve, {"note": "lgtm"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert post(other, approve, {}).status_code == 400  # no longer awaiting approval
    assert other.get(f"/api/v1/scp/changes/{change_id}/").json()["status"] == "approved"

    # The apply commits "applying" before calling AWS, so its key is a claim held under a session lock.
    # (Here the writer gate's check fails it: the emulator cannot show the writer role's boundary.)
    from governance.scp.models import ChangeRequest

    apply = f"/api/v1/scp/changes/{change_id}/apply/"
    applied = post(other, apply, {}, **{"Idempotency-Key": "scp-apply"})
    again = post(other, apply, {}, **{"Idempotency-Key": "scp-apply"})
    assert applied.status_code == again.status_code == 200 and applied.json()["status"] == "failed"
    assert again.json() == applied.json() and again.headers["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="scp.change.apply_started").count() == 1
    # Its request died before its answer was stored (nobody holds the key's lock): the retry takes the
    # claim over and runs the apply afresh, which the change's status allows only while it is not applied.
    IdempotentWrite.objects.filter(key="scp-apply").update(status_code=0, response={})
    retry = post(other, apply, {}, **{"Idempotency-Key": "scp-apply"})
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    assert ChangeRequest.objects.get(pk=change_id).attempts == 2
    assert IdempotentWrite.objects.get(key="scp-apply").status_code == 200
    assert AuditEvent.objects.filter(action="scp.change.apply_started").count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_the_same_key_at_once_act_once_and_get_the_same_answer(api, jit):  # noqa: F811
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time; the race needs PostgreSQL")
    requester = api("requester")
    start = threading.Barrier(2)
    answers, errors = [], []

    def submit():
        try:
            start.wait()
            answers.append(post(requester, "/api/v1/jit/requests/", _jit_body(jit), **{"Idempotency-Key": "jit-1"}))
        except Exception as exc:  # handed to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # The second waited for the first's commit and replayed its answer (no 409, no duplicate-request 400).
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert AccessRequest.objects.count() == 1
    assert AuditEvent.objects.filter(action="jit.request.submitted").count() == 1
