"""What the dashboard shows: who you are as the IdP said, and what the portal knows of AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe

from governance.authz import mfa
from governance.authz.capabilities import Capabilities, Capability, visible_accounts
from governance.inventory.models import OrganizationalUnit, SyncRun, SyncStatus


@dataclass(frozen=True)
class IdpIdentity:
    provider: str
    subject: str
    email: str
    name: str
    amr: tuple[str, ...]
    mfa_fresh: bool


@dataclass(frozen=True)
class OrgSummary:
    accounts: int
    organizational_units: int | None
    principals: int | None
    scope: str
    last_run: SyncRun | None
    last_success: SyncRun | None

    @property
    def empty(self) -> bool:
        return self.last_success is None


def idp_identity(request: HttpRequest) -> IdpIdentity:
    user = request.user
    return IdpIdentity(
        provider=request.session.get(mfa.SESSION_PROVIDER, ""),
        subject=request.session.get(mfa.SESSION_SUBJECT, ""),
        email=user.email,
        name=user.get_full_name(),
        amr=tuple(mfa.session_amr(request)),
        mfa_fresh=mfa.is_fresh(request),
    )


def org_summary(user: Any, caps: Capabilities) -> OrgSummary:
    """Counts scoped to what the user may see; a manager sees the accounts they own."""
    sees_all = caps.has(Capability.INVENTORY_VIEW_ALL)
    accounts = visible_accounts(user).count() if caps.has(Capability.INVENTORY_VIEW) else 0
    runs = SyncRun.objects.order_by("-started_at", "-id")
    last_success = runs.filter(status__in=[SyncStatus.SUCCEEDED, SyncStatus.PARTIAL]).first()
    # The principals table is the big one: its size comes from the last sync's counts, not COUNT(*).
    principals = (last_success.counts or {}).get("principals") if last_success is not None else None
    return OrgSummary(
        accounts=accounts,
        organizational_units=OrganizationalUnit.objects.present().filter(is_root=False).count() if sees_all else None,
        principals=principals if sees_all else None,
        scope="organization" if sees_all else "owned",
        last_run=runs.first(),
        last_success=last_success,
    )


@dataclass(frozen=True)
class Card:
    """A card a feature app adds to the dashboard (register from AppConfig.ready).

    `context` is a dotted path to `f(request) -> dict | None`; None shows nothing (the user may not
    see it). The card's template renders with that context plus `request`.
    """

    key: str
    template: str
    context: str
    order: int = 100


_CARDS: dict[str, Card] = {}


def register_card(card: Card) -> None:
    """Add a card (idempotent: the same key replaces the earlier one)."""
    _CARDS[card.key] = card


def render_cards(request: HttpRequest) -> SafeString:
    parts = []
    for card in sorted(_CARDS.values(), key=lambda c: (c.order, c.key)):
        context = import_string(card.context)(request)
        if context is not None:
            parts.append(render_to_string(card.template, context, request=request))
    return mark_safe("".join(parts))  # noqa: S308 - each part is a template rendered with auto-escaping
