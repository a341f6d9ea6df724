"""Capabilities, roles and the answer `capabilities(user)` gives: the vocabulary of authorization.

Kept apart from `capabilities.py` (the function that computes the answer) and `selectors.py` (the
inventory reads it is computed from), so both import this and neither imports the other's
importer: the answer's types depend on nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import models


class Capability(models.TextChoices):
    INVENTORY_VIEW = "inventory.view", "See inventory (everything, or only what one owns)"
    INVENTORY_VIEW_ALL = "inventory.view_all", "See the whole inventory"
    SYNC_RUN = "sync.run", "Run an AWS sync"
    AUDIT_VIEW = "audit.view", "Read the audit log"
    FINDINGS_VIEW = "findings.view", "See findings"
    FINDINGS_MANAGE = "findings.manage", "Suppress findings and set the findings baseline"
    SCP_VIEW = "scp.view", "See service control policies"
    SCP_PROPOSE = "scp.propose", "Propose SCP changes"
    SCP_APPROVE = "scp.approve", "Approve and apply SCP changes"
    REVIEWS_ADMIN = "reviews.admin", "Run access review campaigns"
    REVIEWS_REVIEW = "reviews.review", "Decide review items routed to me"
    EVIDENCE_EXPORT = "evidence.export", "Export and verify evidence"
    JIT_REQUEST = "jit.request", "Request just-in-time access"
    JIT_APPROVE = "jit.approve", "Approve just-in-time access"
    JIT_ADMIN = "jit.admin", "Manage just-in-time eligibility and end any grant"
    ADMIN_ACCESS = "admin.access", "Use the governance admin"


class Role(models.TextChoices):
    AUDITOR = "auditor", "Auditor"
    POLICY_ADMIN = "policy_admin", "Policy administrator"
    CAMPAIGN_ADMIN = "campaign_admin", "Campaign administrator"
    OWNER = "owner", "Owner (manager)"
    JIT_REQUESTER = "jit_requester", "JIT requester"
    JIT_APPROVER = "jit_approver", "JIT approver"
    BREAK_GLASS = "break_glass", "Break-glass administrator"


C = Capability
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.AUDITOR: frozenset(
        {C.INVENTORY_VIEW, C.INVENTORY_VIEW_ALL, C.AUDIT_VIEW, C.FINDINGS_VIEW, C.SCP_VIEW, C.EVIDENCE_EXPORT}
    ),
    Role.POLICY_ADMIN: frozenset(
        {
            C.INVENTORY_VIEW,
            C.INVENTORY_VIEW_ALL,
            C.SYNC_RUN,
            C.AUDIT_VIEW,
            C.FINDINGS_VIEW,
            C.FINDINGS_MANAGE,
            C.SCP_VIEW,
            C.SCP_PROPOSE,
            C.SCP_APPROVE,
            C.ADMIN_ACCESS,
        }
    ),
    Role.CAMPAIGN_ADMIN: frozenset(
        {
            C.INVENTORY_VIEW,
            C.INVENTORY_VIEW_ALL,
            C.SYNC_RUN,
            C.AUDIT_VIEW,
            C.FINDINGS_VIEW,
            C.REVIEWS_ADMIN,
            C.EVIDENCE_EXPORT,
            C.JIT_ADMIN,
            C.ADMIN_ACCESS,
        }
    ),
    # An owner approves just-in-time access to their accounts where a policy routes it to the owner tag.
    Role.OWNER: frozenset({C.INVENTORY_VIEW, C.REVIEWS_REVIEW, C.FINDINGS_VIEW, C.JIT_APPROVE}),
    Role.JIT_REQUESTER: frozenset({C.JIT_REQUEST}),
    Role.JIT_APPROVER: frozenset({C.JIT_APPROVE}),
    Role.BREAK_GLASS: frozenset(Capability),
}
del C


@dataclass(frozen=True)
class Grant:
    """Where one role comes from in AWS, for "My access" and for audit trails."""

    role: str
    source: str  # "permission_set", "group" or "owner_tag"
    detail: str  # e.g. "GovernanceAuditor on 111111111111 (direct)", "member of jit-requesters"


@dataclass(frozen=True)
class Capabilities:
    """Everything the portal needs to decide what a user may do, computed once per request."""

    roles: frozenset[str] = frozenset()
    capabilities: frozenset[str] = frozenset()
    owned_account_ids: frozenset[str] = frozenset()
    owned_principal_ids: frozenset[int] = frozenset()
    owned_principal_arns: frozenset[str] = frozenset()
    identity_center_user_arn: str = ""
    identity_center_user_name: str = ""
    identity_center_group_arns: frozenset[str] = frozenset()
    governance_account_id: str = ""
    break_glass: bool = False
    grants: tuple[Grant, ...] = field(default=())

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def has_all(self, *capabilities: str) -> bool:
        return all(c in self.capabilities for c in capabilities)

    def has_any(self, *capabilities: str) -> bool:
        return any(c in self.capabilities for c in capabilities)

    def __contains__(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def is_linked(self) -> bool:
        return bool(self.identity_center_user_arn)

    def owns_account(self, account_id: str) -> bool:
        return account_id in self.owned_account_ids

    def grants_for(self, capability: str) -> list[Grant]:
        """The AWS facts behind a capability (every grant whose role carries it)."""
        return [g for g in self.grants if capability in ROLE_CAPABILITIES.get(g.role, frozenset())]


NOTHING = Capabilities()


def roles_to_capabilities(roles: Iterable[str]) -> frozenset[str]:
    result: set[str] = set()
    for role in roles:
        result.update(str(c) for c in ROLE_CAPABILITIES.get(role, frozenset()))
    return frozenset(result)
