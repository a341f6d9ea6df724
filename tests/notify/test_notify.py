"""notify(): rendered rows written with the caller's change, delivered once, retried with back-off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from governance.notify import channels, services
from governance.notify.channels import Channel, DeliveryError, Recipient
from governance.notify.models import DeliveryStatus, Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create(
        username="alice", email="alice@example.com", first_name="Alice", last_name="Example"
    )


def test_it_renders_and_sends_an_email_per_recipient(alice, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_DELIVER_INLINE = True
    with django_capture_on_commit_callbacks(execute=True):
        ids = services.notify(
            event="test.hello",
            recipients=[alice, "bob@example.com", "BOB@example.com", ""],
            context={"subject": "Quarterly review", "message": "Please <decide>.", "link": "/reviews/"},
        )
    assert len(ids) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    to_alice = next(m for m in mail.outbox if m.to == ["alice@example.com"])
    assert to_alice.subject == "[Governance portal] Quarterly review"
    assert "Hello Alice Example" in to_alice.body
    assert "Please <decide>." in to_alice.body  # plain text: not HTML-escaped
    assert "http://127.0.0.1:8000/reviews/" in to_alice.body
    assert to_alice.extra_headers["X-Governance-Event"] == "test.hello"
    row = Notification.objects.get(recipient="alice@example.com")
    assert row.status == DeliveryStatus.SENT and row.user == alice and row.attempts == 1


def test_nothing_is_sent_when_the_callers_transaction_rolls_back(alice, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_DELIVER_INLINE = True

    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Boom), transaction.atomic():
        services.notify(event="test.hello", recipients=[alice])
        raise Boom
    assert not Notification.objects.exists() and mail.outbox == []


def test_a_dedupe_key_queues_each_recipient_once(alice):
    first = services.notify(event="test.reminder", recipients=[alice], dedupe_key="reminder:1:2026-12-02")
    again = services.notify(
        event="test.reminder", recipients=[alice, "carol@example.com"], dedupe_key="reminder:1:2026-12-02"
    )
    assert len(first) == 1 and len(again) == 1
    assert Notification.objects.count() == 2


def test_delivery_is_idempotent(alice):
    ids = services.notify(event="test.hello", recipients=[alice])
    assert services.deliver(ids=ids) == {"sent": 1, "failed": 0}
    assert services.deliver(ids=ids) == {"sent": 0, "failed": 0}
    assert len(mail.outbox) == 1


class FlakyChannel(Channel):
    name = "flaky"
    per_recipient = False
    calls = 0

    def targets(self, recipients):
        return [Recipient(address="#security-team")]

    def deliver(self, notification):
        FlakyChannel.calls += 1
        if FlakyChannel.calls == 1:
            raise DeliveryError("webhook answered 503")


def test_a_broadcast_channel_plugs_in_and_failures_back_off(alice, settings):
    channels.register_channel("flaky", "tests.notify.test_notify.FlakyChannel")
    settings.NOTIFY_CHANNELS = ["email", "flaky"]
    FlakyChannel.calls = 0
    ids = services.notify(event="test.hello", recipients=[alice, "bob@example.com"])
    assert len(ids) == 3  # two e-mails, one post to the team's channel
    assert services.deliver() == {"sent": 2, "failed": 1}
    post = Notification.objects.get(channel="flaky")
    assert post.status == DeliveryStatus.FAILED and "503" in post.error and post.next_attempt_at > timezone.now()
    assert services.deliver() == {"sent": 0, "failed": 0}  # not yet due
    Notification.objects.filter(pk=post.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.deliver() == {"sent": 1, "failed": 0}


def test_bad_input_queues_nothing(alice):
    with pytest.raises(services.NotifyError):
        services.notify(event="", recipients=[alice])
    with pytest.raises(services.NotifyError):
        services.notify(event="test.hello", recipients=[42])
    with pytest.raises(services.NotifyError):
        services.notify(event="test.hello", recipients=[alice], context={"when": object()})
    assert not Notification.objects.exists()
