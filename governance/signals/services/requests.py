"""A person asking for a refresh of AWS's signals now: audited, queued once the request commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django_q.tasks import async_task

from governance.audit.services import record
from governance.signals.models import Source


class UnknownSource(ValueError):
    """A source name the portal does not read."""


def request_refresh(*, sources: Iterable[str], actor: Any, request: Any = None) -> list[str]:
    """Queue a forced refresh of `sources` (asking again even an endpoint that lacked the API)."""
    wanted = list(dict.fromkeys(sources))
    unknown = [s for s in wanted if s not in Source.values]
    if unknown or not wanted:
        raise UnknownSource(
            f"Unknown source: {', '.join(unknown) or '(none given)'}; one of {', '.join(Source.values)}."
        )
    with transaction.atomic():
        record(
            actor=actor,
            action="signals.refresh_requested",
            object_type="signals.sourcestatus",
            object_id="",
            object_repr="AWS signals refresh",
            after={"sources": wanted},
            request=request,
        )
        transaction.on_commit(lambda: async_task("governance.signals.tasks.refresh", sources=wanted, force=True))
    return wanted
