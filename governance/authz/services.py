"""State changes of the authz app: linking portal users to their Identity Center users."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.audit.services import record
from governance.authz.linking import LinkFacts, MatchedOn, matching_users
from governance.authz.models import IdentityLink, LinkStatus, User


@transaction.atomic
def link_user(*, user: User, facts: LinkFacts | None = None, actor: Any = None) -> IdentityLink:
    """Link `user` to the one Identity Center user the IdP-vouched facts match; none or several link nothing.

    `facts` come from a sign-in (`linking.facts_from_sociallogin`) and are stored on the link;
    without them (the re-link after a sync) the stored facts are used again. A break-glass user
    is never linked. Audited only when the outcome changes (a new link, a different user, a link
    lost), so logging in and syncing do not flood the audit log. `actor` is the user at login,
    None (the system) after a sync.
    """
    link = IdentityLink.objects.select_for_update().filter(user=user).first()
    if facts is None:
        facts = (
            LinkFacts(
                provider=link.provider,
                verified_email=link.verified_email,
                external_issuer=link.external_issuer,
                external_id=link.external_id,
            )
            if link is not None
            else LinkFacts()
        )
    matched_on = MatchedOn.NONE
    if user.break_glass_until is not None:
        status, matches = LinkStatus.BREAK_GLASS, []
    else:
        matches, rule = matching_users(facts)
        if len(matches) == 1:
            status, matched_on = LinkStatus.LINKED, rule
        elif matches:
            status = LinkStatus.AMBIGUOUS
        elif rule == MatchedOn.NONE:
            status = LinkStatus.UNVERIFIED
        else:
            status = LinkStatus.MISSING
    match = matches[0] if status == LinkStatus.LINKED else None
    values = {
        "status": status,
        "principal_arn": match.arn if match else "",
        "aws_user_name": match.user_name if match else "",
        "aws_email": match.email if match else "",
        "candidates": [p.arn for p in matches] if status == LinkStatus.AMBIGUOUS else [],
        "checked_at": timezone.now(),
        "provider": facts.provider,
        "verified_email": facts.verified_email,
        "external_issuer": facts.external_issuer,
        "external_id": facts.external_id,
        "matched_on": matched_on,
    }
    if link is None:
        before = None
        link = IdentityLink.objects.create(user=user, **values)
    else:
        before = _audited(link)
        for name, value in values.items():
            setattr(link, name, value)
        link.save(update_fields=list(values))
    after = _audited(link)
    if before != after:
        record(actor=actor, action="authz.link.changed", obj=link, before=before, after=after)
    return link


def _audited(link: IdentityLink) -> dict:
    return {
        "status": link.status,
        "principal_arn": link.principal_arn,
        "candidates": link.candidates,
        "matched_on": link.matched_on,
        "fact": link.external_id if link.matched_on == MatchedOn.EXTERNAL_ID else link.verified_email,
    }


def link_all_users(*, actor: Any = None) -> dict[str, int]:
    """Re-link every active portal user (after a sync that changed Identity Center: `tasks.relink_after_sync`).

    Returns how many ended in each status.
    """
    counts = {str(s): 0 for s in LinkStatus}
    for user in User.objects.filter(is_active=True, break_glass_until__isnull=True).iterator():
        with transaction.atomic():
            link = link_user(user=user, actor=actor)
        counts[str(link.status)] += 1
    return counts
