"""Reads over findings, scoped to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from governance.authz.capabilities import Capability, capabilities, visible_accounts, visible_principals
from governance.findings.models import Finding


def visible_findings(user: Any) -> QuerySet:
    """Findings the user may see: all with inventory.view_all; an owner sees those on what they own."""
    caps = capabilities(user)
    if not caps.has(Capability.FINDINGS_VIEW):
        return Finding.objects.none()
    if caps.has(Capability.INVENTORY_VIEW_ALL):
        return Finding.objects.all()
    from django.db.models import Q

    return Finding.objects.filter(Q(account__in=visible_accounts(user)) | Q(principal__in=visible_principals(user)))


def account_panel(request, account) -> dict | None:
    return None


def principal_panel(request, principal) -> dict | None:
    return None
