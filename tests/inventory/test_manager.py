"""The Identity Center user's manager: read through the enterprise extension, resolved by the sync."""

from __future__ import annotations

import pytest

from governance.aws import session
from governance.aws.readers import identity_center
from governance.aws.readers.identity_center import ENTERPRISE_EXTENSION
from governance.inventory.models import Principal, PrincipalKind
from governance.inventory.sync import sync_organization

pytestmark = pytest.mark.django_db(transaction=False)


def _store():
    session.management_client("organizations").create_organization(FeatureSet="ALL")
    sso = session.management_client("sso-admin")
    store = session.management_client("identitystore")
    return store, sso.list_instances()["Instances"][0]["IdentityStoreId"]


def _user(store, store_id: str, name: str, manager: str = "") -> str:
    extra = {"Extensions": {ENTERPRISE_EXTENSION: {"manager": {"value": manager}}}} if manager else {}
    return store.create_user(
        IdentityStoreId=store_id,
        UserName=name,
        DisplayName=name,
        Name={"GivenName": name, "FamilyName": "X"},
        Emails=[{"Value": f"{name}@example.com", "Primary": True}],
        **extra,
    )["UserId"]


def test_the_emulator_keeps_the_enterprise_extension_and_returns_it_only_when_asked(emulator):
    store, store_id = _store()
    boss = _user(store, store_id, "boss")
    worker = _user(store, store_id, "worker", manager=boss)
    asked = store.describe_user(IdentityStoreId=store_id, UserId=worker, Extensions=[ENTERPRISE_EXTENSION])
    assert asked["Extensions"][ENTERPRISE_EXTENSION]["manager"]["value"] == boss
    assert "Extensions" not in store.describe_user(IdentityStoreId=store_id, UserId=worker)
    listed = {u["UserName"]: u for u in store.list_users(IdentityStoreId=store_id)["Users"]}
    assert "Extensions" not in listed["worker"]


def test_the_reader_reads_each_users_manager(emulator):
    store, store_id = _store()
    boss = _user(store, store_id, "boss")
    _user(store, store_id, "worker", manager=boss)
    users = {u.user_name: u for u in identity_center.read_identity_center().users}
    assert users["worker"].manager_user_id == boss
    assert users["boss"].manager_user_id == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"Extensions": {ENTERPRISE_EXTENSION: {"manager": {"value": "u-1"}}}}, "u-1"),
        ({"Extensions": {ENTERPRISE_EXTENSION: {"manager": "u-2"}}}, "u-2"),
        ({"Extensions": {ENTERPRISE_EXTENSION: {"department": "Sales"}}}, ""),
        ({"Extensions": {ENTERPRISE_EXTENSION: {"manager": {"value": 7}}}}, ""),
        ({}, ""),
    ],
)
def test_the_manager_is_read_from_the_shapes_idps_send(raw, expected):
    assert identity_center._manager(raw) == expected


def test_the_sync_links_each_user_to_their_manager_and_follows_changes(emulator):
    store, store_id = _store()
    boss = _user(store, store_id, "boss")
    _user(store, store_id, "worker", manager=boss)
    _user(store, store_id, "orphan", manager="no-such-user")
    assert not sync_organization().errors
    users = {p.user_name: p for p in Principal.objects.filter(kind=PrincipalKind.SSO_USER)}
    assert users["worker"].manager_id == users["boss"].pk
    assert users["orphan"].manager_user_id == "no-such-user" and users["orphan"].manager_id is None
    assert users["boss"].manager_id is None

    # The boss leaves the identity store: the link goes with them at the next sync.
    store.delete_user(IdentityStoreId=store_id, UserId=boss)
    assert not sync_organization().errors
    worker = Principal.objects.get(kind=PrincipalKind.SSO_USER, user_name="worker")
    assert worker.manager_id is None and worker.manager_user_id == boss


def test_the_demo_organization_gives_people_managers(demo_org):
    assert not sync_organization().errors
    maria = Principal.objects.get(kind=PrincipalKind.SSO_USER, user_name="maria.manager")
    reports = set(maria.reports.values_list("user_name", flat=True))
    assert {"jamie.dev", "lee.dev", "dana.data", "rick.requester"} <= reports
    assert maria.manager.user_name == "priya.platform"
