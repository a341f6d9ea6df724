"""The demo personas: one list that the demo organization, the demo IdP and the tests share.

Each persona's rights come from what `demo_org` creates in AWS for them (Identity Center
permission sets, group memberships, `owner` tags), never from what the demo IdP says.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Persona:
    key: str
    user_name: str
    email: str
    given_name: str
    family_name: str
    role: str
    permission_sets: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    owns_accounts: bool = False
    in_identity_center: bool = True
    extra_claims: dict = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


GOVERNANCE_PERMISSION_SETS = {
    "GovernanceAuditor": "auditor",
    "GovernancePolicyAdmin": "policy_admin",
    "GovernanceAccessAdmin": "campaign_admin",
}
JIT_REQUESTERS_GROUP = "jit-requesters"
JIT_APPROVERS_GROUP = "jit-approvers"

PERSONAS: tuple[Persona, ...] = (
    Persona("manager", "maria.manager", "maria.manager@example.com", "Maria", "Manager", "manager", owns_accounts=True),
    Persona(
        "auditor",
        "arthur.auditor",
        "arthur.auditor@example.com",
        "Arthur",
        "Auditor",
        "auditor",
        ("GovernanceAuditor",),
    ),
    Persona(
        "policy_admin",
        "paula.policy",
        "paula.policy@example.com",
        "Paula",
        "Policy",
        "policy admin",
        ("GovernancePolicyAdmin",),
    ),
    Persona(
        "policy_admin_2",
        "peter.policy",
        "peter.policy@example.com",
        "Peter",
        "Policy",
        "second policy admin",
        ("GovernancePolicyAdmin",),
    ),
    Persona(
        "campaign_admin",
        "carla.campaign",
        "carla.campaign@example.com",
        "Carla",
        "Campaign",
        "campaign admin",
        ("GovernanceAccessAdmin",),
    ),
    Persona(
        "requester",
        "rick.requester",
        "rick.requester@example.com",
        "Rick",
        "Requester",
        "requester",
        groups=(JIT_REQUESTERS_GROUP,),
    ),
    Persona(
        "approver",
        "anna.approver",
        "anna.approver@example.com",
        "Anna",
        "Approver",
        "approver",
        groups=(JIT_APPROVERS_GROUP,),
    ),
    Persona(
        "outsider",
        "oscar.outsider",
        "oscar.outsider@example.com",
        "Oscar",
        "Outsider",
        "outsider",
        in_identity_center=False,
    ),
)

BY_KEY = {p.key: p for p in PERSONAS}
