"""The auditor can change nothing in an access review: every write is refused and writes nothing.

The matrix (test_matrix.py) checks each route's status from the rule its view declares, with an
empty body. The review writes that admit any signed-in user (`@authenticated`: decide, bulk,
delegate, sign-off) rely on their object checks instead, which an empty body never reaches; and
the governance admin's actions (launch, close, approve and retry remediation, record a ticket)
are not routes of their own. Here the auditor, signed in with a fresh MFA login, sends each write
a body that works for the person it is for, on a campaign where nothing is routed to the auditor;
the answer must be a refusal and no watched row may change. The same body then goes through as
that person, so a body the write would refuse anyway cannot make the test pass.

The portal's write routes are derived from the URL conf (each `reviews:` route that does not
answer 405 to a POST) and the admin's from its registry (each reviews model admin's actions); a
new one fails `test_every_review_write_is_covered` until it has a row in WRITES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django_q.models import OrmQ

from governance.api import services as api_services
from governance.api.models import IdempotentWrite
from governance.audit.models import AuditEvent
from governance.aws.demo.personas import BY_KEY
from governance.notify.models import Notification
from governance.reviews import services
from governance.reviews.models import (
    Campaign,
    CampaignStatus,
    CampaignTemplate,
    Decision,
    RemediationStatus,
    ReviewItem,
    SignOff,
)
from tests.authz.test_matrix import RULED
from tests.reviews.conftest import FALLBACK, campaign, review_inventory, template  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

MARIA, CARLA = BY_KEY["manager"].email, BY_KEY["campaign_admin"].email
WATCHED = (ReviewItem, Campaign, CampaignTemplate, SignOff, AuditEvent, Notification, OrmQ, IdempotentWrite)


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in WATCHED}


def _changed(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


@dataclass
class Probe:
    """What a write needs: the campaign and maria's items in it."""

    campaign: Campaign

    @property
    def marias(self):
        return ReviewItem.objects.filter(campaign=self.campaign, reviewer_email=MARIA).order_by("pk")


@dataclass(frozen=True)
class Write:
    by: str  # the persona the write is for (the control)
    refused: int  # the auditor's answer
    send: Callable[[Probe, Client], Any]
    done: Callable[[Probe], bool]  # what the control's write changed
    setup: Callable[[Probe], None] = lambda probe: None


def _portal(name: str, body: Callable[[Probe], dict]) -> Callable[[Probe, Client], Any]:
    return lambda probe, client: client.post(reverse(name, args=[probe.campaign.pk]), body(probe))


def _action(model: str, action: str, chosen: Callable[[Probe], list[int]], **extra) -> Callable:
    def send(probe: Probe, client: Client):
        data = {"action": action, ACTION_CHECKBOX_NAME: chosen(probe), "index": 0, **extra}
        return client.post(reverse(f"admin:reviews_{model}_changelist"), data)

    return send


def _decided_all(probe: Probe) -> None:
    probe.marias.update(decision=Decision.KEEP, justification="still needed")


def _closed_with_a_revoke(probe: Probe) -> None:
    probe.marias.filter(pk=probe.marias.first().pk).update(decision=Decision.REVOKE, justification="unused")
    services.close_campaign(campaign=probe.campaign, actor=None, reason="test")


def _failed_revoke(probe: Probe) -> None:
    _closed_with_a_revoke(probe)
    ReviewItem.objects.filter(campaign=probe.campaign, decision=Decision.REVOKE).update(
        remediation_status=RemediationStatus.FAILED
    )


def _manual_revoke(probe: Probe) -> None:
    _closed_with_a_revoke(probe)
    ReviewItem.objects.filter(campaign=probe.campaign, decision=Decision.REVOKE).update(
        remediation_status=RemediationStatus.MANUAL
    )


def _unlaunched_template(probe: Probe) -> None:
    CampaignTemplate.objects.create(name="auditor-probe", fallback_reviewer=FALLBACK)


def _template_form(name: str) -> dict:
    return {
        "name": name, "description": "", "scope_ou_ids": "[]", "scope_account_ids": "[]",
        "kinds": '["role_trust"]', "reviewer_rules": '["account_owner"]', "named_reviewer": "",
        "fallback_reviewer": FALLBACK, "due_days": 14, "reminder_every_days": 3, "escalate_after_days": 10,
        "close_action": "keep_flag", "remediation_mode": "approval", "recurrence_cron": "0 6 1 1,4,7,10 *",
        "trigger": "scheduled", "trigger_filter": "any", "attestation": "I reviewed.", "active": "on",
    }  # fmt: skip


def _revoked(probe: Probe) -> ReviewItem:
    return ReviewItem.objects.get(campaign=probe.campaign, decision=Decision.REVOKE)


def _closed(probe: Probe) -> bool:
    return Campaign.objects.get(pk=probe.campaign.pk).status == CampaignStatus.CLOSED


WRITES: dict[str, Write] = {
    "reviews:decide": Write(
        by="manager", refused=302,
        send=_portal("reviews:decide", lambda p: {"item": p.marias.first().pk, "version": 0, "decision": "revoke",
                                                  "justification": "unused"}),
        done=lambda p: p.marias.filter(decision=Decision.REVOKE).count() == 1,
    ),
    "reviews:bulk": Write(
        by="manager", refused=302,
        send=_portal("reviews:bulk", lambda p: {"decision": "revoke", "justification": "unused",
                                                "item": list(p.marias.values_list("pk", flat=True))}),
        done=lambda p: not p.marias.exclude(decision=Decision.REVOKE).exists(),
    ),
    "reviews:delegate": Write(
        by="manager", refused=302,
        send=_portal("reviews:delegate", lambda p: {"to": CARLA, "reason": "on leave",
                                                    "item": list(p.marias.values_list("pk", flat=True))}),
        done=lambda p: ReviewItem.objects.filter(campaign=p.campaign, reviewer_email=CARLA).exists(),
    ),
    "reviews:sign_off": Write(
        by="manager", refused=200, setup=_decided_all,  # the form again, saying they have no items
        send=_portal("reviews:sign_off", lambda p: {"confirm": "yes"}),
        done=lambda p: SignOff.objects.filter(campaign=p.campaign, reviewer_email=MARIA).exists(),
    ),
    "reviews:close": Write(by="campaign_admin", refused=403, send=_portal("reviews:close", lambda p: {}), done=_closed),
    "admin:campaigntemplate:launch_now": Write(
        by="campaign_admin", refused=403, setup=_unlaunched_template,
        send=_action("campaigntemplate", "launch_now",
                     lambda p: [CampaignTemplate.objects.get(name="auditor-probe").pk]),
        done=lambda p: Campaign.objects.filter(template__name="auditor-probe").exists(),
    ),
    "admin:campaigntemplate:add": Write(
        by="campaign_admin", refused=403,
        send=lambda p, client: client.post(reverse("admin:reviews_campaigntemplate_add"), _template_form("added")),
        done=lambda p: CampaignTemplate.objects.filter(name="added").exists(),
    ),
    "admin:campaigntemplate:change": Write(
        by="campaign_admin", refused=403,
        send=lambda p, client: client.post(
            reverse("admin:reviews_campaigntemplate_change", args=[p.campaign.template_id]), _template_form("renamed")
        ),
        done=lambda p: CampaignTemplate.objects.get(pk=p.campaign.template_id).name == "renamed",
    ),
    "admin:campaign:close": Write(
        by="campaign_admin", refused=403, send=_action("campaign", "close", lambda p: [p.campaign.pk]), done=_closed
    ),
    "admin:campaign:approve_remediation": Write(
        by="campaign_admin", refused=403, setup=_closed_with_a_revoke,
        send=_action("campaign", "approve_remediation", lambda p: [p.campaign.pk]),
        done=lambda p: Campaign.objects.get(pk=p.campaign.pk).remediation_approved_by_id is not None,
    ),
    "admin:campaign:retry_remediation": Write(
        by="campaign_admin", refused=403, setup=_failed_revoke,
        send=_action("campaign", "retry_remediation", lambda p: [p.campaign.pk]),
        done=lambda p: _revoked(p).remediation_status == RemediationStatus.PENDING,
    ),
    "admin:reviewitem:record_ticket": Write(
        by="campaign_admin", refused=403, setup=_manual_revoke,
        send=_action("reviewitem", "record_ticket", lambda p: [_revoked(p).pk], ticket="CHG-1"),
        done=lambda p: _revoked(p).remediation_ticket == "CHG-1",
    ),
    "api:review_decision": Write(
        by="manager", refused=404,
        send=lambda p, client: client.post(
            reverse("api:review_decision", args=[p.marias.first().pk]),
            {"decision": "revoke", "justification": "unused"}, content_type="application/json",
        ),
        done=lambda p: p.marias.filter(decision=Decision.REVOKE).count() == 1,
    ),
}  # fmt: skip


def _portal_writes(client: Client) -> set[str]:
    """The `reviews:` routes that take a POST (the others answer 405 before any rule runs)."""
    found = set()
    for route in RULED:
        if route.name.startswith("reviews:"):
            path = "/" + route.route.replace("<int:campaign_id>", "1")
            if client.post(path).status_code != 405:
                found.add(route.name)
    return found


def _admin_writes() -> set[str]:
    names = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "reviews":
            names |= {f"admin:{model._meta.model_name}:{action}" for action in model_admin.actions or ()}
    return names


def test_every_review_write_is_covered(persona_client):
    assert _portal_writes(persona_client("auditor")) == {n for n in WRITES if n.startswith("reviews:")}
    assert _admin_writes() == {n for n in WRITES if n.startswith("admin:") and not n.endswith((":add", ":change"))}


@pytest.mark.parametrize("name", list(WRITES))
def test_the_auditor_is_refused_and_nothing_changes(name, campaign, personas, persona_client):  # noqa: F811
    write = WRITES[name]
    if name.startswith("api:"):

        def token(key: str) -> Client:
            user = personas[key]
            _, plaintext = api_services.create_token(user=user, name="probe", days=1, with_mfa=True, actor=user)
            return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

        clients = {key: token(key) for key in ("auditor", write.by)}
    else:
        clients = {key: persona_client(key) for key in ("auditor", write.by)}
    probe = Probe(campaign=campaign)
    assert not ReviewItem.objects.filter(campaign=campaign, reviewer_email=BY_KEY["auditor"].email).exists()
    write.setup(probe)
    before = _snapshot()

    response = write.send(probe, clients["auditor"])
    assert response.status_code == write.refused, (name, response.status_code)
    if response.status_code == 302:
        assert not response["Location"].startswith("/accounts/"), response["Location"]
    assert _changed(before, _snapshot()) == [], f"{name}: the auditor's POST changed rows"

    control = write.send(probe, clients[write.by])
    assert control.status_code < 500 and write.done(probe), f"{name}: the body did not work for {write.by}"
