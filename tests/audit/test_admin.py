from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.audit.services import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    """A break-glass administrator: every capability, without needing a synced AWS organization."""
    admin_user = django_user_model.objects.create(
        username="break-glass:root@example.com", break_glass_until=timezone.now() + dt.timedelta(hours=1)
    )
    client.force_login(admin_user)
    with override_settings(BREAK_GLASS_ENABLED=True):
        yield client


@pytest.fixture
def events(alice):
    return [
        record(actor=alice, action="test.alpha", object_type="t", object_id="obj-1", request_id="req-aaaaaaaa"),
        record(actor=None, action="test.beta", object_type="t", object_id="obj-2", request_id="req-bbbbbbbb"),
    ]


def test_it_lists_events_without_an_exact_total(admin_client, events):
    response = admin_client.get(reverse("admin:audit_auditevent_changelist"))

    assert response.status_code == 200
    assert b"test.alpha" in response.content
    assert b"test.beta" in response.content
    assert response.context["cl"].show_full_result_count is False


def test_it_is_registered_read_only_on_the_admin_site():
    from django.contrib import admin

    from governance.audit.admin import AuditEventAdmin

    assert isinstance(admin.site._registry[AuditEvent], AuditEventAdmin)
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    assert model_admin.show_full_result_count is False
    assert not model_admin.has_add_permission(None)
    assert not model_admin.has_change_permission(None)
    assert not model_admin.has_delete_permission(None)


def test_it_searches_by_exact_request_id_and_sequence(admin_client, events):
    url = reverse("admin:audit_auditevent_changelist")

    by_request = admin_client.get(url, {"q": "req-bbbbbbbb"})
    by_sequence = admin_client.get(url, {"q": "1"})
    by_fragment = admin_client.get(url, {"q": "req-"})

    assert [e.action for e in by_request.context["cl"].result_list] == ["test.beta"]
    assert [e.action for e in by_sequence.context["cl"].result_list] == ["test.alpha"]
    assert [e.action for e in by_fragment.context["cl"].result_list if e.action.startswith("test.")] == []


def test_it_shows_an_event_read_only(admin_client, events):
    url = reverse("admin:audit_auditevent_change", args=[events[0].pk])

    response = admin_client.get(url)
    posted = admin_client.post(url, {"action": "test.forged"})

    assert response.status_code == 200
    assert b"test.alpha" in response.content
    assert b'name="_save"' not in response.content
    assert posted.status_code == 403
    assert AuditEvent.objects.get(pk=events[0].pk).action == "test.alpha"


def test_it_offers_no_add_or_delete(admin_client, events):
    add = admin_client.get(reverse("admin:audit_auditevent_add"))
    delete = admin_client.post(reverse("admin:audit_auditevent_delete", args=[events[0].pk]), {"post": "yes"})
    bulk = admin_client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [events[0].pk], "post": "yes"},
    )

    assert add.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.filter(action__startswith="test.").count() == 2
