"""Reads for the organization-policy pages: the tree with each node's SCPs and RCPs, an account's chain."""

from __future__ import annotations

from typing import Any

from governance.authz.capabilities import get_object_for_user_or_404, visible_accounts
from governance.inventory import selectors as inventory
from governance.inventory.models import Account, Policy, PolicyKind
from governance.inventory.models.org import ORG_POLICY_KINDS
from governance.scp.effective import Chain, chain_for


def org_tree(user: Any) -> Any:
    """The inventory's tree (root → OUs → accounts with their attachments, a few queries), each
    attachment marked SCP or RCP, and the organization's policy counts by kind."""
    tree = inventory.org_tree(user)
    counts = {kind: 0 for kind in ORG_POLICY_KINDS}
    for kind in Policy.objects.present().filter(kind__in=ORG_POLICY_KINDS).values_list("kind", flat=True):
        counts[kind] += 1
    tree.policy_counts = {"scp": counts[PolicyKind.SCP], "rcp": counts[PolicyKind.RCP]}
    return tree


def account_for_user(user: Any, account_id: str) -> Account:
    return get_object_for_user_or_404(user, visible_accounts(user).select_related("parent"), account_id=account_id)


def account_chain(user: Any, account_id: str) -> Chain:
    return chain_for(account_for_user(user, account_id))


def org_policies(*, kind: str | None = None) -> list[Policy]:
    """Every present SCP and RCP, by kind then name (an organization has at most a few thousand)."""
    policies = Policy.objects.present().filter(kind__in=ORG_POLICY_KINDS)
    if kind:
        policies = policies.filter(kind=kind)
    return list(policies.order_by("kind", "name", "id"))
