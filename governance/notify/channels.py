"""Delivery channels: e-mail now; webhook channels (Slack, Teams) plug in through the registry.

A channel is a class with a `name`, `per_recipient` and two methods:

- `targets(recipients)`: the addresses this channel sends one event to. A per-person channel
  (e-mail) answers the recipients' addresses; a broadcast channel (a team's webhook) ignores the
  people and answers its configured target names, so one event is one post.
- `deliver(notification)`: send one queued row; raise `DeliveryError` (or anything) to fail it,
  and the task retries with back-off.

    register_channel("slack", "governance.ops.notify_channels.SlackChannel")

Which channels an event goes to comes from the `NOTIFY_CHANNELS` setting (default: e-mail).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string


class DeliveryError(RuntimeError):
    """A channel could not deliver one notification; the reason is kept on the row."""


@dataclass(frozen=True)
class Recipient:
    address: str
    user_id: int | None = None
    name: str = ""


class Channel:
    name = ""
    per_recipient = True

    def targets(self, recipients: Iterable[Recipient]) -> list[Recipient]:
        return [r for r in recipients if r.address]

    def targets_for(self, event: str, recipients: Iterable[Recipient]) -> list[Recipient]:
        """The targets of one event; a channel that routes by event type overrides this."""
        return self.targets(recipients)

    def deliver(self, notification) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class EmailChannel(Channel):
    """Django's mail backend (console in the demo, SMTP in production: `EMAIL_*` settings)."""

    name = "email"

    def targets(self, recipients: Iterable[Recipient]) -> list[Recipient]:
        return [r for r in recipients if "@" in r.address]

    def deliver(self, notification) -> None:
        message = EmailMessage(
            subject=notification.subject,
            body=notification.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.recipient],
            headers={"X-Governance-Event": notification.event},
        )
        if message.send() != 1:
            raise DeliveryError("The mail backend accepted no message.")


_REGISTRY: dict[str, str] = {}
_INSTANCES: dict[str, Channel] = {}


def register_channel(name: str, dotted_path: str) -> None:
    """Make a channel available under `name` (idempotent; the last registration wins)."""
    _REGISTRY[name] = dotted_path
    _INSTANCES.pop(name, None)


def get_channel(name: str) -> Channel:
    if name not in _REGISTRY:
        raise KeyError(f"No notification channel named {name!r}; registered: {', '.join(sorted(_REGISTRY))}.")
    if name not in _INSTANCES:
        _INSTANCES[name] = import_string(_REGISTRY[name])()
    return _INSTANCES[name]


def registered() -> list[str]:
    return sorted(_REGISTRY)


def enabled() -> list[str]:
    """The channels every event goes to (`NOTIFY_CHANNELS`), those registered."""
    return [name for name in getattr(settings, "NOTIFY_CHANNELS", ["email"]) if name in _REGISTRY]
