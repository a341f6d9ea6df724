from __future__ import annotations

import pytest
from django.http import Http404
from django.utils import timezone

from governance.authz.capabilities import (
    Capability,
    Role,
    capabilities,
    forget,
    get_object_for_user_or_404,
    visible_accounts,
    visible_principals,
)
from governance.authz.linking import LinkFacts
from governance.authz.models import LinkStatus
from governance.authz.services import link_user
from tests.fixtures.personas import (
    GOVERNANCE_ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    OWNED_ACCOUNT_IDS,
    make_persona_user,
)

pytestmark = pytest.mark.django_db


def test_it_maps_governance_permission_sets_to_roles(personas):
    assert capabilities(personas["auditor"]).roles == {Role.AUDITOR}
    assert capabilities(personas["policy_admin"]).roles == {Role.POLICY_ADMIN}
    assert capabilities(personas["policy_admin_2"]).roles == {Role.POLICY_ADMIN}
    assert capabilities(personas["campaign_admin"]).roles == {Role.CAMPAIGN_ADMIN}
    auditor = capabilities(personas["auditor"])
    assert auditor.has(Capability.INVENTORY_VIEW_ALL) and auditor.has(Capability.EVIDENCE_EXPORT)
    assert not auditor.has(Capability.SCP_APPROVE) and not auditor.has(Capability.ADMIN_ACCESS)
    assert capabilities(personas["policy_admin"]).has_all(Capability.SCP_PROPOSE, Capability.SCP_APPROVE)


def test_it_names_the_assignment_behind_each_role(personas):
    grants = capabilities(personas["auditor"]).grants_for(Capability.AUDIT_VIEW)
    assert [g.detail for g in grants] == [f"GovernanceAuditor on {GOVERNANCE_ACCOUNT_ID} (direct)"]


def test_it_gives_owners_their_tagged_accounts_and_roles_case_insensitively(personas, persona_inventory):
    caps = capabilities(personas["manager"])
    assert caps.roles == {Role.OWNER}
    assert caps.owned_account_ids == set(OWNED_ACCOUNT_IDS)
    assert caps.owned_principal_arns == {persona_inventory.manager_role.arn}
    assert caps.has(Capability.INVENTORY_VIEW) and caps.has(Capability.REVIEWS_REVIEW)
    assert not caps.has(Capability.INVENTORY_VIEW_ALL)


def test_it_grants_jit_rights_from_identity_center_groups(personas):
    assert capabilities(personas["requester"]).capabilities == {Capability.JIT_REQUEST}
    assert capabilities(personas["approver"]).capabilities == {Capability.JIT_APPROVE}


def test_it_gives_the_outsider_nothing(personas):
    caps = capabilities(personas["outsider"])
    assert not caps.capabilities and not caps.roles and not caps.is_linked
    assert personas["outsider"].identity_link.status == LinkStatus.MISSING


def test_it_ignores_assignments_on_other_accounts(personas, persona_inventory):
    from governance.inventory.models import AccountAssignment

    assignment = persona_inventory.assignments[("auditor", "GovernanceAuditor")]
    AccountAssignment.objects.filter(pk=assignment.pk).update(aws_account_id=OTHER_ACCOUNT_ID)
    assert capabilities(personas["auditor"]).roles == set()


def test_it_follows_the_governance_account_setting(personas, settings):
    settings.AWS_GOVERNANCE_ACCOUNT_ID = OTHER_ACCOUNT_ID
    assert capabilities(personas["auditor"]).roles == set()


def test_it_grants_roles_through_an_assigned_group(personas, persona_inventory):
    from governance.inventory.models import AccountAssignment

    inv = persona_inventory
    group = inv.sso_groups["jit-requesters"]
    AccountAssignment.objects.create(
        permission_set=inv.permission_sets["GovernanceAuditor"],
        account=inv.governance_account,
        aws_account_id=GOVERNANCE_ACCOUNT_ID,
        principal=group,
        principal_type="GROUP",
        principal_aws_id=group.aws_id,
        key="k" * 32,
        content_hash="h",
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    caps = capabilities(personas["requester"])
    assert caps.roles == {Role.AUDITOR, Role.JIT_REQUESTER}
    assert "through group jit-requesters" in caps.grants_for(Capability.AUDIT_VIEW)[0].detail


def test_it_drops_a_role_whose_assignment_was_removed_in_aws(personas, persona_inventory):
    from governance.inventory.models import AccountAssignment

    assignment = persona_inventory.assignments[("policy_admin", "GovernancePolicyAdmin")]
    AccountAssignment.objects.filter(pk=assignment.pk).update(removed_at=timezone.now())
    assert capabilities(personas["policy_admin"]).roles == set()


def test_it_drops_everything_when_the_identity_center_user_is_removed(personas, persona_inventory):
    from governance.inventory.models import Principal

    Principal.objects.filter(pk=persona_inventory.sso_users["auditor"].pk).update(removed_at=timezone.now())
    assert capabilities(personas["auditor"]).capabilities == set()


def test_it_links_by_email_when_the_user_name_differs(persona_inventory):
    from governance.authz.models import User

    user = User.objects.create(username="some-idp-generated-name", email="ARTHUR.AUDITOR@example.com")
    link = link_user(user=user, facts=LinkFacts(provider="demo", verified_email="arthur.auditor@example.com"))
    assert link.status == LinkStatus.LINKED
    assert link.aws_user_name == "arthur.auditor"


def test_it_links_nothing_when_two_identity_center_users_match(persona_inventory):
    from governance.authz.models import User
    from governance.inventory.models import Principal

    Principal.objects.filter(pk=persona_inventory.sso_users["approver"].pk).update(email="arthur.auditor@EXAMPLE.com")
    user = User.objects.create(username="arthur", email="arthur.auditor@example.com")
    link = link_user(user=user, facts=LinkFacts(provider="demo", verified_email="arthur.auditor@example.com"))
    assert link.status == LinkStatus.AMBIGUOUS
    assert len(link.candidates) == 2
    assert capabilities(user).capabilities == set()


def test_it_audits_a_link_only_when_it_changes(persona_inventory):
    from governance.audit.models import AuditEvent

    user = make_persona_user("auditor")
    link_user(user=user)
    link_user(user=user)
    assert AuditEvent.objects.filter(action="authz.link.changed", object_id=str(user.identity_link.pk)).count() == 1


def test_it_computes_capabilities_once_per_user_object(personas, django_assert_num_queries):
    user = personas["policy_admin"]
    forget(user)
    capabilities(user)
    with django_assert_num_queries(0):
        capabilities(user)
        capabilities(user).has(Capability.SCP_VIEW)


def test_it_scopes_accounts_and_principals(personas, persona_inventory):
    manager_accounts = set(visible_accounts(personas["manager"]).values_list("account_id", flat=True))
    assert manager_accounts == set(OWNED_ACCOUNT_IDS)
    assert visible_accounts(personas["auditor"]).count() == 4
    assert not visible_accounts(personas["outsider"]).exists()
    assert not visible_accounts(personas["requester"]).exists()
    manager_principals = set(visible_principals(personas["manager"]).values_list("arn", flat=True))
    assert persona_inventory.manager_role.arn in manager_principals
    assert persona_inventory.other_role.arn not in manager_principals


def test_it_answers_404_for_objects_outside_the_users_reach(personas):
    from governance.inventory.models import Account

    manager = personas["manager"]
    account = get_object_for_user_or_404(manager, Account, account_id=OWNED_ACCOUNT_IDS[0])
    assert account.account_id == OWNED_ACCOUNT_IDS[0]
    with pytest.raises(Http404):
        get_object_for_user_or_404(manager, Account, account_id=OTHER_ACCOUNT_ID)
    with pytest.raises(Http404):
        get_object_for_user_or_404(personas["outsider"], visible_accounts(personas["outsider"]), pk=account.pk)


def test_it_gives_inactive_and_anonymous_users_nothing(personas):
    from django.contrib.auth.models import AnonymousUser

    auditor = personas["auditor"]
    auditor.is_active = False
    forget(auditor)
    assert not capabilities(auditor).capabilities
    assert not capabilities(AnonymousUser()).capabilities


def test_it_computes_capabilities_in_a_fixed_number_of_queries(personas, django_assert_max_num_queries):
    for key in ("manager", "policy_admin", "requester", "outsider"):
        user = personas[key]
        forget(user)
        with django_assert_max_num_queries(7):
            capabilities(user)


def _finished_sync():
    from governance.inventory.models import SyncRun, SyncStatus

    now = timezone.now()
    return SyncRun.objects.create(started_at=now, finished_at=now, status=SyncStatus.SUCCEEDED)


def test_it_relinks_an_unlinked_user_after_the_next_sync(personas, persona_inventory):
    from governance.audit.models import AuditEvent
    from governance.inventory.models import Principal, PrincipalKind

    outsider = personas["outsider"]
    Principal.objects.create(
        kind=PrincipalKind.SSO_USER,
        account=persona_inventory.governance_account,
        arn="arn:aws:identitystore:::user/u-oscar",
        name="oscar.outsider",
        user_name="oscar.outsider",
        email="oscar.outsider@example.com",
        key="o" * 32,
        content_hash="h",
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    forget(outsider)
    assert not capabilities(outsider).is_linked, "not before a sync has finished"

    _finished_sync()
    forget(outsider)
    assert capabilities(outsider).identity_center_user_name == "oscar.outsider"
    outsider.identity_link.refresh_from_db()
    assert outsider.identity_link.status == LinkStatus.LINKED
    event = AuditEvent.objects.filter(action="authz.link.changed").order_by("-sequence").first()
    assert event.actor_id is None and event.after["status"] == LinkStatus.LINKED


def test_it_does_not_relink_a_user_whose_link_is_newer_than_the_last_sync(personas, django_assert_max_num_queries):
    _finished_sync()
    outsider = personas["outsider"]
    link_user(user=outsider)
    forget(outsider)
    with django_assert_max_num_queries(4):
        capabilities(outsider)
