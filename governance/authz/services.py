"""State changes of the authz app: linking portal users to their Identity Center users."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit.services import record
from governance.authz.models import IdentityLink, LinkStatus, User


def find_identity_center_users(*, username: str, email: str) -> list[Any]:
    """Present Identity Center users whose user name or primary e-mail matches, ignoring case."""
    from governance.inventory.models import Principal, PrincipalKind

    query = Q()
    for value in {username.strip(), email.strip()} - {""}:
        query |= Q(user_name__iexact=value)
    if email.strip():
        query |= Q(email__iexact=email.strip())
    if not query:
        return []
    return list(
        Principal.objects.present()
        .filter(query, kind=PrincipalKind.SSO_USER)
        .order_by("arn")
        .only("pk", "arn", "user_name", "email")
    )


@transaction.atomic
def link_user(*, user: User, actor: Any = None) -> IdentityLink:
    """Link `user` to the one Identity Center user that matches them; none or several link nothing.

    Audited only when the outcome changes (a new link, a different user, a link lost), so logging
    in and syncing do not flood the audit log. `actor` is the user at login, None (the system)
    after a sync.
    """
    matches = find_identity_center_users(username=user.username, email=user.email)
    if len(matches) == 1:
        status, match, candidates = LinkStatus.LINKED, matches[0], []
    else:
        status = LinkStatus.MISSING if not matches else LinkStatus.AMBIGUOUS
        match, candidates = None, [p.arn for p in matches]
    values = {
        "status": status,
        "principal_arn": match.arn if match else "",
        "aws_user_name": match.user_name if match else "",
        "aws_email": match.email if match else "",
        "candidates": candidates,
        "checked_at": timezone.now(),
    }
    link = IdentityLink.objects.select_for_update().filter(user=user).first()
    if link is None:
        before = None
        link = IdentityLink.objects.create(user=user, **values)
    else:
        before = {"status": link.status, "principal_arn": link.principal_arn, "candidates": link.candidates}
        for name, value in values.items():
            setattr(link, name, value)
        link.save(update_fields=list(values))
    after = {"status": link.status, "principal_arn": link.principal_arn, "candidates": link.candidates}
    if before != after:
        record(actor=actor, action="authz.link.changed", obj=link, before=before, after=after)
    return link


def link_all_users(*, actor: Any = None) -> dict[str, int]:
    """Re-link every active portal user (after each sync); returns how many ended in each status."""
    counts = {str(s): 0 for s in LinkStatus}
    for user in User.objects.filter(is_active=True, break_glass_until__isnull=True).iterator():
        link = link_user(user=user, actor=actor)
        counts[str(link.status)] += 1
    return counts
