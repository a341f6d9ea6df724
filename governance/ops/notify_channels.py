"""Slack and Microsoft Teams incoming webhooks as notification channels, routed by event type.

`NOTIFY_WEBHOOKS` names each webhook, its kind, URL and the events it wants (fnmatch patterns):

    NOTIFY_WEBHOOKS='{"security": {"kind": "slack", "url": "https://hooks.slack.com/services/…",
                                   "events": ["jit.*", "reviews.campaign_*"]},
                      "auditors": {"kind": "teams", "url": "https://….webhook.office.com/…", "events": ["*"]}}'
    NOTIFY_CHANNELS=email,slack,teams

An event is one post per matching webhook (not one per person). The row stores the webhook's name,
never its URL (a secret), which is read from the setting when the post is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

import requests
from django.conf import settings

from governance.notify.channels import Channel, DeliveryError, Recipient


class WebhookChannel(Channel):
    kind = ""
    per_recipient = False

    def _webhooks(self) -> dict[str, dict[str, Any]]:
        return {name: hook for name, hook in settings.NOTIFY_WEBHOOKS.items() if hook.get("kind") == self.kind}

    def targets(self, recipients: Iterable[Recipient]) -> list[Recipient]:
        return [Recipient(address=name, name=name) for name in self._webhooks()]

    def targets_for(self, event: str, recipients: Iterable[Recipient]) -> list[Recipient]:
        return [
            Recipient(address=name, name=name)
            for name, hook in self._webhooks().items()
            if any(fnmatchcase(event, pattern) for pattern in hook.get("events", ["*"]))
        ]

    def payload(self, notification) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def deliver(self, notification) -> None:
        hook = self._webhooks().get(notification.recipient)
        if hook is None:
            raise DeliveryError(f"No {self.kind} webhook named {notification.recipient!r} in NOTIFY_WEBHOOKS any more.")
        try:
            response = requests.post(hook["url"], json=self.payload(notification), timeout=settings.EMAIL_TIMEOUT)
        except requests.RequestException as exc:
            raise DeliveryError(f"The {self.kind} webhook {notification.recipient!r} cannot be reached: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryError(
                f"The {self.kind} webhook {notification.recipient!r} answered {response.status_code}: "
                f"{response.text[:200]}"
            )


class SlackChannel(WebhookChannel):
    name = kind = "slack"

    def payload(self, notification) -> dict[str, Any]:
        return {
            "text": notification.subject,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": notification.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": notification.body[:2900]}},
            ],
        }


class TeamsChannel(WebhookChannel):
    name = kind = "teams"

    def payload(self, notification) -> dict[str, Any]:
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": notification.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                {"type": "TextBlock", "text": notification.body, "wrap": True},
            ],
        }
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }
