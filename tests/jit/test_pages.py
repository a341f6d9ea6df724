"""The portal pages: request form, my requests, the approver inbox and decisions, active grants with
their live countdown, extension, early end, history; errors shown, nothing written on bad input."""

from __future__ import annotations

import pytest

from governance.jit import services
from governance.jit.models import AccessRequest, Approval, Grant, GrantStatus, RequestStatus
from tests.jit.helpers import submit

pytestmark = pytest.mark.django_db


def _form(jit, **changes) -> dict:
    data = {
        "choice": f"{jit.policy.pk}:{jit.dev.pk}:{jit.read_only.pk}",
        "start": "now",
        "duration_minutes": "60",
        "justification": "investigate the failed deploy",
        "ticket": "OPS-77",
    }
    data.update(changes)
    return data


def test_the_form_offers_what_the_requester_may_ask_for(jit, persona_client):
    response = persona_client("requester").get("/jit/request/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "ReadOnlyAccess on payments-dev (333333333333) — up to 120 min" in body


def test_the_form_has_an_empty_state_without_eligibility(jit, persona_client):
    jit.policy.enabled = False
    jit.policy.save()
    body = persona_client("requester").get("/jit/request/").content.decode()
    assert "No eligibility policy lets you request anything" in body


def test_a_request_is_sent_and_shown(jit, persona_client):
    response = persona_client("requester").post("/jit/request/", _form(jit))
    access_request = AccessRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jit/requests/{access_request.pk}/"
    page = persona_client("requester").get(response["Location"]).content.decode()
    assert "Waiting for approval" in page and "OPS-77" in page and "investigate the failed deploy" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duration_minutes": "500"}, "at most 120 minutes"),
        ({"justification": ""}, "This field is required"),
        ({"choice": "999:1:1"}, "Select a valid choice"),
        ({"start": "later", "starts_at": ""}, "Give the start time"),
        ({"start": "later", "starts_at": "2001-01-01T10:00"}, "in the past"),
    ],
)
def test_a_bad_request_explains_itself_and_writes_nothing(jit, persona_client, changes, message):
    response = persona_client("requester").post("/jit/request/", _form(jit, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AccessRequest.objects.exists()


def _break_glass_policy(jit, personas):
    from tests.jit.helpers import make_policy

    return make_policy(
        name="break-glass",
        grantor=personas["campaign_admin"],
        requester_group=jit.inv.sso_groups["jit-requesters"],
        approver_group=jit.inv.sso_groups["jit-approvers"],
        sets=[jit.admin],
        accounts=[jit.prod],
        break_glass=True,
    )


INCIDENT = "payments are down, INC-77, need admin to restart"


@pytest.mark.parametrize("with_mfa", [False, True])
def test_break_glass_wants_a_recent_mfa_login_as_an_approval_does(jit, personas, persona_client, with_mfa):
    """Break-glass approves itself and grants at once, so it is a privileged action (issue 8.3):
    without a recent MFA login the form sends the requester through step-up and writes nothing."""
    policy = _break_glass_policy(jit, personas)
    form = _form(jit, choice=f"{policy.pk}:{jit.prod.pk}:{jit.admin.pk}", justification=INCIDENT)
    response = persona_client("requester", mfa=with_mfa).post("/jit/request/", form)
    if with_mfa:
        created = AccessRequest.objects.get()
        assert created.break_glass and response["Location"] == f"/jit/requests/{created.pk}/"
    else:
        assert response.status_code in (302, 403) and "/jit/requests/" not in response.get("Location", "")
        assert not AccessRequest.objects.exists() and not Grant.objects.exists()


@pytest.mark.parametrize("with_mfa", [False, True])
def test_extending_a_break_glass_grant_wants_a_recent_mfa_login_too(jit, personas, persona_client, with_mfa):
    """Its extension approves itself as the request did, so it asks for the same step-up."""
    policy = _break_glass_policy(jit, personas)
    access_request = submit(
        jit, personas["requester"], policy=policy, account=jit.prod, permission_set=jit.admin, justification=INCIDENT
    )
    grant = Grant.objects.get(request=access_request)
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ACTIVE)
    response = persona_client("requester", mfa=with_mfa).post(
        f"/jit/grants/{grant.pk}/extend/", {"duration_minutes": "30", "justification": INCIDENT}
    )
    extensions = AccessRequest.objects.filter(extends=grant)
    if with_mfa:
        assert response.status_code == 302 and extensions.count() == 1
    else:
        assert response.status_code in (302, 403) and "/jit/requests/" not in response.get("Location", "")
        assert not extensions.exists()


def test_someone_elses_request_is_not_found(jit, personas, persona_client):
    access_request = submit(jit, personas["requester"])
    from tests.jit.helpers import add_sso_user

    other = add_sso_user(jit.inv, "robin.requester", groups=("jit-requesters",))
    from django.test import Client

    client = Client()
    client.force_login(other)
    assert client.get(f"/jit/requests/{access_request.pk}/").status_code == 404
    assert client.post(f"/jit/requests/{access_request.pk}/cancel/").status_code == 404


def test_the_approver_sees_decides_and_the_inbox_empties(jit, personas, persona_client):
    access_request = submit(jit, personas["requester"], ticket="OPS-9")
    client = persona_client("approver")
    inbox = client.get("/jit/inbox/").content.decode()
    assert f"/jit/inbox/{access_request.pk}/" in inbox and "rick.<wbr>requester" in inbox
    review = client.get(f"/jit/inbox/{access_request.pk}/").content.decode()
    assert 'value="approve"' in review
    response = client.post(f"/jit/inbox/{access_request.pk}/decide/", {"decision": "approve", "comment": "ok"})
    assert response.status_code == 302
    assert Grant.objects.filter(request=access_request).count() == 1
    again = client.post(f"/jit/inbox/{access_request.pk}/decide/", {"decision": "approve"}, follow=True)
    assert "already recorded; it counts once" in again.content.decode()
    assert Approval.objects.count() == 1 and Grant.objects.count() == 1
    assert f'/jit/inbox/{access_request.pk}/"' not in client.get("/jit/inbox/").content.decode().split("Recently")[0]


def test_deciding_needs_a_fresh_mfa_login(jit, personas, persona_client):
    access_request = submit(jit, personas["requester"])
    response = persona_client("approver", mfa=False).post(
        f"/jit/inbox/{access_request.pk}/decide/", {"decision": "approve"}
    )
    assert response.status_code in (302, 403)
    assert not Approval.objects.exists()


def test_a_deny_without_comment_is_explained(jit, personas, persona_client):
    access_request = submit(jit, personas["requester"])
    response = persona_client("approver").post(f"/jit/inbox/{access_request.pk}/decide/", {"decision": "deny"})
    assert response.status_code == 400 and "comment is required" in response.content.decode()
    access_request.refresh_from_db()
    assert access_request.status == RequestStatus.PENDING


def test_a_request_not_routed_to_you_is_not_found(jit, personas, persona_client):
    access_request = submit(jit, personas["requester"])
    assert persona_client("manager").get(f"/jit/inbox/{access_request.pk}/").status_code == 404
    assert (
        persona_client("manager").post(f"/jit/inbox/{access_request.pk}/decide/", {"decision": "approve"}).status_code
        == 404
    )


def _active(jit, personas) -> Grant:
    access_request = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get(request=access_request)
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ACTIVE)
    return grant


def test_active_grants_count_down_and_refresh(jit, personas, persona_client):
    grant = _active(jit, personas)
    client = persona_client("requester")
    page = client.get("/jit/grants/").content.decode()
    assert f'data-ends-at="{grant.ends_at.isoformat()}"'.replace("+00:00", "+00:00") in page or "data-ends-at=" in page
    assert 'hx-get="/jit/grants/"' in page and "jit-countdown.js" in page
    partial = client.get("/jit/grants/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "ReadOnlyAccess" in partial
    assert "No access is active for you" in persona_client("outsider").get("/jit/grants/").content.decode()
    assert "rick.<wbr>requester" in persona_client("auditor").get("/jit/grants/").content.decode()


def test_the_request_says_what_the_last_sync_found_in_aws(jit, personas, persona_client):
    from datetime import timedelta

    from django.utils import timezone

    grant = _active(jit, personas)
    client = persona_client("requester")
    url = f"/jit/requests/{grant.request_id}/"
    assert "Seen at sync" not in client.get(url).content.decode()
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(sync_confirmed_at=now - timedelta(minutes=10))
    assert "found the assignment in AWS" in client.get(url).content.decode()
    # Ended after that sync: what it found then says nothing about the end.
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ENDED, end_reason="expired", revoked_at=now)
    page = client.get(url).content.decode()
    assert "Seen at sync" not in page and "Expired" in page
    Grant.objects.filter(pk=grant.pk).update(sync_confirmed_at=now + timedelta(minutes=1))
    assert "confirmed the assignment is gone from AWS" in client.get(url).content.decode()


def test_the_holder_ends_a_grant_early(jit, personas, persona_client):
    grant = _active(jit, personas)
    response = persona_client("requester").post(f"/jit/grants/{grant.pk}/end/")
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoke_due_at is not None


def test_an_extension_is_asked_from_the_grant(jit, personas, persona_client):
    grant = _active(jit, personas)
    client = persona_client("requester")
    assert client.get(f"/jit/grants/{grant.pk}/extend/").status_code == 200
    bad = client.post(f"/jit/grants/{grant.pk}/extend/", {"duration_minutes": "500", "justification": "more"})
    assert bad.status_code == 400 and "at most 120 minutes" in bad.content.decode()
    response = client.post(f"/jit/grants/{grant.pk}/extend/", {"duration_minutes": "30", "justification": "more"})
    assert response.status_code == 302
    assert AccessRequest.objects.filter(extends=grant, status=RequestStatus.PENDING).count() == 1


def test_history_lists_and_filters_grants(jit, personas, persona_client):
    _active(jit, personas)
    client = persona_client("auditor")
    assert "rick.<wbr>requester" in client.get("/jit/history/").content.decode()
    assert "No grants match" in client.get("/jit/history/?status=failed").content.decode()


def test_pages_cost_the_same_queries_however_many_rows(jit, personas, persona_client, django_assert_max_num_queries):
    from tests.jit.helpers import permission_set

    for n in range(8):
        extra = permission_set(f"Extra{n}")
        jit.policy.permission_sets.add(extra)
        access_request = submit(jit, personas["requester"], permission_set=extra)
        if n % 2:
            services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    requester, approver, auditor = (persona_client(k) for k in ("requester", "approver", "auditor"))
    # Session, user and capabilities (from the inventory) take ten of these; the rest is the page.
    with django_assert_max_num_queries(15):
        requester.get("/jit/")
    with django_assert_max_num_queries(15):
        approver.get("/jit/inbox/")
    with django_assert_max_num_queries(13):
        requester.get("/jit/grants/")
    with django_assert_max_num_queries(13):
        auditor.get("/jit/history/")


def test_the_dashboard_card(jit, personas, persona_client):
    submit(jit, personas["requester"])
    assert "1 request waiting for your decision" in persona_client("approver").get("/").content.decode()
    assert "1 pending request" in persona_client("requester").get("/").content.decode()
