"""The SCP admin pages browse change requests and revisions; they cannot approve, apply, edit or
delete anything, not for a second policy admin and not for a break-glass administrator."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from governance.scp.admin import ChangeRequestAdmin, PolicyRevisionAdmin
from governance.scp.models import ChangeKind, ChangeRequest, PolicyRevision

pytestmark = pytest.mark.django_db

CHANGES = "/admin/scp/changerequest/"


@pytest.fixture
def changes(personas) -> dict[str, ChangeRequest]:
    paula, peter = personas["policy_admin"], personas["policy_admin_2"]
    common = {"kind": ChangeKind.UPDATE, "aws_policy_id": "p-abcd1234", "author": paula, "author_name": "Paula"}
    pending = ChangeRequest.objects.create(name="DenyLeave", reason="Tighten (SEC-1).", status="pending", **common)
    approved = ChangeRequest.objects.create(
        name="DenyRegions", reason="Regions (SEC-2).", status="approved", approved_by=peter, **common
    )
    applied = ChangeRequest.objects.create(
        name="DenyRoot",
        reason="Root (SEC-3).",
        status="applied",
        approved_by=peter,
        applied_by=peter,
        applied_at=timezone.now(),
        aws_request_id="req-0f0f0f0f",
        **common,
    )
    PolicyRevision.objects.create(
        aws_policy_id="p-abcd1234", name="DenyRoot", document={}, change=applied, created_at=timezone.now()
    )
    return {"pending": pending, "approved": approved, "applied": applied}


@pytest.fixture
def break_glass_client(client, django_user_model):
    """Every capability there is (break-glass), without a synced organization."""
    user = django_user_model.objects.create(
        username="break-glass:root@example.com", break_glass_until=timezone.now() + dt.timedelta(hours=1)
    )
    client.force_login(user)
    with override_settings(BREAK_GLASS_ENABLED=True):
        yield client


def _change_form(change: ChangeRequest, **overrides) -> dict:
    data = {"status": change.status, "name": change.name, "reason": change.reason, "kind": change.kind}
    return {**data, **overrides}


def test_it_is_registered_read_only():
    for model, model_admin in ((ChangeRequest, ChangeRequestAdmin), (PolicyRevision, PolicyRevisionAdmin)):
        assert isinstance(admin.site._registry[model], model_admin)
        registered = admin.site._registry[model]
        assert registered.show_full_result_count is False
        assert registered.actions is None


def test_it_lists_filters_and_searches_requests(persona_client, changes, django_assert_max_num_queries):
    client = persona_client("policy_admin_2")
    with django_assert_max_num_queries(30):
        page = client.get(CHANGES).content.decode()
    assert all(name in page for name in ("DenyLeave", "DenyRegions", "DenyRoot"))

    filtered = client.get(CHANGES, {"status__exact": "approved"}).content.decode()
    assert "DenyRegions" in filtered and "DenyLeave" not in filtered and "DenyRoot" not in filtered

    by_request_id = client.get(CHANGES, {"q": "req-0f0f0f0f"}).content.decode()
    assert "DenyRoot" in by_request_id and "DenyRegions" not in by_request_id
    assert client.get(CHANGES, {"q": "not-a-number"}).status_code == 200


def test_its_list_does_not_grow_queries_with_rows(persona_client, changes, personas, django_assert_num_queries):
    client = persona_client("policy_admin_2")
    client.get(CHANGES)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(CHANGES)
    for n in range(10):
        ChangeRequest.objects.create(
            kind=ChangeKind.ATTACH,
            name=f"More{n}",
            reason="r",
            author=personas["policy_admin"],
            author_name="Paula",
            approved_by=personas["policy_admin_2"],
        )
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(CHANGES)


def test_the_detail_page_shows_everything_and_links_to_the_portal(persona_client, changes):
    change = changes["applied"]
    page = persona_client("policy_admin").get(f"{CHANGES}{change.pk}/change/").content.decode()
    assert f'href="{reverse("scp:change", args=[change.pk])}"' in page
    assert "req-0f0f0f0f" in page and "SEC-3" in page
    assert 'name="_save"' not in page and 'name="reason"' not in page


@pytest.mark.parametrize("state", ["pending", "approved", "applied"])
@pytest.mark.parametrize("who", ["policy_admin_2", "break_glass"])
def test_the_admin_cannot_approve_or_apply_a_request(persona_client, break_glass_client, changes, state, who):
    client = break_glass_client if who == "break_glass" else persona_client(who)
    change = changes[state]
    before = ChangeRequest.objects.filter(pk=change.pk).values().get()
    url = f"{CHANGES}{change.pk}/change/"

    for target in ("approved", "applied", "applying"):
        response = client.post(url, _change_form(change, status=target, approved_by="", applied_by=""))
        assert response.status_code == 403
    response = client.post(CHANGES, {"action": "approve", "_selected_action": [change.pk], "index": "0"})
    assert response.status_code in (200, 302)
    assert client.post(f"{CHANGES}{change.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [change.pk], "post": "yes"}
    assert client.post(CHANGES, bulk_delete).status_code in (200, 302)
    assert client.get(f"{CHANGES}add/").status_code == 403

    assert ChangeRequest.objects.filter(pk=change.pk).values().get() == before
    from governance.audit.models import AuditEvent

    assert not AuditEvent.objects.filter(object_type="scp.changerequest").exists()


def test_revisions_are_read_only_too(persona_client, changes):
    client = persona_client("policy_admin_2")
    revision = PolicyRevision.objects.get()
    page = client.get("/admin/scp/policyrevision/").content.decode()
    assert "DenyRoot" in page
    url = f"/admin/scp/policyrevision/{revision.pk}/change/"
    assert client.post(url, {"name": "Renamed", "document_hash": "x"}).status_code == 403
    assert client.post(f"/admin/scp/policyrevision/{revision.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PolicyRevision.objects.get().name == "DenyRoot"


@pytest.mark.parametrize("key", ["campaign_admin", "auditor", "outsider"])
def test_only_those_who_see_guardrails_and_use_the_admin_browse(persona_client, changes, key):
    assert persona_client(key).get(CHANGES).status_code == 403
