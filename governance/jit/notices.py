"""Who is told what, and when: the requests' and grants' notifications.

Each function is called from a service inside its transaction and queues its messages there
(`governance.notify.notify`), so a rolled-back change tells nobody and delivery happens after the
commit, with the notification app's retries. A dedupe key per event and object means a task
delivered twice, or a retry, tells nobody twice.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from governance.notify.services import notify


def _send(event: str, *, recipients: list[Any], subject: str, message: str, link: str, key: str) -> None:
    people = [u for u in recipients if getattr(u, "email", "")]
    if people:
        notify(
            event=event,
            recipients=people,
            context={"subject": subject, "message": message, "link": link},
            dedupe_key=key,
        )


def _access(r: Any) -> str:
    return f"{r.permission_set.name} on {r.account.name} ({r.account.account_id})"


def approvers_asked(access_request: Any, approvers: list[Any]) -> None:
    what = "more time on" if access_request.kind == "extension" else "access to"
    _send(
        "jit.request.submitted",
        recipients=approvers,
        subject=f"Access request #{access_request.pk} waits for your decision",
        message=(
            f"{access_request.requester_name} asks for {what} {_access(access_request)} for "
            f"{access_request.duration_minutes} minutes.\n\nWhy: {access_request.justification}"
            + (f"\nTicket: {access_request.ticket}" if access_request.ticket else "")
        ),
        link=reverse("jit:review", args=[access_request.pk]),
        key=f"jit.request.submitted:{access_request.pk}",
    )


def requester_told(access_request: Any, what: str) -> None:
    _send(
        "jit.request.update",
        recipients=[access_request.requester],
        subject=f"Access request #{access_request.pk}: {what}",
        message=f"Your request for {_access(access_request)}: {what}.",
        link=reverse("jit:request", args=[access_request.pk]),
        key=f"jit.request.update:{access_request.pk}:{what[:80]}",
    )


def break_glass_used(access_request: Any, everyone: list[Any]) -> None:
    _send(
        "jit.break_glass",
        recipients=everyone,
        subject=f"BREAK-GLASS: {access_request.requester_name} took {access_request.permission_set.name}",
        message=(
            f"{access_request.requester_name} used break-glass access: {_access(access_request)} for "
            f"{access_request.duration_minutes} minutes, self-approved.\n\nJustification: "
            f"{access_request.justification}\n\nIt will be reviewed after the fact."
        ),
        link=reverse("jit:history"),
        key=f"jit.break_glass:{access_request.pk}",
    )


def admins_alerted(grant: Any, admins: list[Any], what: str, *, key: str) -> None:
    _send(
        "jit.grant.problem",
        recipients=admins,
        subject=f"Just-in-time grant #{grant.pk}: {what[:120]}",
        message=f"Grant #{grant.pk} ({grant.permission_set.name} on {grant.account.account_id}): {what}",
        link=reverse("admin:jit_grant_change", args=[grant.pk]),
        key=f"jit.grant.problem:{grant.pk}:{key}",
    )


def admins_alerted_request(access_request: Any, admins: list[Any]) -> None:
    _send(
        "jit.request.unroutable",
        recipients=admins,
        subject=f"Access request #{access_request.pk} has nobody to decide it",
        message=(
            f"{access_request.policy.name} routes request #{access_request.pk} ({_access(access_request)}) to "
            "approvers the portal cannot find: no linked portal user in the approver group, or no owner on "
            "the account."
        ),
        link=reverse("admin:jit_accessrequest_change", args=[access_request.pk]),
        key=f"jit.request.unroutable:{access_request.pk}",
    )
