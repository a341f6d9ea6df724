"""The demo's just-in-time eligibility, seeded after the demo's first sync (`manage.py demo_jit`).

So that a requester can ask for temporary access as soon as `make run` is up, the demo gets two
policies over what the demo organization holds in AWS (`governance.aws.demo.layout`):

- `demo-workloads`: the members of jit-requesters may request ReadOnlyAccess or AdministratorAccess
  on every workload and sandbox account, for up to four hours, approved by one member of
  jit-approvers; read-only access outside the production OUs approves itself.
- `demo-break-glass`: AdministratorAccess on the production workload accounts for up to an hour,
  self-approved with a justification, everyone told at once and reviewed afterwards.

Both are backed by the campaign admin (carla), whose GovernanceAccessAdmin set lets her create and
delete account assignments: the writer gate evaluates her own AWS permissions at every grant. Her
portal user is prepared as her first login through the demo identity provider would make it (the
same social account, linked to her Identity Center user on the e-mail the IdP vouches for), so that
login finds it. A policy that already exists is left as it is (an administrator may have changed it),
so the seed can run at every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from governance.aws.demo.personas import BY_KEY, JIT_APPROVERS_GROUP, JIT_REQUESTERS_GROUP, Persona
from governance.inventory.models import OrganizationalUnit, PermissionSet, Principal, PrincipalKind
from governance.jit import services
from governance.jit.models import EligibilityPolicy

DEMO_PROVIDER = "demo"  # the demo identity provider's provider id (portal/settings.py)
GRANTOR = BY_KEY["campaign_admin"]
WORKLOADS = "demo-workloads"
BREAK_GLASS = "demo-break-glass"


class DemoSeedError(Exception):
    """The inventory does not hold what the demo organization should (no sync yet, or not the demo)."""


@dataclass(frozen=True)
class SeedResult:
    created: list[str]
    existing: list[str]
    grantor: str

    def summary(self) -> dict[str, Any]:
        return {"created": self.created, "existing": self.existing, "grantor": self.grantor}


def _group(name: str) -> Principal:
    group = Principal.objects.present().filter(kind=PrincipalKind.SSO_GROUP, name=name).first()
    if group is None:
        raise DemoSeedError(f"No Identity Center group {name} in the inventory: run the demo's sync first.")
    return group


def _permission_set(name: str) -> PermissionSet:
    found = PermissionSet.objects.present().filter(name=name).first()
    if found is None:
        raise DemoSeedError(f"No permission set {name} in the inventory: run the demo's sync first.")
    return found


def _unit(*names: str) -> OrganizationalUnit:
    """The OU at this path of names from the root (e.g. "Workloads", "Prod")."""
    unit = OrganizationalUnit.objects.present().filter(is_root=True).first()
    for name in names:
        unit = None if unit is None else OrganizationalUnit.objects.present().filter(parent=unit, name=name).first()
    if unit is None:
        raise DemoSeedError(f"No OU {'/'.join(names)} in the inventory: run the demo's sync first.")
    return unit


def demo_user(persona: Persona) -> Any:
    """The persona's portal user, as their first login through the demo IdP makes it (or finds it)."""
    from allauth.socialaccount.models import SocialAccount

    from governance.authz.linking import LinkFacts
    from governance.authz.services import link_user

    account = SocialAccount.objects.filter(provider=DEMO_PROVIDER, uid=persona.user_name).select_related("user").first()
    if account is not None:
        return account.user
    user = get_user_model().objects.filter(username=persona.user_name).first()
    if user is None:
        user = get_user_model()(
            username=persona.user_name,
            email=persona.email,
            first_name=persona.given_name,
            last_name=persona.family_name,
        )
        user.set_unusable_password()
        user.save()
    SocialAccount.objects.create(user=user, provider=DEMO_PROVIDER, uid=persona.user_name, extra_data={})
    link_user(user=user, facts=LinkFacts(provider=DEMO_PROVIDER, verified_email=persona.email))
    return user


@transaction.atomic
def seed(*, actor: Any = None) -> SeedResult:
    """The demo's eligibility policies, created once; idempotent."""
    from governance.aws.emulator import is_loopback_url

    if settings.PRODUCTION or not is_loopback_url(settings.AWS_ENDPOINT_URL or ""):
        raise DemoSeedError(
            "The demo's eligibility is seeded only beside the local AWS emulator (AWS_ENDPOINT_URL on loopback), "
            "never in production."
        )
    requesters, approvers = _group(JIT_REQUESTERS_GROUP), _group(JIT_APPROVERS_GROUP)
    read_only, admin = _permission_set("ReadOnlyAccess"), _permission_set("AdministratorAccess")
    workloads, production, sandbox = _unit("Workloads"), _unit("Workloads", "Prod"), _unit("Sandbox")
    grantor = demo_user(GRANTOR)
    wanted = {
        WORKLOADS: {
            "description": "Temporary access to the workload and sandbox accounts, approved by jit-approvers.",
            "requester_group": requesters,
            "approver_group": approvers,
            "permission_sets": [read_only, admin],
            "units": [workloads, sandbox],
            "max_duration_minutes": 240,
            "approvals_required": 1,
            "auto_approve_permission_sets": [read_only],
            "auto_approve_except_units": [production],
        },
        BREAK_GLASS: {
            "description": (
                "Emergency administrator access to production: self-approved, everyone told, reviewed afterwards."
            ),
            "requester_group": requesters,
            "approver_group": approvers,
            "permission_sets": [admin],
            "units": [production],
            "max_duration_minutes": 60,
            "break_glass": True,
        },
    }
    existing = set(EligibilityPolicy.objects.filter(name__in=wanted).values_list("name", flat=True))
    created = []
    for name, fields in wanted.items():
        if name in existing:
            continue
        services.create_policy(actor=actor, grantor=grantor, name=name, **fields)
        created.append(name)
    return SeedResult(created=created, existing=sorted(existing), grantor=grantor.get_username())
