"""End to end with the emulator: the demo organization, synced, decides every persona's rights.

Removing a permission-set assignment in AWS and syncing removes the capability it gave.
"""

from __future__ import annotations

import pytest

from governance.authz.capabilities import Capability, Role, capabilities, forget
from governance.authz.models import LinkStatus
from governance.authz.services import link_all_users
from governance.aws import session
from governance.aws.demo import personas as demo
from governance.inventory.sync import sync_organization
from tests.fixtures.personas import make_persona_user

pytestmark = pytest.mark.django_db


def _sync():
    run = sync_organization()
    assert not run.errors, run.errors
    link_all_users()


def test_it_derives_every_personas_rights_from_the_synced_demo_org(demo_org, synced_personas):
    synced = demo_org
    users = synced_personas
    roles = {key: capabilities(user).roles for key, user in users.items()}
    assert roles == {
        "manager": {Role.OWNER},
        "auditor": {Role.AUDITOR},
        "policy_admin": {Role.POLICY_ADMIN},
        "policy_admin_2": {Role.POLICY_ADMIN},
        "campaign_admin": {Role.CAMPAIGN_ADMIN},
        "requester": {Role.JIT_REQUESTER},
        "approver": {Role.JIT_APPROVER},
        "outsider": set(),
    }
    manager = capabilities(users["manager"])
    expected = {synced.account_id(name) for name in synced.accounts_owned_by(demo.BY_KEY["manager"].email)}
    assert expected and manager.owned_account_ids >= expected
    assert users["outsider"].identity_link.status == LinkStatus.MISSING


def test_it_shows_the_synced_permission_set_on_my_access(synced_persona_client):
    page = synced_persona_client("campaign_admin").get("/me/").content.decode()
    assert "GovernanceAccessAdmin on " in page and "Run access review campaigns" in page


def test_it_removes_the_capability_when_the_assignment_is_removed_in_aws_and_synced(fresh_demo_org):
    synced = fresh_demo_org
    _sync()
    auditor = make_persona_user("auditor")
    assert capabilities(auditor).has(Capability.AUDIT_VIEW)

    session.management_client("sso-admin").delete_account_assignment(
        InstanceArn=synced.sso_instance_arn,
        TargetId=synced.governance_account_id,
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=synced.permission_sets["GovernanceAuditor"],
        PrincipalType="USER",
        PrincipalId=synced.sso_users[demo.BY_KEY["auditor"].user_name],
    )
    forget(auditor)
    assert capabilities(auditor).has(Capability.AUDIT_VIEW), "nothing changes before the sync"

    _sync()
    forget(auditor)
    assert not capabilities(auditor).capabilities
    assert auditor.identity_link.status == LinkStatus.LINKED, "still the same person, just without the right"


def test_a_user_created_in_identity_center_after_the_sign_in_is_linked_by_the_next_sync(fresh_demo_org):
    """The after-sync step re-links on the stored, verified facts: no second sign-in is needed."""
    from governance.audit.models import AuditEvent
    from governance.authz.linking import LinkFacts
    from governance.authz.models import User
    from governance.authz.services import link_user
    from governance.inventory import after_sync
    from governance.inventory.models import Principal

    synced = fresh_demo_org
    _sync()
    newcomer = User.objects.create(username="nora", email="nora.newcomer@example.com")
    link_user(user=newcomer, facts=LinkFacts(provider="demo", verified_email="Nora.Newcomer@example.com"))
    assert newcomer.identity_link.status == LinkStatus.MISSING

    run = sync_organization()
    assert after_sync.run_steps(run.pk)
    newcomer.identity_link.refresh_from_db()
    assert newcomer.identity_link.status == LinkStatus.MISSING, "a sync that changed nothing links nobody new"

    session.management_client("identitystore").create_user(
        IdentityStoreId=synced.identity_store_id,
        UserName="nora",
        DisplayName="Nora Newcomer",
        Name={"GivenName": "Nora", "FamilyName": "Newcomer"},
        Emails=[{"Value": "nora.newcomer@example.com", "Type": "work", "Primary": True}],
    )
    run = sync_organization()
    assert not run.errors, run.errors
    assert "authz.relink" in after_sync.run_steps(run.pk)
    newcomer.identity_link.refresh_from_db()
    assert newcomer.identity_link.status == LinkStatus.LINKED
    assert Principal.objects.get(arn=newcomer.identity_link.principal_arn).name == "nora"
    events = AuditEvent.objects.filter(action="authz.link.changed", object_id=str(newcomer.identity_link.pk))
    event = events.order_by("pk").last()
    assert event is not None and event.actor_id is None and event.after["status"] == LinkStatus.LINKED
