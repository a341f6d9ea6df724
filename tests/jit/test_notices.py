"""Who is told: approvers when asked, the requester when decided, everyone at once for break-glass,
JIT administrators when a grant fails; queued with the change, never twice for the same event."""

from __future__ import annotations

import pytest

from governance.jit import services
from governance.notify.models import Notification
from tests.jit.helpers import make_policy, submit

pytestmark = pytest.mark.django_db


def _to(event: str) -> list[str]:
    return sorted(Notification.objects.filter(event=event).values_list("recipient", flat=True))


def test_approvers_are_asked_and_the_requester_hears_the_decision(jit, personas):
    access_request = submit(jit, personas["requester"], ticket="OPS-5")
    assert _to("jit.request.submitted") == ["anna.approver@example.com"]
    asked = Notification.objects.get(event="jit.request.submitted")
    assert "rick.requester asks for access to ReadOnlyAccess on payments-dev" in asked.body
    assert f"/jit/inbox/{access_request.pk}/" in asked.body and "OPS-5" in asked.body
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    assert _to("jit.request.update") == ["rick.requester@example.com"]
    assert "approved" in Notification.objects.get(event="jit.request.update").subject


def test_break_glass_tells_approvers_and_jit_admins_at_once(jit, personas):
    policy = make_policy(
        name="break-glass",
        grantor=personas["campaign_admin"],
        requester_group=jit.inv.sso_groups["jit-requesters"],
        approver_group=jit.inv.sso_groups["jit-approvers"],
        sets=[jit.admin],
        accounts=[jit.prod],
        break_glass=True,
    )
    submit(
        jit,
        personas["requester"],
        policy=policy,
        account=jit.prod,
        permission_set=jit.admin,
        justification="payments are down, INC-77, need admin to restart",
    )
    assert _to("jit.break_glass") == ["anna.approver@example.com", "carla.campaign@example.com"]
    assert Notification.objects.get(event="jit.break_glass", recipient__startswith="anna").subject.startswith(
        "[Governance portal] BREAK-GLASS"
    )


def test_a_failed_grant_reaches_the_admins_once(jit, personas):
    from governance.jit import notices
    from governance.jit.models import Grant

    access_request = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=access_request, decision="approve")
    grant = Grant.objects.get()
    for _ in range(2):
        notices.admins_alerted(grant, [personas["campaign_admin"]], "could not be granted: denied", key="failed")
    assert _to("jit.grant.problem") == ["carla.campaign@example.com"]


def test_a_rolled_back_request_tells_nobody(jit, personas):
    with pytest.raises(services.JitError):
        submit(jit, personas["requester"], minutes=9999)
    assert not Notification.objects.exists()
