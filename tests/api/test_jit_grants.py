"""The API's JIT grant operations go through the pages' selectors and services: the same scopes,
the same refusals, one audit event each, and a clear 4xx for what a script gets wrong."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.jit import services
from governance.jit.models import AccessRequest, Grant, GrantStatus, RequestStatus
from tests.jit.helpers import add_sso_user, submit

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: dict | None = None, **headers):
    return client.post(path, json.dumps(body or {}), content_type="application/json", headers=headers)


def _granted(jit, user, personas, *, status=GrantStatus.ACTIVE, **submit_kw) -> Grant:
    """A request of `user`'s, approved by the approver, its grant in `status`."""
    access_request = submit(jit, user, **submit_kw)
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get(request=access_request)
    Grant.objects.filter(pk=grant.pk).update(status=status)
    grant.refresh_from_db()
    return grant


@pytest.fixture
def other_requester(jit):
    """A second person the policy lets request (a member of jit-requesters)."""
    return add_sso_user(jit.inv, "olga.other", groups=("jit-requesters",))


def _also_a_requester(jit, personas, key: str) -> None:
    """Put a persona in jit-requesters in AWS, so they hold `jit.request` besides their own role."""
    from governance.authz.capabilities import forget
    from governance.inventory.models import GroupMembership
    from tests.fixtures.personas import _synced

    GroupMembership.objects.create(
        group=jit.inv.sso_groups["jit-requesters"],
        member=jit.inv.sso_users[key],
        account=jit.inv.governance_account,
        **_synced(f"{key}-requests"),
    )
    forget(personas[key])


def _mfa_less(user) -> Client:
    from governance.api import services as api_services

    _, plaintext = api_services.create_token(user=user, name="no mfa", days=1, with_mfa=False, actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


# --- reading ------------------------------------------------------------------------------------


def test_a_requester_lists_and_reads_their_own_grants_with_the_time_left(
    api,
    jit,
    personas,
    other_requester,
    django_assert_max_num_queries,
):
    mine = _granted(jit, personas["requester"], personas)
    theirs = _granted(jit, other_requester, personas, account=jit.prod)
    client = api("requester")

    # The token (and its last-used touch) and the capabilities (from the inventory) take nine.
    with django_assert_max_num_queries(10):
        listed = client.get("/api/v1/jit/grants/")
    assert listed.status_code == 200
    assert [g["id"] for g in listed.json()["results"]] == [mine.pk]
    with django_assert_max_num_queries(10):
        detail = client.get(f"/api/v1/jit/grants/{mine.pk}/")
    body = detail.json()
    assert detail.status_code == 200
    assert (body["requester_name"], body["account_id"], body["permission_set_name"]) == (
        "rick.requester",
        jit.dev.account_id,
        "ReadOnlyAccess",
    )
    assert 59 * 60 <= body["time_left_seconds"] <= 60 * 60
    assert body["status"] == "active" and body["ending"] is False and body["extension_pending"] is False
    assert client.get(f"/api/v1/jit/grants/{theirs.pk}/").status_code == 404  # not 403


def test_administrators_and_auditors_see_every_grant_as_the_pages_let_them(api, jit, personas, other_requester):
    mine = _granted(jit, personas["requester"], personas)
    theirs = _granted(jit, other_requester, personas, account=jit.prod)
    for overseer in ("auditor", "campaign_admin"):  # audit.view; jit.admin
        client = api(overseer)
        assert [g["id"] for g in client.get("/api/v1/jit/grants/").json()["results"]] == [theirs.pk, mine.pk]
        assert client.get(f"/api/v1/jit/grants/{mine.pk}/").status_code == 200
        assert client.get("/api/v1/jit/grants/?mine=true").json()["results"] == []
        by_requester = client.get("/api/v1/jit/grants/?requester=olga.other").json()["results"]
        assert [g["id"] for g in by_requester] == [theirs.pk]
    outsider = api("outsider")
    assert outsider.get("/api/v1/jit/grants/").json()["results"] == []
    assert outsider.get(f"/api/v1/jit/grants/{mine.pk}/").status_code == 404
    assert api("approver").get(f"/api/v1/jit/grants/{mine.pk}/").status_code == 404  # approving is not seeing


def test_an_ended_grant_has_no_time_left_and_the_filters_find_it(api, jit, personas):
    live = _granted(jit, personas["requester"], personas)
    ended = _granted(jit, personas["requester"], personas, account=jit.prod)
    Grant.objects.filter(pk=ended.pk).update(status=GrantStatus.ENDED, end_reason="expired", revoked_at=timezone.now())
    client = api("requester")
    assert client.get(f"/api/v1/jit/grants/{ended.pk}/").json()["time_left_seconds"] == 0
    assert [g["id"] for g in client.get("/api/v1/jit/grants/?live=true").json()["results"]] == [live.pk]
    assert [g["id"] for g in client.get("/api/v1/jit/grants/?live=false").json()["results"]] == [ended.pk]
    assert [g["id"] for g in client.get("/api/v1/jit/grants/?status=ended").json()["results"]] == [ended.pk]
    assert [g["id"] for g in client.get(f"/api/v1/jit/grants/?account_id={jit.dev.account_id}").json()["results"]] == [
        live.pk
    ]
    bad = client.get("/api/v1/jit/grants/?status=forever")
    assert bad.status_code == 400 and "status" in bad.json()
    assert client.get("/api/v1/jit/grants/?live=perhaps").status_code == 400


def test_the_grant_list_costs_the_same_queries_however_many_grants(api, jit, personas, django_assert_max_num_queries):
    from tests.jit.helpers import permission_set

    for n in range(8):
        extra = permission_set(f"Extra{n}")
        jit.policy.permission_sets.add(extra)
        grant = _granted(jit, personas["requester"], personas, permission_set=extra)
        if n % 2:
            services.request_extension(actor=personas["requester"], grant=grant, duration_minutes=10, justification="x")
    client = api("auditor")
    # Token, user and capabilities (from the inventory) take nine; the list (grants, their
    # relations and whether an extension waits) is one.
    with django_assert_max_num_queries(10):
        results = client.get("/api/v1/jit/grants/").json()["results"]
    assert len(results) == 8 and sum(g["extension_pending"] for g in results) == 4


# --- ending early -------------------------------------------------------------------------------


def test_the_holder_ends_their_grant_once_and_is_told_when_it_has_already_ended(api, jit, personas):
    grant = _granted(jit, personas["requester"], personas)
    client = api("requester")
    path = f"/api/v1/jit/grants/{grant.pk}/end/"

    ended = post(client, path)
    assert ended.status_code == 200, ended.json()
    assert ended.json()["ending"] is True and ended.json()["time_left_seconds"] == 0
    assert (ended.json()["end_reason"], ended.json()["ended_by_name"]) == ("ended_early", "rick.requester")
    grant.refresh_from_db()
    assert grant.revoke_due_at is not None and grant.revoke_as is None  # revoked with the grantor's rights
    event = AuditEvent.objects.get(action="jit.grant.ended_early", object_id=str(grant.pk))
    assert event.actor_name == "rick.requester"

    again = post(client, path)
    assert again.status_code == 409 and "already being ended" in again.json()["detail"]
    assert again.json()["grant"]["id"] == grant.pk
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ENDED, revoked_at=timezone.now())
    over = post(client, path)
    assert over.status_code == 409 and "has already ended" in over.json()["detail"]
    assert AuditEvent.objects.filter(action="jit.grant.ended_early").count() == 1


def test_a_scheduled_grant_ended_early_never_starts(api, jit, personas):
    grant = _granted(jit, personas["requester"], personas, status=GrantStatus.SCHEDULED)
    response = post(api("requester"), f"/api/v1/jit/grants/{grant.pk}/end/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["end_reason"]) == ("ended", "never_granted")


def test_only_the_holder_or_a_jit_administrator_ends_a_grant(api, jit, personas, other_requester):
    grant = _granted(jit, personas["requester"], personas)
    path = f"/api/v1/jit/grants/{grant.pk}/end/"
    assert post(Client(HTTP_AUTHORIZATION=_token_of(other_requester)), path).status_code == 404  # not theirs to see
    assert post(api("auditor"), path).status_code == 403  # sees it; holds neither jit.request nor jit.admin
    _also_a_requester(jit, personas, "auditor")
    refused = post(api("auditor"), path)
    assert refused.status_code == 403 and "holding the grant or a JIT administrator" in refused.json()["detail"]
    grant.refresh_from_db()
    assert grant.revoke_due_at is None and not AuditEvent.objects.filter(action="jit.grant.ended_early").exists()

    by_admin = post(api("campaign_admin"), path)  # jit.admin: as the admin's "end now"
    assert by_admin.status_code == 200 and by_admin.json()["ended_by_name"] == "carla.campaign"
    grant.refresh_from_db()
    assert grant.revoke_as == personas["campaign_admin"]  # the revocation runs with the admin's AWS rights
    assert AuditEvent.objects.get(action="jit.grant.ended_early").actor_name == "carla.campaign"


def _token_of(user) -> str:
    from governance.api import services as api_services

    _, plaintext = api_services.create_token(user=user, name="script", days=1, with_mfa=True, actor=user)
    return f"Bearer {plaintext}"


def test_an_idempotent_retry_of_an_end_replays_the_first_answer(api, jit, personas):
    grant = _granted(jit, personas["requester"], personas)
    client = api("requester")
    path = f"/api/v1/jit/grants/{grant.pk}/end/"
    first = post(client, path, **{"Idempotency-Key": "end-1"})
    retry = post(client, path, **{"Idempotency-Key": "end-1"})
    assert first.status_code == retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert AuditEvent.objects.filter(action="jit.grant.ended_early").count() == 1


# --- extending ----------------------------------------------------------------------------------


def test_an_extension_is_asked_for_and_needs_approval_again(api, jit, personas):
    grant = _granted(jit, personas["requester"], personas)
    client = api("requester")
    path = f"/api/v1/jit/grants/{grant.pk}/extend/"

    over_max = post(client, path, {"duration_minutes": 500, "justification": "more"})
    assert over_max.status_code == 400 and "at most 120 minutes" in over_max.json()["detail"]
    too_long_in_all = post(client, path, {"duration_minutes": 90, "justification": "more"})  # 60 + 90 > 120
    assert too_long_in_all.status_code == 400 and "longer than" in too_long_in_all.json()["detail"]
    assert post(client, path, {"duration_minutes": 0, "justification": "more"}).json().keys() == {"duration_minutes"}
    assert post(client, path, {"duration_minutes": 30}).status_code == 400
    assert not AccessRequest.objects.filter(extends=grant).exists()

    asked = post(client, path, {"duration_minutes": 30, "justification": "the deploy runs late", "ticket": "OPS-9"})
    assert asked.status_code == 201, asked.json()
    extension = asked.json()
    assert (extension["kind"], extension["status"], extension["extends_grant_id"]) == ("extension", "pending", grant.pk)
    assert client.get(f"/api/v1/jit/grants/{grant.pk}/").json()["extension_pending"] is True
    double = post(client, path, {"duration_minutes": 30, "justification": "the deploy runs late"})
    assert double.status_code == 400 and "already waiting" in double.json()["detail"]
    assert AccessRequest.objects.filter(extends=grant).count() == 1
    grant.refresh_from_db()
    before = grant.ends_at  # nothing changes until someone approves

    decided = post(api("approver"), f"/api/v1/jit/requests/{extension['id']}/decision/", {"decision": "approve"})
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    grant.refresh_from_db()
    assert grant.ends_at == before + timedelta(minutes=30)
    assert AuditEvent.objects.filter(action="jit.grant.extended", object_id=str(grant.pk)).count() == 1


def test_only_the_holder_extends_a_live_grant(api, jit, personas, other_requester):
    grant = _granted(jit, personas["requester"], personas)
    path = f"/api/v1/jit/grants/{grant.pk}/extend/"
    body = {"duration_minutes": 30, "justification": "more"}
    assert post(Client(HTTP_AUTHORIZATION=_token_of(other_requester)), path, body).status_code == 404
    assert post(api("auditor"), path, body).status_code == 403  # no jit.request
    _also_a_requester(jit, personas, "auditor")
    refused = post(api("auditor"), path, body)
    assert refused.status_code == 403 and "holding the grant" in refused.json()["detail"]
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ENDED, revoked_at=timezone.now())
    ended = post(api("requester"), path, body)
    assert ended.status_code == 400 and "has ended" in ended.json()["detail"]
    assert not AccessRequest.objects.filter(extends=grant).exists()


# --- a request's detail and cancelling it -------------------------------------------------------


def test_a_pending_request_is_cancelled_once_and_a_decided_one_not_at_all(api, jit, personas):
    client = api("requester")
    pending = submit(jit, personas["requester"])
    assert client.get(f"/api/v1/jit/requests/{pending.pk}/").json()["status"] == "pending"
    path = f"/api/v1/jit/requests/{pending.pk}/cancel/"
    assert post(api("approver"), path).status_code == 403  # no jit.request
    cancelled = post(client, path)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = post(client, path)
    assert again.status_code == 409 and again.json()["request"]["status"] == "cancelled"
    assert AuditEvent.objects.filter(action="jit.request.cancelled", object_id=str(pending.pk)).count() == 1

    approved = submit(jit, personas["requester"], account=jit.prod)
    services.decide_request(actor=personas["approver"], access_request=approved, decision="approve")
    refused = post(client, f"/api/v1/jit/requests/{approved.pk}/cancel/")
    assert refused.status_code == 400 and "already approved" in refused.json()["detail"]
    assert AccessRequest.objects.get(pk=approved.pk).status == RequestStatus.APPROVED


def test_someone_elses_request_is_not_found(api, jit, personas, other_requester):
    theirs = submit(jit, other_requester)
    client = api("requester")
    assert client.get(f"/api/v1/jit/requests/{theirs.pk}/").status_code == 404
    assert post(client, f"/api/v1/jit/requests/{theirs.pk}/cancel/").status_code == 404
    assert AccessRequest.objects.get(pk=theirs.pk).status == RequestStatus.PENDING


# --- the MFA rule -------------------------------------------------------------------------------


def test_a_token_created_without_mfa_reads_grants_but_cannot_end_extend_or_cancel(jit, personas):
    grant = _granted(jit, personas["requester"], personas)
    pending = submit(jit, personas["requester"], account=jit.prod)
    client = _mfa_less(personas["requester"])
    assert client.get(f"/api/v1/jit/grants/{grant.pk}/").status_code == 200
    for path, body in (
        (f"/api/v1/jit/grants/{grant.pk}/end/", {}),
        (f"/api/v1/jit/grants/{grant.pk}/extend/", {"duration_minutes": 30, "justification": "more"}),
        (f"/api/v1/jit/requests/{pending.pk}/cancel/", {}),
    ):
        response = post(client, path, body)
        assert response.status_code == 403 and "MFA" in response.json()["detail"], path
    grant.refresh_from_db()
    assert grant.revoke_due_at is None and not AccessRequest.objects.filter(extends=grant).exists()
    assert AccessRequest.objects.get(pk=pending.pk).status == RequestStatus.PENDING
    admin = _mfa_less(personas["campaign_admin"])
    assert post(admin, f"/api/v1/jit/grants/{grant.pk}/end/").status_code == 403


# --- two at once --------------------------------------------------------------------------------


def _first_done_between_read_and_write(monkeypatch, first):
    """Run `first` (another request's end or cancel) after this request has read the object and
    before it writes, as when two arrive at once and this one waits on the other's lock."""
    from governance.api import idempotency

    once = idempotency.once

    def late(request, write):
        first()
        return once(request, write)

    monkeypatch.setattr(idempotency, "once", late)


def test_of_two_ends_at_once_the_second_is_told_it_is_already_being_ended(api, jit, personas, monkeypatch):
    grant = _granted(jit, personas["requester"], personas)
    _first_done_between_read_and_write(
        monkeypatch, lambda: services.end_grant(actor=personas["requester"], grant=grant)
    )
    second = post(api("requester"), f"/api/v1/jit/grants/{grant.pk}/end/")
    assert second.status_code == 409 and "already being ended" in second.json()["detail"]
    assert second.json()["grant"]["ending"] is True
    assert AuditEvent.objects.filter(action="jit.grant.ended_early", object_id=str(grant.pk)).count() == 1


def test_of_two_cancels_at_once_the_second_is_told_it_is_already_cancelled(api, jit, personas, monkeypatch):
    pending = submit(jit, personas["requester"])
    _first_done_between_read_and_write(
        monkeypatch, lambda: services.cancel_request(actor=personas["requester"], access_request=pending)
    )
    second = post(api("requester"), f"/api/v1/jit/requests/{pending.pk}/cancel/")
    assert second.status_code == 409 and second.json()["request"]["status"] == "cancelled"
    assert AuditEvent.objects.filter(action="jit.request.cancelled", object_id=str(pending.pk)).count() == 1
