from __future__ import annotations

import pytest
from django.db import IntegrityError
from django.utils import timezone

from governance.inventory.models import (
    Account,
    Organization,
    OrganizationalUnit,
    Policy,
    PolicyKind,
    Principal,
    PrincipalKind,
    ScpAttachment,
    ScpTargetType,
)

pytestmark = pytest.mark.django_db


def _synced(key: str, scope: str = "org") -> dict:
    now = timezone.now()
    return {"key": key, "scope": scope, "content_hash": "h", "first_seen": now, "last_seen": now}


def _org() -> Organization:
    return Organization.objects.create(
        org_id="o-abc",
        arn="arn:aws:organizations::111111111111:organization/o-abc",
        management_account_id="111111111111",
        **_synced("org"),
    )


def test_it_stores_hostile_names_intact():
    org = _org()
    root = OrganizationalUnit.objects.create(
        organization=org, ou_id="r-ab12", arn="arn:root", name="Root", is_root=True, path="r-ab12/", **_synced("r")
    )
    account = Account.objects.create(
        organization=org,
        account_id="222222222222",
        arn="arn:acct",
        name="<script>alert(1)</script> \u202egnp.exe",
        email="a@example.com",
        parent=root,
        **_synced("a"),
    )
    path = "/" + "p" * 510 + "/"
    arn = f"arn:aws:iam::222222222222:user{path}<b>bold</b>"
    Principal.objects.create(
        kind=PrincipalKind.IAM_USER,
        account=account,
        arn=arn,
        name="<b>bold</b>",
        path=path,
        **_synced("p", "iam:222222222222"),
    )
    stored = Principal.objects.get(arn=arn)
    assert stored.path == path and len(stored.path) == 512
    assert Account.objects.get().name == "<script>alert(1)</script> \u202egnp.exe"


def test_it_refuses_an_scp_attachment_with_two_targets():
    org = _org()
    root = OrganizationalUnit.objects.create(
        organization=org, ou_id="r-ab12", arn="arn:root", name="Root", is_root=True, path="r-ab12/", **_synced("r")
    )
    account = Account.objects.create(
        organization=org,
        account_id="222222222222",
        arn="arn:acct",
        name="a",
        email="a@example.com",
        **_synced("a"),
    )
    scp = Policy.objects.create(kind=PolicyKind.SCP, arn="arn:scp", name="scp", organization=org, **_synced("s"))
    with pytest.raises(IntegrityError):
        ScpAttachment.objects.create(
            policy=scp,
            target_type=ScpTargetType.ROOT,
            target_id="r-ab12",
            unit=root,
            account=account,
            **_synced("t"),
        )


def test_present_and_removed_querysets():
    org = _org()
    Policy.objects.create(kind=PolicyKind.SCP, arn="arn:1", name="kept", organization=org, **_synced("1"))
    Policy.objects.create(
        kind=PolicyKind.SCP, arn="arn:2", name="gone", organization=org, removed_at=timezone.now(), **_synced("2")
    )
    assert list(Policy.objects.present().values_list("name", flat=True)) == ["kept"]
    assert list(Policy.objects.removed().values_list("name", flat=True)) == ["gone"]


def test_every_inventory_model_has_a_read_only_admin(rf):
    from django.apps import apps
    from django.contrib import admin
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()
    for model in apps.get_app_config("inventory").get_models():
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, f"{model.__name__} has no admin"
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
