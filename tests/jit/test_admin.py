"""The eligibility policy admin: JIT administrators only, the saver becomes the grantor (if AWS
would let them make the grants themselves), every save audited; grants end from the admin."""

from __future__ import annotations

import pytest

from governance.audit.models import AuditEvent
from governance.jit.models import EligibilityPolicy, Grant, GrantStatus
from tests.jit.helpers import give_assignment_rights, submit

pytestmark = pytest.mark.django_db


def _form(jit, **changes) -> dict:
    data = {
        "name": "platform",
        "description": "",
        "enabled": "on",
        "permission_sets": [jit.read_only.pk],
        "accounts": [jit.dev.pk],
        "units": [],
        "max_duration_minutes": "60",
        "requester_group": jit.inv.sso_groups["jit-requesters"].pk,
        "approver_source": "group",
        "approver_group": jit.inv.sso_groups["jit-approvers"].pk,
        "approvals_required": "2",
        "auto_approve_permission_sets": [],
        "auto_approve_except_units": [],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_saver_becomes_the_grantor_and_the_save_is_audited(jit, persona_client, personas):
    give_assignment_rights(jit)
    response = persona_client("campaign_admin").post("/admin/jit/eligibilitypolicy/add/", _form(jit))
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = EligibilityPolicy.objects.get(name="platform")
    assert policy.grantor == personas["campaign_admin"] and policy.approvals_required == 2
    event = AuditEvent.objects.get(action="jit.policy.created")
    assert event.after["permission_sets"] == ["ReadOnlyAccess"] and event.after["grantor"] == "carla.campaign"


def test_it_refuses_a_grantor_aws_would_not_let_make_the_grants(jit, persona_client):
    response = persona_client("campaign_admin").post("/admin/jit/eligibilitypolicy/add/", _form(jit))
    assert response.status_code == 200
    assert "AWS would not let you make its grants yourself" in response.content.decode()
    assert not EligibilityPolicy.objects.filter(name="platform").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"approver_group": None}, "Name the Identity Center group whose members approve."),
        ({"accounts": None}, "Name at least one account or OU"),
        ({"approvals_required": "11"}, "less than or equal to 10"),
        ({"auto_approve_permission_sets": [0]}, "Select a valid choice"),
    ],
)
def test_it_explains_a_bad_policy(jit, persona_client, changes, message):
    give_assignment_rights(jit)
    changes = {k: (v if v != [0] else [jit.admin.pk]) for k, v in changes.items()}
    response = persona_client("campaign_admin").post("/admin/jit/eligibilitypolicy/add/", _form(jit, **changes))
    assert response.status_code == 200
    assert message in response.content.decode() or "Auto-approve only sets" in response.content.decode()
    assert not EligibilityPolicy.objects.filter(name="platform").exists()


@pytest.mark.parametrize("key", ["policy_admin", "auditor", "requester", "approver"])
def test_only_jit_admins_change_policies(jit, persona_client, key):
    response = persona_client(key).post("/admin/jit/eligibilitypolicy/add/", _form(jit))
    assert response.status_code == 403
    assert not EligibilityPolicy.objects.filter(name="platform").exists()


def test_a_save_needs_a_fresh_mfa_login(jit, persona_client):
    give_assignment_rights(jit)
    response = persona_client("campaign_admin", mfa=False).post("/admin/jit/eligibilitypolicy/add/", _form(jit))
    assert response.status_code in (302, 403)
    assert not EligibilityPolicy.objects.filter(name="platform").exists()


def test_an_admin_ends_a_grant_from_the_list(jit, persona_client, personas):
    from governance.jit import services

    access_request = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get()
    Grant.objects.filter(pk=grant.pk).update(status=GrantStatus.ACTIVE)
    client = persona_client("campaign_admin")
    assert client.get("/admin/jit/grant/").status_code == 200
    response = client.post("/admin/jit/grant/", {"action": "end_now", "_selected_action": [grant.pk]})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoke_due_at is not None and grant.revoke_as == personas["campaign_admin"]


def test_an_admin_retries_a_backed_off_grant_from_the_list_and_it_is_audited(jit, persona_client, personas):
    from datetime import timedelta

    from django.utils import timezone

    from governance.audit.models import AuditEvent
    from governance.jit import services

    access_request = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get()
    Grant.objects.filter(pk=grant.pk).update(
        status=GrantStatus.REVOKING, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    client = persona_client("campaign_admin")
    response = client.post("/admin/jit/grant/", {"action": "retry_now", "_selected_action": [grant.pk]})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.next_attempt_at is None
    event = AuditEvent.objects.get(action="jit.grant.retry_requested")
    assert (event.actor_name, event.object_id) == ("carla.campaign", str(grant.pk))
