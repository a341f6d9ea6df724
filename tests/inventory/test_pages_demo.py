"""The inventory pages over the demo organization synced from the emulator, as its personas see it.

One sync per test (the database is rolled back between tests); the emulator's demo organization
is built once per session by the `demo_org` fixture.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.inventory.models import Account, Entitlement, EntitlementVia, Principal, PrincipalKind, SyncStatus
from governance.inventory.sync import sync_organization
from tests.fixtures.personas import fresh_mfa_session, make_persona_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced_demo(demo_org):
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    return demo_org


def _client(key: str):
    from django.test import Client

    client = Client()
    client.force_login(make_persona_user(key), backend="allauth.account.auth_backends.AuthenticationBackend")
    fresh_mfa_session(client, subject=key)
    return client


def test_an_auditor_browses_the_demo_organization(synced_demo):
    client = _client("auditor")
    tree = client.get(reverse("inventory:org_tree")).content.decode()
    for name in synced_demo.accounts:
        assert name in tree
    for ou_path, ou_id in synced_demo.ous.items():  # keyed by path, e.g. "Workloads/Prod"
        assert f'<bdi class="inv-name">{ou_path.rsplit("/", 1)[-1]}</bdi>' in tree
        assert ou_id in tree
    assert "SCP <bdi>" in tree

    entitlement = (
        Entitlement.objects.present()
        .filter(principal__kind=PrincipalKind.IAM_USER, via=EntitlementVia.GROUP)
        .select_related("principal__account", "via_group")
        .first()
    )
    assert entitlement is not None
    account_page = client.get(reverse("inventory:account", args=[entitlement.principal.account.account_id]))
    assert account_page.status_code == 200
    assert "Password policy" in account_page.content.decode()
    principal_page = client.get(reverse("inventory:principal", args=[entitlement.principal_id])).content.decode()
    assert entitlement.policy.name in principal_page
    assert f"<bdi>{entitlement.via_group.name}</bdi>" in principal_page

    role = Principal.objects.present().filter(kind=PrincipalKind.IAM_ROLE).exclude(trust_policy=None).first()
    assert "Trust policy" in client.get(reverse("inventory:principal", args=[role.pk])).content.decode()

    sync_page = client.get(reverse("inventory:sync")).content.decode()
    assert "Succeeded" in sync_page and "No sync is running." in sync_page


def test_a_manager_sees_only_the_demo_accounts_they_own(synced_demo):
    client = _client("manager")
    owned = set(synced_demo.accounts_owned_by("maria.manager@example.com"))
    assert owned
    tree = client.get(reverse("inventory:org_tree")).content.decode()
    for name, account_id in synced_demo.accounts.items():
        if name in owned:
            assert client.get(reverse("inventory:account", args=[account_id])).status_code == 200
            assert account_id in tree
        else:
            assert client.get(reverse("inventory:account", args=[account_id])).status_code == 404
            assert f'<code class="muted">{account_id}</code>' not in tree
    assert Account.objects.count() == len(synced_demo.accounts)
