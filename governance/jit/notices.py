"""Who is told what, and when: the requests' and grants' notifications.

Each function is called from a service inside its transaction and sends after the commit, so a
rolled-back change tells nobody. Delivery goes through the portal's notification app when it is
installed; until then the notice is logged, so nothing here can fail a service.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def _send(kind: str, *, recipients: list[Any], subject: str, body: str, obj: Any = None) -> None:
    emails = sorted({getattr(u, "email", "") for u in recipients if getattr(u, "email", "")})

    def deliver() -> None:
        logger.info("jit notice %s to %s: %s", kind, ", ".join(emails) or "nobody", subject)

    transaction.on_commit(deliver)


def approvers_asked(access_request: Any, approvers: list[Any]) -> None:
    _send(
        "jit.request.submitted",
        recipients=approvers,
        subject=f"Access request #{access_request.pk} waits for your decision",
        body=(
            f"{access_request.requester_name} asks for {access_request.permission_set.name} on "
            f"{access_request.account.name} ({access_request.account.account_id}) for "
            f"{access_request.duration_minutes} minutes: {access_request.justification}"
        ),
        obj=access_request,
    )


def requester_told(access_request: Any, what: str) -> None:
    _send(
        "jit.request.decided",
        recipients=[access_request.requester],
        subject=f"Access request #{access_request.pk}: {what}",
        body=f"{access_request.permission_set.name} on {access_request.account.name}: {what}.",
        obj=access_request,
    )


def break_glass_used(access_request: Any, everyone: list[Any]) -> None:
    _send(
        "jit.break_glass",
        recipients=everyone,
        subject=f"BREAK-GLASS: {access_request.requester_name} took {access_request.permission_set.name}",
        body=(
            f"{access_request.requester_name} used break-glass access: {access_request.permission_set.name} on "
            f"{access_request.account.name} ({access_request.account.account_id}). Justification: "
            f"{access_request.justification}"
        ),
        obj=access_request,
    )


def admins_alerted(grant: Any, admins: list[Any], what: str) -> None:
    _send(
        "jit.grant.problem",
        recipients=admins,
        subject=f"Just-in-time grant #{grant.pk}: {what}",
        body=f"Grant #{grant.pk} ({grant.permission_set.name} on {grant.account.account_id}): {what}",
        obj=grant,
    )


def admins_alerted_request(access_request: Any, admins: list[Any]) -> None:
    _send(
        "jit.request.unroutable",
        recipients=admins,
        subject=f"Access request #{access_request.pk} has nobody to decide it",
        body=(
            f"{access_request.policy.name} routes request #{access_request.pk} to approvers the portal cannot find "
            "(no linked portal user in the approver group, or no owner on the account)."
        ),
        obj=access_request,
    )
