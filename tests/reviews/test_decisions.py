"""Decisions: keep or revoke with a justification, one winner at a time, bulk, delegation, sign-off, close."""

from __future__ import annotations

import pytest

from governance.audit.models import AuditEvent
from governance.reviews import services
from governance.reviews.models import CampaignStatus, Decision, ItemKind, ReviewItem, Risk, SignOff

pytestmark = pytest.mark.django_db

MARIA = "maria.manager@example.com"


def _mine(campaign):
    return ReviewItem.objects.filter(campaign=campaign, reviewer_email=MARIA).order_by("id")


def test_a_revoke_needs_a_justification_and_writes_nothing_without(campaign, personas):
    item = _mine(campaign).filter(kind=ItemKind.ACCESS_KEY).get()
    with pytest.raises(services.ReviewError, match="justification"):
        services.decide_item(item_id=item.pk, decision="revoke", justification=" ", actor=personas["manager"])
    item.refresh_from_db()
    assert item.decision == "" and item.version == 0
    assert not AuditEvent.objects.filter(action="reviews.item_decided").exists()

    services.decide_item(item_id=item.pk, decision="revoke", justification="unused", actor=personas["manager"])
    item.refresh_from_db()
    assert (item.decision, item.justification, item.version, item.decided_by) == (
        "revoke",
        "unused",
        1,
        personas["manager"],
    )
    event = AuditEvent.objects.get(action="reviews.item_decided")
    assert event.before["decision"] == "" and event.after == {**event.after, "decision": "revoke", "bulk": False}


def test_keeping_a_high_risk_item_needs_a_justification(campaign, personas):
    item = _mine(campaign).filter(risk=Risk.HIGH).first()
    with pytest.raises(services.ReviewError, match="high-risk"):
        services.decide_item(item_id=item.pk, decision="keep", justification="", actor=personas["manager"])
    services.decide_item(item_id=item.pk, decision="keep", justification="on call", actor=personas["manager"])


def test_someone_elses_item_is_refused(campaign, personas):
    item = ReviewItem.objects.filter(campaign=campaign).exclude(reviewer_email=MARIA).first()
    with pytest.raises(services.ReviewError, match="not yours"):
        services.decide_item(item_id=item.pk, decision="keep", justification="x", actor=personas["manager"])


def test_two_decisions_at_once_one_wins_and_the_other_is_told(campaign, personas):
    item = _mine(campaign).filter(kind=ItemKind.ACCESS_KEY).get()
    services.decide_item(
        item_id=item.pk, decision="revoke", justification="unused", actor=personas["manager"], expected_version=0
    )
    # A second tab, loaded at version 0, keeps it: refused, told who decided, the first decision stands.
    with pytest.raises(services.ConflictError, match="while you were looking") as caught:
        services.decide_item(
            item_id=item.pk,
            decision="keep",
            justification="still needed",
            actor=personas["manager"],
            expected_version=0,
        )
    assert caught.value.item.decision == Decision.REVOKE
    # The very same submission twice (a double click) is accepted once.
    again = services.decide_item(
        item_id=item.pk, decision="revoke", justification="unused", actor=personas["manager"], expected_version=0
    )
    assert again.version == 1
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == 1


def test_a_bulk_decision_decides_the_filtered_selection_each_audited_as_bulk(campaign, personas):
    mine = _mine(campaign)
    revokes = mine.filter(recommendation="revoke")
    count = services.decide_bulk(
        campaign=campaign,
        items=revokes,
        decision="revoke",
        justification="accept recommendations",
        actor=personas["manager"],
    )
    assert count == revokes.count() > 0
    assert set(revokes.values_list("decision", "decided_in_bulk")) == {("revoke", True)}
    events = AuditEvent.objects.filter(action="reviews.item_decided")
    assert events.count() == count and all(e.after["bulk"] for e in events)
    # Keeping a selection with high-risk items needs a justification.
    with pytest.raises(services.ReviewError, match="high-risk"):
        services.decide_bulk(
            campaign=campaign, items=mine, decision="keep", justification="", actor=personas["manager"]
        )


def test_a_double_submitted_bulk_decision_is_written_once(campaign, personas):
    revokes = _mine(campaign).filter(recommendation="revoke")
    n = revokes.count()
    decide = dict(campaign=campaign, decision="revoke", justification="unused", actor=personas["manager"])
    assert services.decide_bulk(items=revokes, **decide) == n > 0
    assert services.decide_bulk(items=revokes, **decide) == 0
    assert set(revokes.values_list("version", flat=True)) == {1}
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == n
    # A different justification is a change, and is recorded.
    assert services.decide_bulk(items=revokes, **{**decide, "justification": "unused for a year"}) == n
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == 2 * n


@pytest.mark.django_db(transaction=True)
def test_two_identical_bulk_decisions_at_once_write_it_once(campaign, personas):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time; the race needs PostgreSQL's row locks")
    from governance.audit.verify import verify_chain

    revokes = _mine(campaign).filter(recommendation="revoke")
    n = revokes.count()
    start = threading.Barrier(2)
    counts, errors = [], []

    def submit():
        try:
            start.wait()
            counts.append(
                services.decide_bulk(
                    campaign=campaign,
                    items=revokes.all(),
                    decision="revoke",
                    justification="unused",
                    actor=personas["manager"],
                )
            )
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
    assert sorted(counts) == [0, n]
    assert set(revokes.values_list("decision", "version")) == {("revoke", 1)}
    assert AuditEvent.objects.filter(action="reviews.item_decided").count() == n
    assert verify_chain().intact


def test_bulk_never_touches_items_about_the_reviewer(campaign, personas):
    fallback_items = ReviewItem.objects.filter(campaign=campaign, self_review_rerouted=True)
    assert (
        services.decide_bulk(
            campaign=campaign, items=fallback_items, decision="keep", justification="x", actor=personas["manager"]
        )
        == 0
    )


def test_delegation_refuses_oneself_and_people_without_an_account(campaign, personas):
    mine = _mine(campaign)
    with pytest.raises(services.ReviewError, match="someone else"):
        services.delegate_items(campaign=campaign, items=mine, to_email=MARIA, reason="x", actor=personas["manager"])
    with pytest.raises(services.ReviewError, match="no portal account"):
        services.delegate_items(
            campaign=campaign, items=mine, to_email="nobody@example.com", reason="x", actor=personas["manager"]
        )
    with pytest.raises(services.ReviewError, match="why"):
        services.delegate_items(
            campaign=campaign, items=mine, to_email="arthur.auditor@example.com", reason="", actor=personas["manager"]
        )
    assert mine.count() == 6


def test_delegation_cannot_route_an_item_back_to_the_person_it_is_about(campaign, personas, review_inventory):
    # Rick's own assignment is in maria's inbox; delegating it to rick would be a self-review.
    rick_item = _mine(campaign).filter(source_id=review_inventory.rick_assignment.pk, kind=ItemKind.SSO_ASSIGNMENT)
    with pytest.raises(services.ReviewError, match="own access"):
        services.delegate_items(
            campaign=campaign,
            items=rick_item,
            to_email="rick.requester@example.com",
            reason="his",
            actor=personas["manager"],
        )
    # Known by his Identity Center user alone (no e-mail copied onto the item): still refused.
    assert rick_item.update(principal_email="") == 1
    assert rick_item.get().principal_arn == review_inventory.inventory.sso_users["requester"].arn
    with pytest.raises(services.ReviewError, match="own access"):
        services.delegate_items(
            campaign=campaign, items=rick_item, to_email="rick.requester@example.com", reason="his",
            actor=personas["manager"],
        )  # fmt: skip
    assert rick_item.get().reviewer_email == MARIA


def test_delegated_items_move_with_the_reason(campaign, personas):
    mine = _mine(campaign).filter(kind=ItemKind.ROLE_TRUST)
    moved = services.delegate_items(
        campaign=campaign,
        items=mine,
        to_email="arthur.auditor@example.com",
        reason="he runs it",
        actor=personas["manager"],
    )
    item = ReviewItem.objects.get(campaign=campaign, kind=ItemKind.ROLE_TRUST)
    assert moved == 1 and (item.reviewer_email, item.delegated_from) == ("arthur.auditor@example.com", MARIA)


def _decide_all(campaign, user):
    for item in ReviewItem.objects.filter(campaign=campaign, reviewer_email=user.email):
        services.decide_item(item_id=item.pk, decision="revoke", justification="not needed", actor=user)


def test_sign_off_needs_every_item_decided_then_locks_them(campaign, personas):
    maria = personas["manager"]
    with pytest.raises(services.ReviewError, match="undecided"):
        services.sign_off(campaign=campaign, actor=maria, mfa_methods=["mfa"])
    _decide_all(campaign, maria)
    signoff = services.sign_off(campaign=campaign, actor=maria, mfa_methods=["pwd", "mfa"])
    assert signoff.items == 6 and signoff.statement == campaign.attestation
    assert set(_mine(campaign).values_list("locked", flat=True)) == {True}
    item = _mine(campaign).first()
    with pytest.raises(services.ReviewError, match="locked"):
        services.decide_item(item_id=item.pk, decision="keep", justification="x", actor=maria)
    with pytest.raises(services.ReviewError, match="already signed"):
        services.sign_off(campaign=campaign, actor=maria, mfa_methods=["mfa"])


def test_close_applies_the_default_and_queues_revokes(campaign, personas):
    _decide_all(campaign, personas["manager"])
    result = services.close_campaign(campaign=campaign, actor=personas["campaign_admin"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    items = ReviewItem.objects.filter(campaign=campaign)
    assert result == {"defaulted": items.filter(defaulted_at_close=True).count(), "revokes": 6}
    assert set(items.filter(defaulted_at_close=True).values_list("decision", "flagged")) == {("keep", True)}
    revokes = items.filter(decision="revoke")
    assert set(revokes.exclude(kind="role_trust").values_list("remediation_status", flat=True)) == {"awaiting_approval"}
    assert set(revokes.filter(kind="role_trust").values_list("remediation_status", flat=True)) <= {"manual"}
    assert services.close_campaign(campaign=campaign, actor=None) == {"defaulted": 0, "revokes": 0}
    item = items.filter(reviewer_email=MARIA).first()
    with pytest.raises(services.ReviewError, match="closed"):
        services.decide_item(item_id=item.pk, decision="revoke", justification="x", actor=personas["manager"])


def test_the_last_signature_closes_the_campaign(campaign, personas, django_user_model):
    sam = django_user_model.objects.create(username="sam.security", email="sam.security@example.com")
    for user in (personas["manager"], sam):
        _decide_all(campaign, user)
        services.sign_off(campaign=campaign, actor=user, mfa_methods=["mfa"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED and SignOff.objects.filter(campaign=campaign).count() == 2
