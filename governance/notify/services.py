"""`notify()`: the one way the portal tells people something happened.

Services call it inside their own transaction: the rows are written with the caller's change
(so a rolled-back launch e-mails nobody) and delivery is queued on commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string, select_template
from django.utils import timezone

from governance.notify import channels
from governance.notify.channels import Recipient
from governance.notify.models import DeliveryStatus, Notification

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
_SUBJECT_LIMIT = Notification._meta.get_field("subject").max_length


class NotifyError(ValueError):
    """notify() was called with something it cannot queue; nothing was queued."""


def _recipient(value: Any) -> Recipient:
    if isinstance(value, Recipient):
        return value
    if isinstance(value, str):
        return Recipient(address=value.strip())
    if getattr(value, "pk", None) is not None and hasattr(value, "email"):
        name = value.get_full_name() if hasattr(value, "get_full_name") else ""
        return Recipient(address=(value.email or "").strip(), user_id=value.pk, name=name or value.get_username())
    raise NotifyError(f"A recipient must be a user, an e-mail address or a Recipient, not {type(value).__name__}.")


def _templates(channel: str, event: str, part: str) -> list[str]:
    suffix = "_subject.txt" if part == "subject" else ".txt"
    names = [f"notify/{channel}/{event}{suffix}", f"notify/email/{event}{suffix}"]
    return [*names, f"notify/{channel}/default{suffix}", f"notify/email/default{suffix}"]


def render(*, channel: str, event: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of one message; templates `notify/<channel>/<event>[_subject].txt`."""
    try:
        subject = render_to_string(select_template(_templates(channel, event, "subject")).template.name, context)
        body = render_to_string(select_template(_templates(channel, event, "body")).template.name, context)
    except TemplateDoesNotExist as exc:  # pragma: no cover - the defaults ship with the app
        raise NotifyError(f"No template for {event} on {channel}: {exc}") from exc
    subject = " ".join(subject.split())
    if len(subject) > _SUBJECT_LIMIT:
        subject = subject[: _SUBJECT_LIMIT - 1] + "…"
    return subject, body.strip() + "\n"


def notify(
    *,
    event: str,
    recipients: Iterable[Any],
    context: dict[str, Any] | None = None,
    dedupe_key: str = "",
    channel_names: Sequence[str] | None = None,
) -> list[int]:
    """Queue `event` for `recipients` (users, e-mail addresses) on every enabled channel.

    `context` is what the templates see (plus `recipient_name` and `portal_url`); it is stored
    with each row as JSON, so keep it to plain values. With `dedupe_key`, a second call with the
    same key queues nothing for a (channel, recipient) that already has it. Returns the ids
    queued; delivery runs after the caller's transaction commits.
    """
    if not event or len(event) > 64:
        raise NotifyError("event must be a name of at most 64 characters.")
    base = dict(context or {})
    try:
        stored_context = json.loads(json.dumps(base, cls=DjangoJSONEncoder))
    except TypeError as exc:
        raise NotifyError(f"context is not JSON-serializable: {exc}") from exc
    unique: dict[str, Recipient] = {}
    for person in map(_recipient, recipients):
        if person.address:
            unique.setdefault(person.address.lower(), person)
    people = list(unique.values())
    names = list(channel_names) if channel_names is not None else channels.enabled()
    now = timezone.now()
    rows = []
    for name in names:
        channel = channels.get_channel(name)
        for target in channel.targets_for(event, people):
            subject, body = render(
                channel=name,
                event=event,
                context={**base, "recipient_name": target.name, "portal_url": settings.PORTAL_BASE_URL},
            )
            rows.append(
                Notification(
                    event=event,
                    channel=name,
                    recipient=target.address,
                    user_id=target.user_id,
                    subject=subject,
                    body=body,
                    context=stored_context,
                    dedupe_key=dedupe_key,
                    created_at=now,
                )
            )
    if not rows:
        return []
    with transaction.atomic():
        if dedupe_key:
            seen = set(
                Notification.objects.filter(dedupe_key=dedupe_key, channel__in=names).values_list(
                    "channel", "recipient"
                )
            )
            rows = [r for r in rows if (r.channel, r.recipient) not in seen]
        created = Notification.objects.bulk_create(rows, ignore_conflicts=bool(dedupe_key))
        ids = [row.pk for row in created if row.pk is not None]
        if dedupe_key and len(ids) < len(created):  # ignore_conflicts returns no ids on some backends
            ids = list(
                Notification.objects.filter(
                    dedupe_key=dedupe_key, status=DeliveryStatus.PENDING, created_at=now
                ).values_list("pk", flat=True)
            )
        transaction.on_commit(lambda: _queue_delivery(ids))
    return ids


def _queue_delivery(ids: list[int]) -> None:
    if not ids:
        return
    if getattr(settings, "NOTIFY_DELIVER_INLINE", False):
        deliver(ids=ids)
        return
    from django_q.tasks import async_task

    async_task("governance.notify.tasks.deliver_notifications", ids=ids)


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** (attempts - 1), 240))


def deliver(*, ids: Iterable[int] | None = None, limit: int = 500) -> dict[str, int]:
    """Send queued rows (these ids, or whatever is due): each row once, failures retried later.

    A row is claimed with SELECT .. FOR UPDATE SKIP LOCKED, so two workers never send one twice;
    a sent row is never sent again, which makes the task safe to run more than once.
    """
    now = timezone.now()
    sent = failed = 0
    queryset = Notification.objects.due(now)
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    pks = list(queryset.order_by("id").values_list("pk", flat=True)[:limit])
    for pk in pks:
        with transaction.atomic():
            row = Notification.objects.select_for_update(skip_locked=True).due(now).filter(pk=pk).first()
            if row is None:
                continue
            row.attempts += 1
            try:
                channels.get_channel(row.channel).deliver(row)
            except Exception as exc:
                logger.warning("notification %s to %s failed: %s", row.pk, row.recipient, exc)
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.status = DeliveryStatus.GAVE_UP if row.attempts >= MAX_ATTEMPTS else DeliveryStatus.FAILED
                row.next_attempt_at = now + _backoff(row.attempts)
                failed += 1
            else:
                row.status, row.sent_at, row.error, row.next_attempt_at = DeliveryStatus.SENT, now, "", None
                sent += 1
            row.save(update_fields=["attempts", "status", "sent_at", "error", "next_attempt_at"])
    return {"sent": sent, "failed": failed}
